// One episode on one browser page: reset loads a task page (built-in or real MiniWoB++) with BrowserGym's setup,
// step parses and runs an action, waits for the page to settle, validates, and observes. The page and its context
// are reused across resets; if the browser died they are recreated on the relaunched browser. A built-in page that is
// already loaded starts its next episode in place (no reload), which gives the same page as a fresh load.
import { randomInt } from 'node:crypto';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { executeAction, actionErrorText, isTimeoutError } from './actions/execute.ts';
import { parseActions } from './actions/parser.ts';
import type { BrowserHost } from './browser.ts';
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
import type { CdpSender } from './observation/frames.ts';
import { CLEAR_MARKS_SCRIPT } from './observation/mark.ts';
import type { EnvOptions, Episode, Observation, ResetOptions, StepResult } from './types.ts';

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
   * Start the next episode of a built-in task on the loaded page instead of reloading it (same observation as a
   * fresh load, a fraction of the cost). Real MiniWoB++ pages always reload.
   */
  inPlaceReset: boolean;
  /**
   * Act without Playwright's waiting when one in-page check shows the target is already actionable (same outcome as
   * the locator call, see actions/execute.ts); false sends every element action through Playwright locators.
   */
  fastActions: boolean;
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
  fastActions: true,
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
  if (!(Number.isInteger(cfg.settleMs) && cfg.settleMs >= 0)) {
    throw new RangeError(`settleMs must be an integer ≥ 0, got ${cfg.settleMs}`);
  }
  if (cfg.miniwobUrl !== undefined && !/^(file|https?):\/\//.test(cfg.miniwobUrl)) {
    throw new RangeError(`miniwobUrl must be a file://, http:// or https:// URL, got '${cfg.miniwobUrl}'`);
  }
  return cfg;
}

/** Timers with a delay up to this are "the page is still reacting" (autocomplete, animations); longer ones are not. */
const SETTLE_TIMER_MAX_DELAY_MS = 1000;

/**
 * Counts the page's pending short setTimeouts, so a step can wait for the page to finish reacting, and keeps every
 * live timeout, interval and animation frame of the page, so an in-place reset can cancel what the last episode left
 * running.
 */
const TIMER_TRACKER = `(() => {
  const pending = new Set(), live = new Set(), frames = new Set();
  const st = window.setTimeout, ct = window.clearTimeout, si = window.setInterval;
  const raf = window.requestAnimationFrame, caf = window.cancelAnimationFrame;
  window.setTimeout = function (fn, delay, ...rest) {
    if (typeof fn !== 'function') return st.call(window, fn, delay, ...rest);
    const id = st.call(window, function () {
      pending.delete(id); live.delete(id); return fn.apply(this, arguments);
    }, delay, ...rest);
    live.add(id);
    if (Number(delay ?? 0) <= ${SETTLE_TIMER_MAX_DELAY_MS}) pending.add(id);
    return id;
  };
  // Timeouts and intervals share one id space: either clear function cancels either kind.
  window.clearTimeout = window.clearInterval = function (id) { pending.delete(id); live.delete(id); return ct.call(window, id); };
  window.setInterval = function (...args) { const id = si.apply(window, args); live.add(id); return id; };
  window.requestAnimationFrame = function (fn) {
    const id = raf.call(window, function (t) { frames.delete(id); return fn(t); });
    frames.add(id);
    return id;
  };
  window.cancelAnimationFrame = function (id) { frames.delete(id); return caf.call(window, id); };
  Object.defineProperty(window, '__envPendingTimers', { get: () => pending.size });
  // Harness code waits with the untracked original so its own waiting never counts as page activity.
  Object.defineProperty(window, '__envRawSetTimeout', { value: st.bind(window) });
  Object.defineProperty(window, '__envClearPageTimers', { value: () => {
    for (const id of live) ct.call(window, id);
    for (const id of frames) caf.call(window, id);
    live.clear(); pending.clear(); frames.clear();
  } });
})();`;

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
  private context: BrowserContext | undefined;
  private page: Page | undefined;
  /** The page's CDP session; every call fails at once when the page crashes or closes (a raw session would wait). */
  private cdp: CdpSender | undefined;
  private generation = -1;
  private task = '';
  private taskUrl = '';
  /** URL of the task page set up on the current page ('' after a new page): what an in-place reset may reuse. */
  private loadedUrl = '';
  private loads = 0;
  private goal = '';
  private steps = 0;
  private lastAction = '';
  private lastError = '';
  private chat: string[] = [];
  private lastObservation: Observation | undefined;
  private closed = false;
  /** A second page (popup, target=_blank) opened during the episode: BrowserGym's "invalid page" end. */
  private leftPage = false;
  /** The page's renderer process died (the browser may be fine): the page must be replaced. */
  private pageCrashed = false;

  constructor(
    private readonly host: BrowserHost,
    private readonly tasks: TaskSource,
    readonly config: EpisodeConfig,
    private readonly onClose: (ep: BrowserEpisode) => void = () => undefined,
  ) {}

  /** Makes sure this episode has a live page on the live browser (recreating both after a crash). */
  async ensurePage(): Promise<Page> {
    if (this.closed) throw new Error('episode is closed');
    if (this.page && !this.page.isClosed() && !this.pageCrashed && this.host.isAlive(this.generation)) return this.page;
    await this.context?.close().catch(() => undefined);
    const { context, generation } = await this.host.newContext({
      viewport: this.config.viewport,
      acceptDownloads: false,
    });
    this.context = context;
    this.generation = generation;
    context.setDefaultTimeout(this.config.pageTimeoutMs);
    await context.route('**/*', (route) => this.routeRequest(route));
    await context.addInitScript(TIMER_TRACKER);
    const page = await context.newPage();
    this.page = page;
    this.loadedUrl = '';
    this.pageCrashed = false;
    page.on('crash', () => {
      if (this.page === page) this.pageCrashed = true;
    });
    // Only the task page counts; any other page (popup, target=_blank) is closed at once and ends the episode, like
    // BrowserGym's validate on a page that is not the task's.
    context.on('page', (p) => {
      if (p === page) return;
      this.leftPage = true;
      p.close().catch(() => undefined);
    });
    const session = await context.newCDPSession(page);
    let lose: (e: Error) => void = () => undefined;
    const lost = new Promise<never>((_, reject) => {
      lose = reject;
    });
    lost.catch(() => undefined);
    page.on('crash', () => lose(new Error('Target crashed')));
    page.on('close', () => lose(new Error('Target page, context or browser has been closed')));
    // Playwright types send() per method; the observation code passes method names and params through as given.
    const send = session.send.bind(session) as CdpSender['send'];
    this.cdp = { send: (method, params) => Promise.race([send(method, params), lost]) };
    return this.page;
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

  async reset(opts: ResetOptions): Promise<Observation> {
    const url = this.urlFor(opts?.task);
    const seed = opts.seed ?? randomInt(0, 2 ** 31);
    const pageSeed = pageSeedFromEnvSeed(seed);
    let first: PageObservation;
    for (let attempt = 0; ; attempt++) {
      const page = await this.ensurePage();
      try {
        first = await this.startEpisode(page, url, pageSeed);
        break;
      } catch (e) {
        this.loadedUrl = '';
        // A browser that died under us is relaunched once; any other failure is the caller's to see.
        if (attempt > 0 || !(isTargetGone(e) || this.pageCrashed || !this.host.isAlive(this.generation))) throw e;
      }
    }
    this.task = opts.task;
    this.taskUrl = url;
    this.steps = 0;
    this.leftPage = false;
    this.lastAction = '';
    this.lastError = '';
    this.chat = [];
    return this.toObservation(first);
  }

  /** Sets up the episode (in place when possible, else by loading the page) and returns its first observation. */
  private async startEpisode(page: Page, url: string, pageSeed: number): Promise<PageObservation> {
    const timeout = this.config.pageTimeoutMs;
    if (this.config.inPlaceReset && this.config.miniwobUrl === undefined && this.loadedUrl === url && page.url() === url) {
      try {
        const p = await this.extract(inPlaceSetupExpression(pageSeed, timeout, CLEAR_MARKS_SCRIPT), false);
        const r = p.probe as { error?: string } | undefined;
        if (r?.error !== 'noinplace') {
          this.goal = goalFromSetup(p.probe, url, timeout);
          return p;
        }
      } catch (e) {
        // The page's own script failed: a fresh load below either works or reports the error.
        if (!(e instanceof PageScriptError)) throw e;
      }
    }
    this.loadedUrl = '';
    this.loads += 1;
    await loadTaskPage(page, url, timeout);
    const p = await this.extract(setupExpression(pageSeed, timeout), false);
    this.goal = goalFromSetup(p.probe, url, timeout);
    this.loadedUrl = url;
    return p;
  }

  async observe(): Promise<Observation> {
    return this.toObservation(await this.extract(undefined, true));
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
  private async extract(probe: string | undefined, probeRepeatable: boolean): Promise<PageObservation> {
    if (!this.page || !this.cdp) throw new Error('observe() before reset()');
    let lastErr: unknown;
    let probeValue: { value: unknown } | undefined;
    // A navigation or re-render can detach the execution context mid-extraction; BrowserGym retries too.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const p = await extractPageObservation(this.page, this.cdp, {
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
        await this.page.waitForLoadState('domcontentloaded', { timeout: 3000 }).catch(() => undefined);
      }
    }
    throw lastErr;
  }

  async step(action: string): Promise<StepResult> {
    if (!this.page || this.taskUrl === '') throw new Error('step() before reset()');
    this.steps += 1;
    this.lastAction = action;
    this.lastError = '';
    const info: Record<string, unknown> = { task: this.task, step: this.steps };
    const page = this.page;
    const cdp = this.cdp!;
    try {
      const actions = parseActions(action, { multiaction: this.config.multiaction });
      for (const a of actions) {
        await executeAction(page, a, {
          evaluate: (expr) => evaluateInPage(cdp, expr),
          fast: this.config.fastActions,
          timeoutMs: this.config.actionTimeoutMs,
          retryWithForce: this.config.retryWithForce,
          navigationTimeoutMs: this.config.pageTimeoutMs,
          onMessage: (t) => this.chat.push(t),
        });
      }
    } catch (e) {
      this.lastError = actionErrorText(e);
      if (isTimeoutError(e)) info.action_exec_timeout = this.config.actionTimeoutMs / 1000;
    }
    try {
      // Settle, validate and mark in one round trip; BrowserGym also validates before it observes.
      const p = await this.extract(settleAndReadState(this.config.settleMs), true);
      const observation = this.toObservation(p);
      const state = p.probe;
      const v = this.leftPage
        ? { reward: 0, done: true, rawReward: 0, info: { error: 'invalid page, terminating task' } }
        : validateState(observation.url, this.taskUrl, (state ?? null) as WobState | null);
      Object.assign(info, v.info, { raw_reward: v.rawReward });
      if (this.chat.length > 0) info.chat_messages = [...this.chat];
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
      const lost = isTargetGone(e) || !this.host.isAlive(this.generation) || page.isClosed() || this.pageCrashed;
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      const msg = `${lost ? 'browser page was lost' : 'observation failed'}: ${why}`;
      this.lastError ||= `Error: ${msg}`;
      const last = this.lastObservation;
      return {
        observation: {
          goal: this.goal,
          axtree_txt: last?.axtree_txt ?? '',
          pruned_html: last?.pruned_html ?? '',
          url: last?.url ?? '',
          focused_element_bid: '',
          last_action: this.lastAction,
          last_action_error: this.lastError,
        },
        reward: 0,
        done: true,
        truncated: false,
        info: { ...info, error: msg },
      };
    }
  }

  /** How many resets loaded the task page (the others started their episode in place). */
  get pageLoads(): number {
    return this.loads;
  }

  /** Task, step count and URL of the current episode. */
  get state(): { task: string; steps: number; url: string } {
    return { task: this.task, steps: this.steps, url: this.taskUrl };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    await this.context?.close().catch(() => undefined);
    this.context = undefined;
    this.page = undefined;
    this.cdp = undefined;
  }
}
