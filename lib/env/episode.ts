// One episode on one browser page: reset loads a task page (built-in or real MiniWoB++) with BrowserGym's setup,
// step parses and runs an action, waits for the page to settle, validates, and observes. The page and its context
// are reused across resets; if the browser died they are recreated on the relaunched browser. A page that is already
// loaded starts its next episode in place (no reload) where that gives the same page as a fresh load: every built-in
// page, and the real MiniWoB++ pages shown to (lib/env/in-place-tasks.ts).
//
// Every reset, step and observe runs under a deadline (stepTimeoutMs): browser calls cannot be cancelled, and a page
// that spins in a loop or whose input pipeline is stuck would otherwise hold the caller forever. Work that overruns
// is given a moment to finish while the page is probed; a page that does not recover is closed (its renderer
// killed) and replaced by a fresh one, and the step ends the episode with `truncated`.
import { randomInt } from 'node:crypto';
import type { Route } from 'playwright-core';
import { executeAction, actionErrorText, isTimeoutError } from './actions/execute.ts';
import { captureWithTarget } from './capture.ts';
import { parseActions } from './actions/parser.ts';
import type { BrowserHost } from './browser.ts';
import { timeoutError, within } from './deadline.ts';
import { IN_PLACE_REAL_TASKS, type InPlaceTask } from './in-place-tasks.ts';
import {
  goalFromSetup,
  inPlaceSetupExpression,
  loadTaskPage,
  miniwobTaskUrl,
  pageSeedFromEnvSeed,
  setupExpression,
  validateState,
  WOB_STATE_EXPR,
  type WobState,
} from './miniwob.ts';
import {
  evaluateInPage,
  extractPageObservation,
  ObservationReadError,
  PageScriptError,
  type PageObservation,
} from './observation/extract.ts';
import { CLEAR_MARKS_SCRIPT } from './observation/mark.ts';
import { closePageHandle, openPageHandle, type PageHandle } from './page-handle.ts';
import type { EnvOptions, Episode, EpisodeCapture, Observation, ResetOptions, StepResult } from './types.ts';

/** Where built-in task pages come from (lib/env/tasks by default). */
export interface TaskSource {
  /** Origin the pages are routed under, e.g. 'http://miniwob.localhost'; never reaches the network. */
  origin: string;
  names(): string[];
  /** Full HTML document of a task page, undefined for an unknown name. */
  html(name: string): string | undefined;
}

/** Every episode setting, resolved. */
export interface EpisodeConfig {
  miniwobUrl: string | undefined;
  maxSteps: number;
  actionTimeoutMs: number;
  screenshot: boolean;
  prunedHtml: boolean;
  axtreeFlags: boolean;
  viewport: { width: number; height: number };
  /** Several calls in one action string run in order (OpenEnv's default); false = BrowserGym's MiniWoB setting. */
  multiaction: boolean;
  /** Retry timed-out element actions with force (BrowserGym's MiniWoB benchmark does). */
  retryWithForce: boolean;
  /** After an action, wait up to this long for the page's short timers (≤ 1 s delay) to fire. */
  settleMs: number;
  /** Timeout of page loads and task setup. */
  pageTimeoutMs: number;
  /**
   * Start the next episode on the loaded page instead of reloading it (same observation as a fresh load, a fraction
   * of the cost): every built-in task, and the real MiniWoB++ tasks in inPlaceRealTasks.
   */
  inPlaceReset: boolean;
  /**
   * Real MiniWoB++ tasks that reset in place: by default the ones shown to give exactly what a fresh load gives
   * (lib/env/in-place-tasks.ts); any other real task is loaded anew at every reset.
   */
  inPlaceRealTasks: ReadonlyMap<string, InPlaceTask>;
  /**
   * Act without Playwright's waiting when one in-page check shows the target is already actionable (same outcome as
   * the locator call, see actions/execute.ts); false sends every element action through Playwright locators.
   */
  fastActions: boolean;
  /**
   * Deadline of each step and observe (action, settling and observation together), and of each reset (which gets at
   * least twice pageTimeoutMs: a load and a setup). Past it the page is probed and, if it does not recover, replaced.
   */
  stepTimeoutMs: number;
  /** How long work that overran stepTimeoutMs gets to finish, and the page to answer a probe, before it is replaced. */
  stepRecoveryMs: number;
  /**
   * Real MiniWoB++ pages that do not reset in place: after each reset, load the same task page into a second, fresh
   * page in the background, so the next reset of that task only seeds and starts it (the page is exactly a fresh
   * load, loaded earlier). One extra page per episode; false loads at every reset instead.
   */
  preloadPages: boolean;
}

export const DEFAULT_EPISODE_CONFIG: EpisodeConfig = {
  miniwobUrl: undefined,
  maxSteps: 10,
  // BrowserGym uses 500 ms. Here the browser shares a few CPU cores with sampling and training, and a valid click on
  // a busy machine must not turn into a failed action; 2 s only delays actions that are failing anyway.
  actionTimeoutMs: 2000,
  screenshot: false,
  prunedHtml: false,
  axtreeFlags: false,
  viewport: { width: 500, height: 320 },
  multiaction: false,
  retryWithForce: true,
  // BrowserGym sleeps a fixed 500 ms after every action; waiting only while short timers are pending gives the same
  // view of delayed reactions (autocomplete, animations) without paying it on every step.
  settleMs: 500,
  pageTimeoutMs: 5000,
  inPlaceReset: true,
  inPlaceRealTasks: IN_PLACE_REAL_TASKS,
  fastActions: true,
  // Far above a working step (actions time out after 2 s, a forced retry after 2 more, noop waits at most 10 s,
  // settling 0.5 s), so only a page that stopped responding reaches it.
  stepTimeoutMs: 30_000,
  stepRecoveryMs: 1000,
  preloadPages: true,
};

/** Resolves options over defaults and rejects nonsense early with a clear message. */
export function resolveEpisodeConfig(
  base: EpisodeConfig,
  opts: Partial<EpisodeConfig & EnvOptions> = {},
): EpisodeConfig {
  const cfg: EpisodeConfig = { ...base };
  const target = cfg as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && k in cfg) target[k] = v;
  const positiveInt = (name: keyof EpisodeConfig) => {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
    }
  };
  positiveInt('maxSteps');
  positiveInt('actionTimeoutMs');
  positiveInt('pageTimeoutMs');
  positiveInt('stepTimeoutMs');
  positiveInt('stepRecoveryMs');
  if (!(Number.isInteger(cfg.settleMs) && cfg.settleMs >= 0)) {
    throw new RangeError(`settleMs must be an integer ≥ 0, got ${cfg.settleMs}`);
  }
  const tasks: unknown = cfg.inPlaceRealTasks;
  const entryOk = ([t, e]: [unknown, unknown]) => {
    const { at, page } = (e ?? {}) as Partial<InPlaceTask>;
    const pointOk = at === 'loaded' || at === 'started';
    return typeof t === 'string' && pointOk && (page === undefined || typeof page === 'string');
  };
  if (!(tasks instanceof Map) || ![...tasks].every(entryOk)) {
    throw new TypeError("inPlaceRealTasks must be a Map of task name → { at: 'loaded' | 'started', page?: string }");
  }
  if (cfg.miniwobUrl !== undefined && !/^(file|https?):\/\//.test(cfg.miniwobUrl)) {
    throw new RangeError(`miniwobUrl must be a file://, http:// or https:// URL, got '${cfg.miniwobUrl}'`);
  }
  return cfg;
}

/** Timers with a delay up to this are "the page is still reacting" (autocomplete, animations); longer ones are not. */
const SETTLE_TIMER_MAX_DELAY_MS = 1000;

/** Intervals this fast drive animations (jQuery's runs every 13 ms); slower ones are the page's clocks and tickers. */
const ANIMATION_INTERVAL_MAX_MS = 50;

/**
 * Counts the page's pending short setTimeouts, so a step can wait for the page to finish reacting, and keeps every
 * live timeout, interval and animation frame of the page, so an in-place reset can cancel what the last episode left
 * running. Timers the page armed while loading (before the setup calls __envKeepPageTimers), and any armed later from
 * their callbacks, belong to the page itself: a fresh load has them too, so a reset leaves them running.
 */
const TIMER_TRACKER = `(() => {
  const pending = new Set(), live = new Set(), frames = new Set(), own = new Set(), ownFrames = new Set();
  const animating = new Set();
  let loading = true, inOwn = false;
  const st = window.setTimeout, ct = window.clearTimeout, si = window.setInterval;
  const raf = window.requestAnimationFrame, caf = window.cancelAnimationFrame;
  // Runs a callback with inOwn telling whether its timer belongs to the page itself.
  const tagged = (fn, isOwn) => function () {
    const outer = inOwn;
    inOwn = isOwn;
    try { return fn.apply(this, arguments); } finally { inOwn = outer; }
  };
  window.setTimeout = function (fn, delay, ...rest) {
    if (typeof fn !== 'function') return st.call(window, fn, delay, ...rest);
    const isOwn = loading || inOwn;
    const run = tagged(fn, isOwn);
    const id = st.call(window, function () {
      pending.delete(id); live.delete(id); own.delete(id); return run.apply(this, arguments);
    }, delay, ...rest);
    live.add(id);
    if (isOwn) own.add(id);
    if (Number(delay ?? 0) <= ${SETTLE_TIMER_MAX_DELAY_MS}) pending.add(id);
    return id;
  };
  // Timeouts and intervals share one id space: either clear function cancels either kind.
  window.clearTimeout = window.clearInterval = function (id) {
    pending.delete(id); live.delete(id); own.delete(id); animating.delete(id); return ct.call(window, id);
  };
  window.setInterval = function (fn, delay, ...rest) {
    const isOwn = loading || inOwn;
    const id = si.call(window, typeof fn === 'function' ? tagged(fn, isOwn) : fn, delay, ...rest);
    live.add(id);
    if (isOwn) own.add(id);
    if (Number(delay ?? 0) <= ${ANIMATION_INTERVAL_MAX_MS}) animating.add(id);
    return id;
  };
  window.requestAnimationFrame = function (fn) {
    const isOwn = loading || inOwn;
    const run = tagged(fn, isOwn);
    const id = raf.call(window, function (t) { frames.delete(id); ownFrames.delete(id); return run(t); });
    frames.add(id);
    if (isOwn) ownFrames.add(id);
    return id;
  };
  window.cancelAnimationFrame = function (id) { frames.delete(id); ownFrames.delete(id); return caf.call(window, id); };
  Object.defineProperty(window, '__envPendingTimers', { get: () => pending.size });
  // Intervals and long timeouts alive: what a reset must not leave behind (short timeouts come and go within a step).
  Object.defineProperty(window, '__envLongTimers', { get: () => live.size - pending.size });
  // The last episode's short timeouts, animation frames or animation intervals still run. Cancelling them half-way
  // would leave the libraries that armed them believing they still run (jQuery then never animates again), so an
  // in-place reset waits for them to end.
  Object.defineProperty(window, '__envEpisodeBusy', { get: () => {
    for (const id of pending) if (!own.has(id)) return true;
    for (const id of frames) if (!ownFrames.has(id)) return true;
    for (const id of animating) if (!own.has(id)) return true;
    return false;
  } });
  // Harness code waits with the untracked original so its own waiting never counts as page activity.
  Object.defineProperty(window, '__envRawSetTimeout', { value: st.bind(window) });
  Object.defineProperty(window, '__envKeepPageTimers', { value: () => { loading = false; } });
  Object.defineProperty(window, '__envClearPageTimers', { value: () => {
    for (const id of live) {
      if (!own.has(id)) { ct.call(window, id); live.delete(id); pending.delete(id); animating.delete(id); }
    }
    for (const id of frames) if (!ownFrames.has(id)) { caf.call(window, id); frames.delete(id); }
  } });
})();`;

/** Longest wait for a replay screenshot: a page too busy to paint is not worth holding the episode for. */
const CAPTURE_TIMEOUT_MS = 5000;

/** Bound on each stage of closing a page (context, then the page target); past both the browser is killed. */
const CLOSE_TIMEOUT_MS = 5000;

/** Longest wait for Chromium to move focus off an element the action just hid. */
const FOCUS_FIXUP_MAX_MS = 100;

/**
 * In-page: wait (bounded) until no short timer is pending, then read the WOB_* globals. When the focused element is
 * no longer rendered (an action hid it), Chromium moves focus to the body in a task of its own a moment later; wait
 * for that too, so the observation does not depend on whether that task already ran (BrowserGym's 0.5 s sleep always
 * lets it run). Synchronous when neither applies (the common case), so the observation reads can go out in the
 * same round trip.
 */
function settleAndReadState(settleMs: number): string {
  return `(() => {
  const hiddenFocus = () => {
    const a = document.activeElement;
    return !!a && a !== document.body && a !== document.documentElement && a.getClientRects().length === 0;
  };
  if (!(window.__envPendingTimers > 0 && ${settleMs} > 0) && !hiddenFocus()) return ${WOB_STATE_EXPR};
  const wait = window.__envRawSetTimeout || setTimeout;
  const t0 = Date.now();
  return (async () => {
    while (window.__envPendingTimers > 0 && Date.now() - t0 < ${settleMs}) await new Promise((r) => wait(r, 5));
    const t1 = Date.now();
    while (hiddenFocus() && Date.now() - t1 < ${FOCUS_FIXUP_MAX_MS}) await new Promise((r) => wait(r, 0));
    return ${WOB_STATE_EXPR};
  })();
})()`;
}

const TARGET_GONE = new RegExp(
  'Target (page, context or browser )?(has been )?closed|Browser has been closed|browser has disconnected|' +
    'Target crashed|Page crashed|Session closed',
  'i',
);

/** Errors that mean the page or browser is gone rather than a bad action. */
function isTargetGone(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return TARGET_GONE.test(m);
}

export class BrowserEpisode implements Episode {
  /** The current page; undefined before the first reset, after a recycle (until reopened) and after close. */
  private handle: PageHandle | undefined;
  /** A page being opened; concurrent callers share it, so no second context is ever made. */
  private opening: Promise<PageHandle> | undefined;
  /** A fresh page loading (or loaded) with a real MiniWoB++ task page for the next reset (preloadPages). */
  private spare: { url: string; ready: Promise<PageHandle | undefined> } | undefined;
  private task = '';
  private taskUrl = '';
  /** Real task pages that turned out not to be the ones shown to reset in place: loaded at every reset. */
  private readonly reloadOnly = new Set<string>();
  private loads = 0;
  private preloadedLoads = 0;
  private recycles = 0;
  private goal = '';
  private steps = 0;
  private lastAction = '';
  private lastError = '';
  private chat: string[] = [];
  private lastObservation: Observation | undefined;
  private closed = false;

  constructor(
    private readonly host: BrowserHost,
    private readonly tasks: TaskSource,
    readonly config: EpisodeConfig,
    private readonly onClose: (ep: BrowserEpisode) => void = () => undefined,
  ) {}

  /** Makes sure this episode has a live page on the live browser (recreating both after a crash or a recycle). */
  ensurePage(): Promise<PageHandle> {
    if (this.closed) return Promise.reject(new Error('episode is closed'));
    const h = this.handle;
    if (h && !h.page.isClosed() && !h.crashed && this.host.isAlive(h.generation)) return Promise.resolve(h);
    this.opening ??= this.openPage(h).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /** Opens the episode's first page within the reset deadline; on failure the episode is closed and the error thrown. */
  async open(): Promise<void> {
    const r = await within(this.ensurePage(), this.resetTimeoutMs);
    if (r.kind === 'fulfilled') return;
    await this.close();
    throw r.kind === 'rejected' ? r.error : timeoutError(`no page opened within ${this.resetTimeoutMs} ms`);
  }

  private async openPage(old: PageHandle | undefined): Promise<PageHandle> {
    if (old) {
      if (this.handle === old) this.handle = undefined;
      await this.closeHandle(old);
    }
    const h = await this.openHandle();
    if (this.closed) {
      // Closed while the page was being opened: it must not outlive the episode.
      await this.closeHandle(h);
      throw new Error('episode is closed');
    }
    this.handle = h;
    return h;
  }

  private openHandle(): Promise<PageHandle> {
    return openPageHandle(this.host, {
      viewport: this.config.viewport,
      timeoutMs: this.config.pageTimeoutMs,
      initScript: TIMER_TRACKER,
      route: (route) => this.routeRequest(route),
    });
  }

  /** Starts loading `url` into a fresh page for the next reset, replacing any other spare. */
  private preload(url: string): void {
    this.dropSpare();
    const ready = (async () => {
      const h = await this.openHandle();
      try {
        if (this.closed) throw new Error('episode is closed');
        await loadTaskPage(h.page, url, this.config.pageTimeoutMs);
        return h;
      } catch {
        await this.closeHandle(h);
        return undefined;
      }
    })().catch(() => undefined);
    // Whoever replaces or drops it (dropSpare, close) closes it; takeSpare hands it over.
    this.spare = { url, ready };
  }

  /** Closes the spare page, now or once it has finished opening. */
  private dropSpare(): void {
    const spare = this.spare;
    this.spare = undefined;
    if (spare) void spare.ready.then((h) => h && this.closeHandle(h));
  }

  /** The preloaded page for `url` when there is a usable one (it becomes the caller's), else undefined. */
  private async takeSpare(url: string): Promise<PageHandle | undefined> {
    const spare = this.spare;
    if (!spare) return undefined;
    if (spare.url !== url) {
      this.dropSpare();
      return undefined;
    }
    this.spare = undefined;
    // Still loading: worth waiting for (a new load could not be faster), but no longer than a load may take.
    const r = await within(spare.ready, this.config.pageTimeoutMs);
    if (r.kind === 'overran') void spare.ready.then((late) => late && this.closeHandle(late));
    const h = r.kind === 'fulfilled' ? r.value : undefined;
    if (!h) return undefined;
    if (this.closed || h.page.isClosed() || h.crashed || !this.host.isAlive(h.generation)) {
      await this.closeHandle(h);
      return undefined;
    }
    return h;
  }

  /** Closes a handle's page and context for good; a live browser that cannot even do that is killed. */
  private async closeHandle(h: PageHandle): Promise<void> {
    const outcome = await closePageHandle(h, CLOSE_TIMEOUT_MS);
    // A handle of an earlier (dead) browser may not close either; the browser running now is not to blame.
    if (outcome === 'stuck' && this.host.isAlive(h.generation)) await this.host.kill();
  }

  /**
   * After work on `h` overran its deadline: true when the page recovers (the work finishes within stepRecoveryMs and the
   * page still answers a trivial evaluation), false when it was recycled: closed and, unless the episode is closed,
   * replaced by a fresh page. A page whose input pipeline is stuck answers evaluations; the work that waits on it
   * does not finish, so it is recycled too.
   */
  private async recoverOrRecycle(h: PageHandle, work: Promise<unknown>): Promise<boolean> {
    const [finished, answered] = await Promise.all([
      within(work, this.config.stepRecoveryMs),
      within(evaluateInPage(h.cdp, '1'), this.config.stepRecoveryMs),
    ]);
    if (finished.kind !== 'overran' && answered.kind === 'fulfilled') return true;
    this.recycles += 1;
    if (this.handle === h) this.handle = undefined;
    await this.closeHandle(h);
    if (!this.closed) {
      // Open the replacement now, so the next reset finds it ready; if that fails too, the next reset tries again.
      const next = this.ensurePage();
      next.catch(() => undefined);
      await within(next, this.config.pageTimeoutMs);
    }
    return false;
  }

  /** Serves built-in pages from memory and keeps every other request off the network. */
  private async routeRequest(route: Route): Promise<void> {
    const url = route.request().url();
    const o = this.config.miniwobUrl;
    if (o !== undefined) {
      // A checkout loads its own scripts and styles (../core/*) from the same place; nothing else is fetched.
      const base = new URL(o);
      const allowed = base.protocol === 'file:' ? url.startsWith('file://') : url.startsWith(base.origin + '/');
      return allowed ? route.continue() : route.abort('blockedbyclient');
    }
    const prefix = `${this.tasks.origin}/miniwob/`;
    if (url.startsWith(prefix) && url.endsWith('.html')) {
      const html = this.tasks.html(url.slice(prefix.length, -'.html'.length));
      if (html === undefined) return route.fulfill({ status: 404, contentType: 'text/plain', body: 'no such task' });
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    }
    return route.abort('blockedbyclient');
  }

  private urlFor(task: string): string {
    if (typeof task !== 'string' || task === '') throw new RangeError('reset: task must be a non-empty string');
    if (this.config.miniwobUrl !== undefined) return miniwobTaskUrl(this.config.miniwobUrl, task);
    if (this.tasks.html(task) === undefined) {
      throw new RangeError(`unknown task '${task}' (built-in tasks: ${this.tasks.names().join(', ')})`);
    }
    return `${this.tasks.origin}/miniwob/${task}.html`;
  }

  /** Deadline of a reset: a page load and a setup may each take pageTimeoutMs. */
  private get resetTimeoutMs(): number {
    return Math.max(this.config.stepTimeoutMs, 2 * this.config.pageTimeoutMs);
  }

  async reset(opts: ResetOptions): Promise<Observation> {
    const url = this.urlFor(opts?.task);
    const seed = opts.seed ?? randomInt(0, 2 ** 31);
    const pageSeed = pageSeedFromEnvSeed(seed);
    const limit = this.resetTimeoutMs;
    const inPlace = this.inPlaceReset(opts.task, url);
    let started: { h: PageHandle; first: PageObservation; goal: string };
    for (let attempt = 0; ; attempt++) {
      let h: PageHandle | undefined;
      const work = (async () => {
        if (inPlace !== undefined) this.dropSpare();
        const spare = attempt === 0 && inPlace === undefined ? await this.takeSpare(url) : undefined;
        if (spare) {
          // The preloaded page takes over; the previous one goes.
          h = spare;
          const old = this.handle;
          this.handle = spare;
          if (old) void this.closeHandle(old);
          this.loads += 1;
          this.preloadedLoads += 1;
          return { h, ...(await this.setUpLoaded(spare, url, pageSeed)) };
        }
        h = await this.ensurePage();
        return { h, ...(await this.startEpisode(h, url, pageSeed, inPlace)) };
      })();
      let r = await within(work, limit);
      if (r.kind === 'overran') {
        // Past the deadline the page gets a moment to finish; one that does not is replaced and the reset tried once
        // more on the fresh page. Stuck before any page existed: the browser cannot even open one, so it is killed
        // (and relaunched by the retry).
        if (h === undefined) await this.host.kill();
        else if (await this.recoverOrRecycle(h, work)) r = await within(work, this.config.stepRecoveryMs);
        if (r.kind === 'overran') {
          if (attempt > 0) throw timeoutError(`reset did not finish within ${limit} ms, twice (the page was replaced)`);
          continue;
        }
      }
      if (r.kind === 'fulfilled') {
        started = r.value;
        break;
      }
      const e = r.error;
      if (h === undefined) throw e;
      h.loadedUrl = '';
      // A browser or page that died under us is replaced once; any other failure is the caller's to see.
      if (attempt > 0 || !(isTargetGone(e) || h.crashed || !this.host.isAlive(h.generation))) throw e;
    }
    this.task = opts.task;
    this.taskUrl = url;
    this.goal = started.goal;
    this.steps = 0;
    started.h.leftPage = false;
    this.lastAction = '';
    this.lastError = '';
    this.chat = [];
    // Real pages that do not reset in place are loaded at every reset: do the next load now, while this episode runs.
    const reloadsNext = this.inPlaceReset(opts.task, url) === undefined;
    if (this.config.miniwobUrl !== undefined && reloadsNext && this.config.preloadPages && !this.closed) {
      this.preload(url);
    }
    return this.toObservation(started.first);
  }

  /**
   * How resets of `task` start the next episode on the loaded page: 'builtin' (core.resetToLoadedState), the point a
   * real page goes back to, or undefined when they load the page.
   */
  private inPlaceReset(task: string, url: string): 'builtin' | InPlaceTask | undefined {
    if (!this.config.inPlaceReset || this.reloadOnly.has(url)) return undefined;
    return this.config.miniwobUrl === undefined ? 'builtin' : this.config.inPlaceRealTasks.get(task);
  }

  /** Sets up the episode (in place when allowed and possible, else by loading the page): first observation and goal. */
  private async startEpisode(
    h: PageHandle, url: string, pageSeed: number, inPlace: 'builtin' | InPlaceTask | undefined,
  ): Promise<{ first: PageObservation; goal: string }> {
    const timeout = this.config.pageTimeoutMs;
    const real = inPlace !== 'builtin';
    if (inPlace !== undefined && h.loadedUrl === url && h.page.url() === url) {
      try {
        // The pointer leaves the page: a fresh page has nothing under it, and whatever the last episode's pointer
        // rests on would otherwise be hovered in the next one.
        await h.cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: -1, y: -1 });
        const p = await this.extract(h, inPlaceSetupExpression(pageSeed, timeout, CLEAR_MARKS_SCRIPT, real), false);
        const r = p.probe as { error?: string } | undefined;
        if (r?.error !== 'noinplace') return { first: p, goal: goalFromSetup(p.probe, url, timeout) };
      } catch (e) {
        // The page's own script failed: a fresh load below either works or reports the error, and this page is
        // not trusted to reset in place again.
        if (!(e instanceof PageScriptError)) throw e;
        this.reloadOnly.add(url);
      }
    }
    h.loadedUrl = '';
    this.loads += 1;
    await loadTaskPage(h.page, url, timeout);
    return this.setUpLoaded(h, url, pageSeed, inPlace === 'builtin' ? undefined : inPlace);
  }

  /**
   * BrowserGym's setup on a page that has just loaded `url` (and nothing else): its first observation and goal.
   * `snapshot`: take the snapshot that the in-place resets of a real page that follow go back to; a page that is not
   * the one shown to reset in place gets none, and its task is loaded anew from then on.
   */
  private async setUpLoaded(
    h: PageHandle, url: string, pageSeed: number, snapshot?: InPlaceTask,
  ): Promise<{ first: PageObservation; goal: string }> {
    const timeout = this.config.pageTimeoutMs;
    const p = await this.extract(h, setupExpression(pageSeed, timeout, snapshot), false);
    if (snapshot && (p.probe as { snapshot?: boolean } | undefined)?.snapshot === false) this.reloadOnly.add(url);
    const goal = goalFromSetup(p.probe, url, timeout);
    h.loadedUrl = url;
    return { first: p, goal };
  }

  async observe(): Promise<Observation> {
    const h = this.handle;
    if (!h || this.taskUrl === '') throw new Error('observe() before reset()');
    const limit = this.config.stepTimeoutMs;
    const work = this.extract(h, undefined, true);
    const r = await within(work, limit);
    if (r.kind === 'fulfilled') return this.toObservation(r.value);
    if (r.kind === 'rejected') throw r.error;
    if (await this.recoverOrRecycle(h, work)) return this.toObservation(await work);
    throw timeoutError(`observe did not finish within ${limit} ms; the page stopped responding and was replaced`);
  }

  private toObservation(p: PageObservation): Observation {
    const observation: Observation = {
      goal: this.goal,
      axtree_txt: p.axtree_txt,
      pruned_html: p.pruned_html,
      url: p.url,
      focused_element_bid: p.focused_element_bid,
      last_action: this.lastAction,
      last_action_error: this.lastError,
    };
    if (p.screenshot) observation.screenshot = p.screenshot;
    this.lastObservation = observation;
    return observation;
  }

  /**
   * Page observation, with `probe` evaluated in the page in the same round trip as bid marking. `probeRepeatable`:
   * whether a retry may evaluate the probe again (a read may; a setup must not, and a retry after a failed read
   * keeps the value it already returned).
   */
  private async extract(h: PageHandle, probe: string | undefined, probeRepeatable: boolean): Promise<PageObservation> {
    let lastErr: unknown;
    let probeValue: { value: unknown } | undefined;
    // A navigation or re-render can detach the execution context mid-extraction; BrowserGym retries too.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const p = await extractPageObservation(h.page, h.cdp, {
          probe: probeValue ? undefined : probe,
          prunedHtml: this.config.prunedHtml,
          axtreeFlags: this.config.axtreeFlags,
          screenshot: this.config.screenshot,
        });
        if (probeValue) p.probe = probeValue.value;
        return p;
      } catch (e) {
        lastErr = e;
        if (isTargetGone(e)) throw e;
        if (e instanceof ObservationReadError) probeValue ??= { value: e.probe };
        else if (!probeRepeatable && probe !== undefined) throw e;
        await h.page.waitForLoadState('domcontentloaded', { timeout: 3000 }).catch(() => undefined);
      }
    }
    throw lastErr;
  }

  async step(action: string): Promise<StepResult> {
    const h = this.handle;
    if (!h || this.taskUrl === '') throw new Error('step() before reset()');
    this.steps += 1;
    this.lastAction = action;
    this.lastError = '';
    const info: Record<string, unknown> = { task: this.task, step: this.steps };
    const limit = this.config.stepTimeoutMs;
    const work = this.runStep(h, action, info);
    const r = await within(work, limit);
    if (r.kind === 'fulfilled') return this.commit(r.value);
    if (r.kind === 'rejected') throw r.error;
    const deadline = `TimeoutError: step did not finish within ${limit} ms`;
    info.step_timeout = limit / 1000;
    if (await this.recoverOrRecycle(h, work)) {
      // Finished late on a page that is fine: its own outcome (the page may show a reward), marked as late.
      const late = await work;
      const own = late.observation.last_action_error;
      const error = own ? `${deadline}; ${own}` : deadline;
      return this.commit({ ...late, observation: { ...late.observation, last_action_error: error } });
    }
    // The page was replaced: the episode cannot go on. Not 'browser page was lost' (which makes a rollout replay its
    // round): a page that wedges on an action would wedge again on the replay.
    const msg = `${deadline}; the page stopped responding and was replaced`;
    const last = this.lastObservation;
    return this.commit({
      observation: {
        goal: this.goal,
        axtree_txt: last?.axtree_txt ?? '',
        pruned_html: last?.pruned_html ?? '',
        url: last?.url ?? '',
        focused_element_bid: '',
        last_action: action,
        last_action_error: msg,
      },
      reward: 0,
      done: false,
      truncated: true,
      info: { ...info, error: 'step deadline exceeded, page recycled', page_recycled: true },
    });
  }

  /** Makes a step's result the episode's current state. */
  private commit(r: StepResult): StepResult {
    this.lastError = r.observation.last_action_error;
    this.lastObservation = r.observation;
    return r;
  }

  /**
   * Runs one step on `h` and returns its result without changing the episode's state (step() commits it): work that
   * overran its deadline may still finish later, and must not overwrite what came after it.
   */
  private async runStep(h: PageHandle, action: string, info: Record<string, unknown>): Promise<StepResult> {
    const chat = this.chat;
    const taskUrl = this.taskUrl;
    const goal = this.goal;
    const last = this.lastObservation;
    let actionError = '';
    try {
      const actions = parseActions(action, { multiaction: this.config.multiaction });
      for (const a of actions) {
        await executeAction(h.page, a, {
          evaluate: (expr) => evaluateInPage(h.cdp, expr),
          fast: this.config.fastActions,
          timeoutMs: this.config.actionTimeoutMs,
          retryWithForce: this.config.retryWithForce,
          navigationTimeoutMs: this.config.pageTimeoutMs,
          onMessage: (t) => chat.push(t),
        });
      }
    } catch (e) {
      actionError = actionErrorText(e);
      if (isTimeoutError(e)) info.action_exec_timeout = this.config.actionTimeoutMs / 1000;
    }
    const observationOf = (p: PageObservation): Observation => {
      const o: Observation = {
        goal,
        axtree_txt: p.axtree_txt,
        pruned_html: p.pruned_html,
        url: p.url,
        focused_element_bid: p.focused_element_bid,
        last_action: action,
        last_action_error: actionError,
      };
      if (p.screenshot) o.screenshot = p.screenshot;
      return o;
    };
    try {
      // Settle, validate and mark in one round trip; BrowserGym also validates before it observes.
      const p = await this.extract(h, settleAndReadState(this.config.settleMs), true);
      const observation = observationOf(p);
      const state = p.probe;
      const v = h.leftPage
        ? { reward: 0, done: true, rawReward: 0, info: { error: 'invalid page, terminating task' } }
        : validateState(observation.url, taskUrl, (state ?? null) as WobState | null);
      Object.assign(info, v.info, { raw_reward: v.rawReward });
      if (chat.length > 0) info.chat_messages = [...chat];
      return {
        observation,
        reward: v.reward,
        done: v.done,
        truncated: !v.done && this.steps >= this.config.maxSteps,
        info,
      };
    } catch (e) {
      // The browser or page died, or the page became unobservable: end the episode with 0 rather than throw into a
      // rollout loop; the next reset() starts over (on a relaunched browser if needed).
      const lost = isTargetGone(e) || !this.host.isAlive(h.generation) || h.page.isClosed() || h.crashed;
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      const msg = `${lost ? 'browser page was lost' : 'observation failed'}: ${why}`;
      return {
        observation: {
          goal,
          axtree_txt: last?.axtree_txt ?? '',
          pruned_html: last?.pruned_html ?? '',
          url: last?.url ?? '',
          focused_element_bid: '',
          last_action: action,
          last_action_error: actionError || `Error: ${msg}`,
        },
        reward: 0,
        done: true,
        truncated: false,
        info: { ...info, error: msg },
      };
    }
  }

  /**
   * Screenshot for a replay, `targetBid` outlined (lib/env/capture.ts). Only reads the page; fails (never hangs) when
   * the page cannot paint within CAPTURE_TIMEOUT_MS, and the caller goes on without an image.
   */
  async capture(targetBid: string | null = null): Promise<EpisodeCapture> {
    const h = this.handle;
    if (!h || this.taskUrl === '') throw new Error('capture() before reset()');
    const limit = Math.min(CAPTURE_TIMEOUT_MS, this.config.stepTimeoutMs);
    const r = await within(captureWithTarget(h.cdp, targetBid), limit);
    if (r.kind === 'fulfilled') return r.value;
    throw r.kind === 'rejected' ? r.error : timeoutError(`screenshot not taken within ${limit} ms`);
  }

  /** How many resets loaded the task page (the others started their episode in place). */
  get pageLoads(): number {
    return this.loads;
  }

  /** How many of those page loads had been done ahead of the reset (preloadPages). */
  get preloadedPageLoads(): number {
    return this.preloadedLoads;
  }

  /** How many times a page that stopped responding was closed and replaced. */
  get pageRecycles(): number {
    return this.recycles;
  }

  /** Task, step count and URL of the current episode. */
  get state(): { task: string; steps: number; url: string } {
    return { task: this.task, steps: this.steps, url: this.taskUrl };
  }

  /** Closes the page at once, whatever runs on it (that work then fails); never waits on the page itself. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    const h = this.handle;
    this.handle = undefined;
    this.dropSpare();
    // A page still being opened is closed by openPage when it sees `closed`.
    if (h) await this.closeHandle(h);
  }
}
