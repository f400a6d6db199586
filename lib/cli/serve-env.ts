// `lfm2-rl serve-env`: runs the browser environment as an OpenEnv BrowserGym server (HTTP + WebSocket /ws), so
// OpenEnv/TRL clients and remote trainers can use it. Defaults follow OpenEnv's environment variables.
import { parseArgs } from 'node:util';
import { createServer, type EnvServer } from '../env/server/server.ts';
import { normaliseAllowedHost, normaliseOrigin } from '../env/server/request-guard.ts';
import { normaliseTaskName, parseScreenshotFlag } from '../env/server/validate.ts';

export const summary = 'serve the browser environment over the OpenEnv protocol (HTTP + WebSocket)';

const USAGE = `usage: lfm2-rl serve-env [options]
  --port P            port to listen on (default $BROWSERGYM_PORT or 8000; 0 = any free port)
  --host H            address to bind (default 127.0.0.1; use 0.0.0.0 only on a trusted network)
  --miniwob-url U     base URL of a real MiniWoB++ checkout (default $MINIWOB_URL; unset = built-in tasks)
  --max-sessions N    sessions (pages) alive at once (default $MAX_CONCURRENT_ENVS or 16)
  --task NAME         task of a reset without task_name (default $BROWSERGYM_TASK_NAME or click-test)
  --max-steps N       steps per episode before truncation (default 10, BrowserGym's MiniWoB benchmark)
  --max-body-bytes N  largest request body / WebSocket message (default 1048576)
  --screenshot F      screenshots for sessions that do not ask: none, array (OpenEnv lists), png (default none)
  --no-pruned-html    skip pruned_html (saves a DOM snapshot per step)
  --no-preload        real MiniWoB++ tasks that do not reset in place: load the task page at each reset instead of
                      ahead of it (one page per session instead of two)
  --headless          run Chromium headless (default)
  --headed            show the browser window
  --no-sandbox        run Chromium without its sandbox, for containers whose seccomp profile forbids the user
                      namespaces it needs (the container is then the isolation; as root it always runs without)
  --idle-timeout S    close HTTP sessions unused for S seconds (default 900; 0 = never)
  --step-timeout S    deadline of each reset/step/observe in seconds (default 30); a page that overruns it and
                      does not recover is closed and replaced, and the episode is truncated
  --allow-origin O    let web pages at origin O (e.g. http://localhost:3000) call the server; repeatable
                      (default: none, requests with any other Origin header get 403)
  --allow-host H      accept Host header H ('name' or 'name:port') besides localhost, 127.0.0.1, [::1] and the
                      bound address, e.g. a container's service name; repeatable (others get 421)`;

function positiveInt(name: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

/** A positive number of seconds (fractions allowed) as whole milliseconds. */
function secondsAsMs(name: string, v: string | undefined, fallbackSeconds: number): number {
  if (v === undefined || v === '') return fallbackSeconds * 1000;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.001) throw new Error(`${name} must be a number of seconds >= 0.001, got '${v}'`);
  return Math.round(n * 1000);
}

function withFlag<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'miniwob-url': { type: 'string' },
      'max-sessions': { type: 'string' },
      task: { type: 'string' },
      'max-steps': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      screenshot: { type: 'string', default: 'none' },
      'no-pruned-html': { type: 'boolean', default: false },
      'no-preload': { type: 'boolean', default: false },
      headless: { type: 'boolean', default: false },
      headed: { type: 'boolean', default: false },
      'no-sandbox': { type: 'boolean', default: false },
      'idle-timeout': { type: 'string' },
      'step-timeout': { type: 'string' },
      'allow-origin': { type: 'string', multiple: true, default: [] },
      'allow-host': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.headless && values.headed) throw new Error('--headless and --headed contradict each other');
  const env = process.env;
  const port = positiveInt('--port', values.port ?? env.BROWSERGYM_PORT, 8000, 0);
  if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
  const maxSessions = positiveInt('--max-sessions', values['max-sessions'] ?? env.MAX_CONCURRENT_ENVS, 16);
  const maxSteps = positiveInt('--max-steps', values['max-steps'], 10);
  const maxBodyBytes = positiveInt('--max-body-bytes', values['max-body-bytes'], 1 << 20, 1024);
  const idleSeconds = positiveInt('--idle-timeout', values['idle-timeout'], 900, 0);
  const stepTimeoutMs = secondsAsMs('--step-timeout', values['step-timeout'], 30);
  // Checked before Chromium starts, with the flag's name in the message.
  const allowOrigins = values['allow-origin'].map((o) => withFlag('--allow-origin', () => normaliseOrigin(o)));
  const allowHosts = values['allow-host'].map((h) => withFlag('--allow-host', () => normaliseAllowedHost(h)));
  const screenshot = parseScreenshotFlag(values.screenshot);
  const miniwobUrl = values['miniwob-url'] ?? (env.MINIWOB_URL || undefined);
  const defaultTask = normaliseTaskName(values.task ?? (env.BROWSERGYM_TASK_NAME || 'click-test'));

  const { EnvPool } = await import('../env/env.ts');
  const pool = await EnvPool.launch({
    miniwobUrl,
    headless: !values.headed,
    maxSteps,
    stepTimeoutMs,
    preloadPages: !values['no-preload'],
    chromiumArgs: values['no-sandbox'] ? ['--no-sandbox'] : [],
  });
  let server: EnvServer;
  let url: string;
  try {
    server = createServer({
      pool,
      maxSessions,
      maxBodyBytes,
      defaultTask,
      screenshot,
      idleTimeoutMs: idleSeconds * 1000,
      episodeOptions: { maxSteps, prunedHtml: !values['no-pruned-html'] },
      log: (msg) => console.error(`[serve-env] ${msg}`),
      allowOrigins,
      allowHosts,
    });
    url = await server.listen(port, values.host).catch((err: Error) => {
      throw new Error(`cannot listen on ${values.host}:${port}: ${err.message}`);
    });
  } catch (err) {
    await pool.close();
    throw err;
  }
  const source = miniwobUrl ? `MiniWoB++ at ${miniwobUrl}` : 'built-in tasks';
  console.log(`serve-env: OpenEnv BrowserGym server on ${url} (WebSocket ${url.replace(/^http/, 'ws')}/ws)`);
  console.log(`serve-env: ${source}, ${pool.taskNames().length} tasks, default '${defaultTask}', up to ${maxSessions} sessions`);

  // Graceful shutdown: the first signal drains and closes; a second one exits at once.
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.log(`serve-env: ${signal}, closing sessions`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  await server.close();
  await pool.close();
  console.log('serve-env: stopped');
  return 0;
}
