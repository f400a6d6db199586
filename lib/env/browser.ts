// One Chromium process shared by every episode. Episodes get isolated contexts from it; if the process dies, the
// next request launches a new one (and bumps `generation`, which tells episodes their context is gone).
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { within } from './deadline.ts';

/** Debian's package path, used when CHROMIUM_PATH is unset. */
const SYSTEM_CHROMIUM = '/usr/bin/chromium';

function playwrightChromium(): string | undefined {
  const root = process.env.PLAYWRIGHT_BROWSERS_PATH || join(homedir(), '.cache', 'ms-playwright');
  if (!existsSync(root)) return undefined;
  for (const dir of readdirSync(root).filter((d) => d.startsWith('chromium-')).sort().reverse()) {
    for (const sub of ['chrome-linux64', 'chrome-linux']) {
      const exe = join(root, dir, sub, 'chrome');
      if (existsSync(exe)) return exe;
    }
  }
  return undefined;
}

/**
 * Chromium to launch: $CHROMIUM_PATH, /usr/bin/chromium, then a Playwright-managed browser. Throws an Error that says
 * what to install or set when none exists.
 */
export function findChromium(): string {
  const env = process.env.CHROMIUM_PATH;
  if (env) {
    if (!existsSync(env)) throw new Error(`CHROMIUM_PATH is set to '${env}', which does not exist`);
    return env;
  }
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
  const pw = playwrightChromium();
  if (pw) return pw;
  throw new Error(
    "No Chromium found: set CHROMIUM_PATH to a Chromium/Chrome binary, install Debian's 'chromium' package " +
      '(scripts/ensure-chromium.sh does this when run as root), or run `npx playwright install chromium`.',
  );
}

/** Flags for a browser that must work offline, as root, in containers without a GPU. */
export function chromiumArgs(): string[] {
  const args = [
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    // Timers and rendering of background pages must not be throttled: every episode page is "in the background".
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.unshift('--no-sandbox');
  return args;
}

export interface BrowserHostOptions {
  headless?: boolean;
  executablePath?: string;
  /** Extra Chromium command-line flags, after the defaults. */
  extraArgs?: string[];
}

/** OS process id of a browser (via CDP SystemInfo). */
async function browserPid(b: Browser): Promise<number> {
  const cdp = await b.newBrowserCDPSession();
  try {
    type ProcessInfo = { processInfo: Array<{ type: string; id: number }> };
    const info = (await cdp.send('SystemInfo.getProcessInfo')) as ProcessInfo;
    const p = info.processInfo.find((x) => x.type === 'browser');
    if (!p) throw new Error('browser process not reported by SystemInfo.getProcessInfo');
    return p.id;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

export class BrowserHost {
  private current: Browser | undefined;
  /** Process id of `current`, read at launch: a browser that stopped answering cannot be asked for it. */
  private currentPid: number | undefined;
  private launching: Promise<Browser> | undefined;
  private closed = false;
  /** Increments on every launch; a context made under an older generation belongs to a dead browser. */
  generation = 0;
  /** How many times the browser was relaunched after dying. */
  relaunches = 0;

  private constructor(private readonly opts: Required<BrowserHostOptions>) {}

  static async launch(opts: BrowserHostOptions = {}): Promise<BrowserHost> {
    const host = new BrowserHost({
      headless: opts.headless ?? true,
      executablePath: opts.executablePath ?? findChromium(),
      extraArgs: opts.extraArgs ?? [],
    });
    await host.browser();
    return host;
  }

  /** The live browser, launching a new one if the previous process died. */
  async browser(): Promise<Browser> {
    if (this.closed) throw new Error('browser host is closed');
    if (this.current?.isConnected()) return this.current;
    if (!this.launching) {
      const wasRunning = this.generation > 0;
      this.launching = chromium
        .launch({
          executablePath: this.opts.executablePath,
          headless: this.opts.headless,
          args: [...chromiumArgs(), ...this.opts.extraArgs],
        })
        .then(async (b) => {
          const pid = await browserPid(b).catch(() => undefined);
          this.current = b;
          this.currentPid = pid;
          this.generation += 1;
          if (wasRunning) this.relaunches += 1;
          b.on('disconnected', () => {
            if (this.current === b) this.current = undefined;
          });
          return b;
        })
        .catch((e: unknown) => {
          const msg = e instanceof Error ? e.message : String(e);
          throw new Error(`could not launch Chromium at ${this.opts.executablePath}: ${msg.split('\n')[0]}`);
        })
        .finally(() => {
          this.launching = undefined;
        });
    }
    return this.launching;
  }

  /** A fresh isolated context on the live browser, with the generation it belongs to. */
  async newContext(
    options: Parameters<Browser['newContext']>[0],
  ): Promise<{ context: BrowserContext; generation: number }> {
    const b = await this.browser();
    return { context: await b.newContext(options), generation: this.generation };
  }

  isAlive(generation: number): boolean {
    return generation === this.generation && this.current?.isConnected() === true;
  }

  /** OS process id of the browser (via CDP SystemInfo), e.g. to supervise or kill it. */
  async pid(): Promise<number> {
    return browserPid(await this.browser());
  }

  /** Page targets and renderer processes alive in the browser, as Chromium counts them (for leak checks). */
  async liveTargets(): Promise<{ pages: number; renderers: number }> {
    const b = await this.browser();
    const cdp = await b.newBrowserCDPSession();
    try {
      const targets = (await cdp.send('Target.getTargets')) as { targetInfos: Array<{ type: string }> };
      const procs = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: Array<{ type: string }> };
      return {
        pages: targets.targetInfos.filter((t) => t.type === 'page').length,
        renderers: procs.processInfo.filter((p) => p.type === 'renderer').length,
      };
    } finally {
      await cdp.detach().catch(() => undefined);
    }
  }

  /**
   * Kills the browser process outright: the last resort when it cannot even close a page, since a page it keeps
   * alive would never be freed. Every episode on it sees its page lost; the next request launches a new browser.
   */
  async kill(): Promise<void> {
    const b = this.current;
    const pid = this.currentPid;
    if (!b) return;
    this.current = undefined;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await within(b.close(), 5000);
  }

  async close(): Promise<void> {
    this.closed = true;
    const b = this.current ?? (await this.launching?.catch(() => undefined));
    this.current = undefined;
    await b?.close().catch(() => undefined);
  }
}
