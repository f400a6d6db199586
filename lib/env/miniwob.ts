// The MiniWoB++ page protocol, driven exactly as BrowserGym drives it (browsergym/miniwob/base.py): display removal,
// seeding, episode start, goal from core.getUtterance(), and validation from the WOB_* globals. Real MiniWoB++ pages
// and the built-in task pages both speak this protocol, so this is the one setup/validate path for both.
import type { Page } from 'playwright-core';
import type { InPlaceTask, RealResetPoint } from './in-place-tasks.ts';
import { HAS_PAGE_SNAPSHOT, RESTORE_PAGE_SNAPSHOT, snapshotPageScript } from './page-snapshot.ts';

/** BrowserGym's episode budget: long enough that MiniWoB's own timeout (−1 reward) never fires in practice. */
export const EPISODE_MAX_TIME_MS = 1_000_000;

/** MT19937 (Matsumoto & Nishimura), seeded with init_genrand as numpy's RandomState(int) does. */
export class MT19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      // 1812433253 * prev + i in uint32 arithmetic (Math.imul keeps the low 32 bits).
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % 624]! & 0x7fffffff);
      mt[i] = mt[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

/**
 * BrowserGym's env-seed → page-seed mapping: `np.random.RandomState(seed).randint(0, 1000000)`, i.e. 32-bit MT draws
 * masked to 20 bits, values above 999999 rejected. The page seed goes to `Math.seedrandom(n)` as a number.
 */
export function pageSeedFromEnvSeed(envSeed: number): number {
  if (!Number.isInteger(envSeed) || envSeed < 0 || envSeed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32 - 1], got ${envSeed}`);
  }
  const rng = new MT19937(envSeed);
  for (;;) {
    const v = rng.nextUint32() & 0xfffff;
    if (v <= 999_999) return v;
  }
}

/**
 * Removes the human display (instruction bar text, reward HUD, click canvas, START cover) and wraps core's
 * getUtterance / endEpisode / startEpisodeReal to restore it around each call, so core.js never touches missing
 * nodes. Same behaviour as BrowserGym's setup script; the goal reaches the agent only through getUtterance().
 */
const REMOVE_DISPLAY = String.raw`
  const displayIds = ['reward-display', 'click-canvas', 'sync-task-cover'];
  const displayDivs = {};
  let queryCopy = null;
  const removeDisplay = () => {
    core.clearTimer();
    document.body.removeEventListener('click', core.canvasDrawClick);
    queryCopy = document.getElementById('query').cloneNode(true);
    document.getElementById('query').innerHTML = '';
    for (const id of displayIds) {
      const el = document.getElementById(id);
      if (el) { el.remove(); displayDivs[id] = el; }
    }
  };
  const bringBackDisplay = () => {
    document.getElementById('query').innerHTML = queryCopy.innerHTML;
    for (const id in displayDivs) document.body.appendChild(displayDivs[id]);
    core.createDisplay();
  };
  const legacyEnd = core.endEpisode, legacyStart = core.startEpisodeReal, legacyUtterance = core.getUtterance;
  core.getUtterance = function () {
    bringBackDisplay(); const u = legacyUtterance.apply(core, arguments); removeDisplay(); return u;
  };
  core.endEpisode = function (reward, timeProportional, reason) {
    bringBackDisplay(); legacyEnd.call(core, reward, timeProportional, reason); removeDisplay();
  };
  core.startEpisodeReal = function () { bringBackDisplay(); legacyStart.call(core); removeDisplay(); };
  removeDisplay();
  // The instruction bar as loaded, for an in-place reset: the next episode starts from it, as on a fresh load.
  const loadedQuery = queryCopy.cloneNode(true);
  Object.defineProperty(window, '__envRestoreQuery', { value: () => { queryCopy = loadedQuery.cloneNode(true); } });`;

/** In-page: the goal once WOB_TASK_READY is up — synchronously when it already is, else a Promise (bounded wait). */
function goalWhenReady(timeoutMs: number, extra = ''): string {
  return `(() => {
    const goal = () => ({ utterance: core.getUtterance()${extra} });
    if (WOB_TASK_READY) return goal();
    const wait = window.__envRawSetTimeout || setTimeout;
    const t0 = Date.now();
    return (async () => {
      while (!WOB_TASK_READY) {
        if (Date.now() - t0 > ${timeoutMs}) return { error: 'notready' };
        await new Promise((r) => wait(r, 20));
      }
      return goal();
    })();
  })()`;
}

/** Seeds and starts an episode as BrowserGym does: `Math.seedrandom(n)` (n a number), budget 1e6 ms, start. */
function startEpisode(pageSeed: number): string {
  return `Math.seedrandom(${pageSeed});
  core.EPISODE_MAX_TIME = ${EPISODE_MAX_TIME_MS};
  core.startEpisodeReal();`;
}

/**
 * In-page: a fingerprint of the document's markup (FNV-1a over its outerHTML, 8 hex digits). Taken at setup, before
 * the display is removed; two loads of the same task page give the same one, another version of the page another.
 */
const PAGE_FINGERPRINT = `(() => {
  const text = document.documentElement.outerHTML;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
})()`;

/**
 * Page expression for BrowserGym's setup after page load: display removal, `Math.seedrandom(n)`,
 * `core.EPISODE_MAX_TIME = 1e6`, `core.startEpisodeReal()`, wait for WOB_TASK_READY, then `core.getUtterance()`.
 * Its value goes to goalFromSetup. Synchronous unless the task is not ready at once. Timers armed so far belong to
 * the page (an in-place reset keeps them). With `snapshot`, a real MiniWoB++ page whose fingerprint matches also
 * gets a snapshot of its document right before or right after the episode starts, for the in-place resets that
 * follow (lib/env/page-snapshot.ts); the value then says whether it got one (`snapshot`).
 */
export function setupExpression(pageSeed: number, timeoutMs: number, snapshot?: InPlaceTask): string {
  const take = (at: RealResetPoint) =>
    snapshot?.at === at ? `if (snapshotted) ${snapshotPageScript('focusedAtLoad')};` : '';
  const matches = snapshot?.page === undefined ? 'true' : `fingerprint === ${JSON.stringify(snapshot.page)}`;
  return String.raw`(() => {
  if (typeof core !== 'object' || core === null || typeof core.startEpisodeReal !== 'function') {
    return { error: 'nocore' };
  }
  ${snapshot ? `const fingerprint = ${PAGE_FINGERPRINT};
  Object.defineProperty(window, '__envPageFingerprint', { value: fingerprint });
  const snapshotted = ${matches};
  Object.defineProperty(window, '__envTaskReadyAtLoad', { value: WOB_TASK_READY });` : ''}
  ${REMOVE_DISPLAY}
  window.__envDisplayRemoved = true;
  if (typeof window.__envKeepPageTimers === 'function') window.__envKeepPageTimers();
  const focusedAtLoad = document.activeElement;
  ${take('loaded')}
  ${startEpisode(pageSeed)}
  ${take('started')}
  return ${goalWhenReady(timeoutMs, snapshot ? ', snapshot: snapshotted' : '')};
})()`;
}

/** Longest wait in an in-place reset for the last episode's animations to end; a page still busy then is reloaded. */
const IN_PLACE_QUIET_MAX_MS = 1000;

/**
 * Page expression that starts the next episode on an already set-up page without reloading it: once the last
 * episode's animations have ended, its timers are cancelled, the page is put back as loaded, every bid mark is
 * cleared (so numbering restarts at 0 as on a fresh load), then the episode is seeded and started exactly as in
 * setupExpression; the display-removal wrappers installed at load stay. Built-in pages go back with
 * core.resetToLoadedState(); real MiniWoB++ pages (`real`) get the document of the snapshot taken at setup back and
 * MiniWoB's globals at their loaded values. `{ error: 'noinplace' }` when the page cannot do this (another document,
 * a core without resetToLoadedState, a page set up without a snapshot, animations that do not end): the caller
 * reloads.
 */
export function inPlaceSetupExpression(pageSeed: number, timeoutMs: number, clearMarks: string, real = false): string {
  // Real pages: marks go first, while every marked node is still in the document (the restore drops some of them,
  // and a page may attach a dropped node again, e.g. jQuery UI's date picker).
  const restore = real
    ? `${clearMarks};
    if (!${RESTORE_PAGE_SNAPSHOT}) return { error: 'noinplace' };
    window.__envRestoreQuery();
    core.EP_TIMER = null;
    WOB_REWARD_GLOBAL = 0; WOB_RAW_REWARD_GLOBAL = 0; WOB_REWARD_REASON = null; WOB_DONE_GLOBAL = false;
    WOB_EPISODE_ID = 0; WOB_TASK_READY = window.__envTaskReadyAtLoad;`
    : `core.resetToLoadedState();
    ${clearMarks};`;
  const usable = real
    ? HAS_PAGE_SNAPSHOT
    : `typeof core.resetToLoadedState === 'function'`;
  return `(() => {
  if (typeof core !== 'object' || core === null || !(${usable}) || window.__envDisplayRemoved !== true) {
    return { error: 'noinplace' };
  }
  const start = () => {
    if (typeof window.__envClearPageTimers === 'function') window.__envClearPageTimers();
    ${restore}
    ${startEpisode(pageSeed)}
    return ${goalWhenReady(timeoutMs)};
  };
  // An animation of the last episode still running ends first (bounded); a page that stays busy is loaded anew.
  if (window.__envEpisodeBusy !== true) return start();
  const wait = window.__envRawSetTimeout || setTimeout;
  const t0 = Date.now();
  return (async () => {
    while (window.__envEpisodeBusy === true) {
      if (Date.now() - t0 > ${IN_PLACE_QUIET_MAX_MS}) return { error: 'noinplace' };
      await new Promise((r) => wait(r, 10));
    }
    return start();
  })();
})()`;
}

export class MiniwobSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MiniwobSetupError';
  }
}

/** Loads a task page (the setup expression runs next, with the first observation). */
export async function loadTaskPage(page: Page, url: string, timeoutMs: number): Promise<void> {
  const resp = await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
  if (resp && !resp.ok() && !url.startsWith('file:')) {
    throw new MiniwobSetupError(`could not load ${url}: HTTP ${resp.status()}`);
  }
}

/** The goal from a setup expression's value, or a MiniwobSetupError saying what is wrong with the page. */
export function goalFromSetup(res: unknown, url: string, timeoutMs: number): string {
  const r = (res ?? {}) as { error?: string; utterance?: unknown };
  if (r.error === 'nocore') {
    throw new MiniwobSetupError(
      `${url} is not a MiniWoB++ task page (no core.startEpisodeReal); for real MiniWoB++ the base URL must point at ` +
        `miniwob-plusplus/miniwob/html/miniwob/ and end with '/'`,
    );
  }
  if (r.error === 'notready') throw new MiniwobSetupError(`${url}: WOB_TASK_READY stayed false for ${timeoutMs} ms`);
  const u = r.utterance;
  if (typeof u === 'string') return u;
  if (u && typeof u === 'object' && typeof (u as { utterance?: unknown }).utterance === 'string') {
    return (u as { utterance: string }).utterance;
  }
  throw new MiniwobSetupError(`core.getUtterance() returned ${JSON.stringify(u)}, expected a string`);
}

/** The six WOB_* globals BrowserGym reports as `info`. */
export interface WobState {
  REWARD_GLOBAL: number;
  RAW_REWARD_GLOBAL: number;
  REWARD_REASON: string | null;
  DONE_GLOBAL: boolean;
  EPISODE_ID: number;
  TASK_READY: boolean;
}

/** Expression reading the WOB_* globals; null on a page without them (e.g. after navigating away). */
export const WOB_STATE_EXPR = `(typeof WOB_DONE_GLOBAL === 'undefined' ? null : {
  REWARD_GLOBAL: WOB_REWARD_GLOBAL, RAW_REWARD_GLOBAL: WOB_RAW_REWARD_GLOBAL, REWARD_REASON: WOB_REWARD_REASON,
  DONE_GLOBAL: WOB_DONE_GLOBAL, EPISODE_ID: WOB_EPISODE_ID, TASK_READY: WOB_TASK_READY })`;

export async function readWobState(page: Page): Promise<WobState | null> {
  return (await page.evaluate(WOB_STATE_EXPR)) as WobState | null;
}

export interface Validation {
  /** BrowserGym's reward: 1 when the raw MiniWoB reward is > 0, else 0 (partial credit counts as success). */
  reward: number;
  done: boolean;
  /** MiniWoB's own reward before time decay (−1 … 1); partial credit is visible here. */
  rawReward: number;
  info: Record<string, unknown>;
}

/**
 * BrowserGym's validate() on already-read state: leaving the task page ends the episode with 0; else
 * reward = RAW > 0, done = DONE.
 */
export function validateState(pageUrl: string, taskUrl: string, state: WobState | null): Validation {
  if (pageUrl !== taskUrl || state === null) {
    return { reward: 0, done: true, rawReward: 0, info: { error: 'invalid url, terminating task' } };
  }
  const raw = Number(state.RAW_REWARD_GLOBAL) || 0;
  return { reward: raw > 0 ? 1 : 0, done: state.DONE_GLOBAL === true, rawReward: raw, info: { ...state } };
}

/** BrowserGym's validate() on a live page. */
export async function validateMiniwobPage(page: Page, taskUrl: string): Promise<Validation> {
  if (page.isClosed()) {
    return { reward: 0, done: true, rawReward: 0, info: { error: 'invalid page, terminating task' } };
  }
  if (page.url() !== taskUrl) return validateState(page.url(), taskUrl, null);
  return validateState(page.url(), taskUrl, await readWobState(page));
}

/** Task URL = base + task + '.html' (BrowserGym concatenates, so the base must end with '/'). */
export function miniwobTaskUrl(baseUrl: string, task: string): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(task)) throw new RangeError(`invalid task name ${JSON.stringify(task)}`);
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  return `${base}${task}.html`;
}

/** The 125 MiniWoB++ tasks BrowserGym registers (browsergym/miniwob/__init__.py), by page name. */
export const MINIWOB_TASKS: readonly string[] = [
  'ascending-numbers', 'bisect-angle', 'book-flight', 'book-flight-nodelay', 'buy-ticket', 'choose-date',
  'choose-date-easy', 'choose-date-medium', 'choose-date-nodelay', 'choose-list', 'circle-center', 'click-button',
  'click-button-sequence', 'click-checkboxes', 'click-checkboxes-large', 'click-checkboxes-soft',
  'click-checkboxes-transfer', 'click-collapsible', 'click-collapsible-2', 'click-collapsible-2-nodelay',
  'click-collapsible-nodelay', 'click-color', 'click-dialog', 'click-dialog-2', 'click-link', 'click-menu',
  'click-menu-2', 'click-option', 'click-pie', 'click-pie-nodelay', 'click-scroll-list', 'click-shades',
  'click-shape', 'click-tab', 'click-tab-2', 'click-tab-2-easy', 'click-tab-2-hard', 'click-tab-2-medium',
  'click-test', 'click-test-2', 'click-test-transfer', 'click-widget', 'copy-paste', 'copy-paste-2', 'count-shape',
  'count-sides', 'daily-calendar', 'drag-box', 'drag-circle', 'drag-cube', 'drag-items', 'drag-items-grid',
  'drag-shapes', 'drag-shapes-2', 'drag-single-shape', 'drag-sort-numbers', 'draw-circle', 'draw-line',
  'email-inbox', 'email-inbox-delete', 'email-inbox-forward', 'email-inbox-forward-nl', 'email-inbox-forward-nl-turk',
  'email-inbox-important', 'email-inbox-nl-turk', 'email-inbox-noscroll', 'email-inbox-reply',
  'email-inbox-star-reply', 'enter-date', 'enter-password', 'enter-text', 'enter-text-2', 'enter-text-dynamic',
  'enter-time', 'find-greatest', 'find-midpoint', 'find-word', 'focus-text', 'focus-text-2', 'form-sequence',
  'form-sequence-2', 'form-sequence-3', 'generate-number', 'grid-coordinate', 'guess-number', 'highlight-text',
  'highlight-text-2', 'hot-cold', 'identify-shape', 'login-user', 'login-user-popup', 'multi-layouts',
  'multi-orderings', 'navigate-tree', 'number-checkboxes', 'odd-or-even', 'order-food', 'phone-book', 'read-table',
  'read-table-2', 'resize-textarea', 'right-angle', 'scroll-text', 'scroll-text-2', 'search-engine',
  'sign-agreement', 'simple-algebra', 'simple-arithmetic', 'social-media', 'social-media-all', 'social-media-some',
  'stock-market', 'terminal', 'text-editor', 'text-transform', 'tic-tac-toe', 'unicode-test', 'use-autocomplete',
  'use-autocomplete-nodelay', 'use-colorwheel', 'use-colorwheel-2', 'use-slider', 'use-slider-2', 'use-spinner',
  'visual-addition',
];
