// End to end: the real EnvPool (Chromium, built-in MiniWoB-protocol tasks) behind the OpenEnv server, driven by
// OpenEnvClient over both transports, and the `lfm2-rl serve-env` command as a process.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenEnvClient } from '../lib/env/client.ts';
import { EnvPool } from '../lib/env/env.ts';
import { decodePngToRgb } from '../lib/env/server/png.ts';
import { createServer, type EnvServer } from '../lib/env/server/server.ts';

let pool: EnvPool;
let server: EnvServer;
let url: string;

beforeAll(async () => {
  pool = await EnvPool.launch({});
  server = createServer({ pool, maxSessions: 4 });
  url = await server.listen(0);
});

afterAll(async () => {
  await server?.close();
  await pool?.close();
});

function buttonBid(axtree: string): string {
  const m = axtree.match(/\[(\w+)\] button 'Click Me!'/);
  if (!m) throw new Error(`no Click Me! button in:\n${axtree}`);
  return m[1]!;
}

describe('serve-env with real pages', () => {
  it('plays click-test over WebSocket and HTTP at the same time', async () => {
    const ws = await OpenEnvClient.connect(url, { transport: 'ws' });
    const http = await OpenEnvClient.connect(url, { transport: 'http' });
    try {
      const [a, b] = await Promise.all([
        ws.reset({ task: 'click-test', seed: 42 }),
        http.reset({ task: 'click-test', seed: 42 }),
      ]);
      expect(a.goal).toBe('Click the button.');
      // Same task and seed on two pages: the same observation.
      expect(b.axtree_txt).toBe(a.axtree_txt);
      expect(a.pruned_html).toContain('id="subbtn"');
      const bid = buttonBid(a.axtree_txt);

      const [miss, hit] = await Promise.all([ws.step("click('99999')"), http.step(`click('${bid}')`)]);
      expect(miss.observation.last_action_error).toMatch(/^ValueError: Could not find element with bid "99999"/);
      expect(miss).toMatchObject({ reward: 0, done: false });
      expect(hit).toMatchObject({ reward: 1, done: true });
      expect(hit.info).toMatchObject({ RAW_REWARD_GLOBAL: 1 });

      const done = await ws.step(`click('${bid}')`);
      expect(done).toMatchObject({ reward: 1, done: true });
      expect(await ws.state()).toMatchObject({ task_name: 'click-test', seed: 42, step_count: 2, cum_reward: 1 });
    } finally {
      await Promise.all([ws.close(), http.close()]);
    }
    expect(server.registry.size).toBe(0);
  });

  it('sends real Chromium screenshots that decode, and different seeds differ', async () => {
    const env = await OpenEnvClient.connect(url, { transport: 'ws', screenshot: true });
    try {
      const a = await env.reset({ task: 'enter-text', seed: 1 });
      const img = decodePngToRgb(a.screenshot!);
      expect(img.width).toBeGreaterThan(100);
      expect(img.height).toBeGreaterThan(100);
      // Not a blank image: the page draws text and widgets.
      expect(new Set(img.data).size).toBeGreaterThan(10);
      const b = await env.reset({ task: 'enter-text', seed: 2 });
      expect(b.goal).not.toBe(a.goal);
    } finally {
      await env.close();
    }
  });
});

/** Status of a GET with exactly these headers (fetch would not let a test set Host). */
function statusOf(base: string, path: string, headers: Record<string, string>): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers, setHost: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('lfm2-rl serve-env command', () => {
  it('serves on an ephemeral port and stops cleanly on SIGTERM', async () => {
    const args = ['serve-env', '--port', '0', '--max-sessions', '2', '--step-timeout', '5', '--no-preload', '--no-sandbox'];
    args.push('--allow-origin', 'http://localhost:3000', '--allow-host', 'envhost');
    const proc = spawn(process.execPath, ['bin/lfm2-rl.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    try {
      const base = await new Promise<string>((resolve, reject) => {
        proc.stdout.on('data', (d) => {
          out += d;
          const m = out.match(/server on (http:\/\/127\.0\.0\.1:\d+)/);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`serve-env exited early (${code}): ${out}${err}`)));
      });
      expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'healthy' });
      // --allow-origin and --allow-host reach the server; anything else from a web page is refused.
      const host = new URL(base).host;
      expect(await statusOf(base, '/health', { host, origin: 'http://localhost:3000' })).toBe(200);
      expect(await statusOf(base, '/health', { host, origin: 'http://evil.example.com' })).toBe(403);
      expect(await statusOf(base, '/health', { host: 'envhost:1' })).toBe(200);
      expect(await statusOf(base, '/health', { host: 'evil.example.com' })).toBe(421);
      // A megabyte of action text is answered at once (it used to hold the process for minutes).
      const http = await OpenEnvClient.connect(base, { transport: 'http' });
      await http.reset({ task: 'click-test', seed: 1 });
      const t0 = performance.now();
      const big = await http.step('x'.repeat(1_000_000));
      expect(big.observation.last_action_error).toMatch(/^ValueError: action is 1000000 characters long/);
      expect(performance.now() - t0).toBeLessThan(3000);
      await http.close();
      const env = await OpenEnvClient.connect(base, { transport: 'ws' });
      const obs = await env.reset({ task: 'click-test', seed: 3 });
      expect(obs.goal).toBe('Click the button.');
      // SIGTERM while a client is still connected: the server closes its session and exits 0.
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('serve-env: stopped');
      await env.close();
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  async function failingRun(args: string[]): Promise<string> {
    const proc = spawn(process.execPath, ['bin/lfm2-rl.js', 'serve-env', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    return err;
  }

  it('rejects bad flags and an unknown default task with a clear message', async () => {
    expect(await failingRun(['--max-sessions', 'lots'])).toContain("--max-sessions must be an integer >= 1, got 'lots'");
    expect(await failingRun(['--port', '0', '--task', 'miniwob.nope'])).toContain("default task 'nope' is not one of");
    expect(await failingRun(['--step-timeout', '0'])).toContain("--step-timeout must be a number of seconds >= 0.001, got '0'");
    expect(await failingRun(['--allow-origin', 'http://localhost:3000/app'])).toContain(
      "--allow-origin: allowed origin 'http://localhost:3000/app' must be only scheme, host and port",
    );
    expect(await failingRun(['--allow-host', 'a/b'])).toContain("--allow-host: allowed host 'a/b' is not a host name");
  });
});
