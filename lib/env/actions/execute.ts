// Runs checked actions on a page through Playwright locators, as BrowserGym's action functions do
// (browsergym/core/action/functions.py): elements found by bid, a short per-action timeout, and an optional second
// try of the same operation with `force` when the first one timed out on actionability checks (BrowserGym's
// call_fun); any other failure, such as fill on a button, is the action's error.
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { BID_ATTR } from '../observation/mark.ts';
import { ActionParseError } from './parser.ts';
import type { ParsedAction } from './parser.ts';

export interface ExecuteOptions {
  /** Evaluates an expression in the page's main world (a Promise result is awaited); default page.evaluate. */
  evaluate?: (expression: string) => Promise<unknown>;
  /** Use the fast paths below when the target is already actionable (default true). */
  fast?: boolean;
  /** Timeout of each locator operation (BrowserGym: 500 ms). */
  timeoutMs: number;
  /** Retry a timed-out click/fill/select/hover/check with force (BrowserGym's MiniWoB benchmark: true). */
  retryWithForce: boolean;
  /** Timeout of navigations (go_back / go_forward). */
  navigationTimeoutMs: number;
  /** Receives send_msg_to_user texts. */
  onMessage?: (text: string) => void;
}

/** CSS attribute selector for a bid, escaped so any text is a valid (if unmatched) selector. */
export function bidSelector(bid: string): string {
  return `[${BID_ATTR}="${bid.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\a ')}"]`;
}

/**
 * The element with this bid, or BrowserGym's `ValueError: Could not find element with bid "…"`. Leading letters name
 * the frames to enter, as in BrowserGym's get_elem_by_bid: 'a12' is element 12 inside iframe 'a', 'aB3' inside
 * iframe 'aB', 'ab7' inside iframe 'b' inside iframe 'a'.
 */
async function elementByBid(page: Page, bid: string): Promise<Locator> {
  const notFound = () => new ActionParseError('ValueError', `Could not find element with bid "${bid}"`);
  let scope: Page | FrameLocator = page;
  let i = 0;
  while (i < bid.length && !/^[0-9]+$/.test(bid.slice(i))) {
    i += 1;
    while (i < bid.length && /[A-Z]/.test(bid[i]!)) i += 1;
    const frameBid = bid.slice(0, i);
    if ((await scope.locator(bidSelector(frameBid)).count()) === 0) throw notFound();
    scope = scope.frameLocator(bidSelector(frameBid));
  }
  const loc = scope.locator(bidSelector(bid));
  if ((await loc.count()) === 0) throw notFound();
  return loc.first();
}

/** `op(false)`, then with `retry` `op(true)` (force) when that timed out; as BrowserGym's call_fun. */
async function withForceRetry(retry: boolean, op: (force: boolean) => Promise<unknown>): Promise<void> {
  try {
    await op(false);
  } catch (e) {
    if (!retry || !isTimeoutError(e)) throw e;
    await op(true);
  }
}

/** Resolves once window scroll offsets stay put for 3 animation frames (at most ~60 frames). */
const WAIT_SCROLL_STABLE = `new Promise((resolve) => {
  let last = '', stable = 0, frames = 0;
  const tick = () => {
    const pos = window.scrollX + ',' + window.scrollY;
    stable = pos === last ? stable + 1 : 0;
    last = pos;
    if (stable >= 3 || ++frames > 60) resolve(undefined);
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})`;

/**
 * In-page checks shared by the fast paths: `el` is the element with the bid; each returns true when Playwright's
 * actionability check of the same name would pass at once (never guessing: anything unusual fails and the
 * locator path decides, with Playwright's own waiting and errors).
 */
const FAST_CHECKS = `
  const isVisible = (el) => {
    const style = window.getComputedStyle(el);
    if (style.visibility !== 'visible') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const isEnabled = (el) => !el.matches(':disabled') && !el.closest('[aria-disabled="true"]');
  const isNonInert = (el) => !el.closest('[inert]');`;

/**
 * Fast path for pointer actions. Playwright's actionable click costs ~20 protocol messages (scroll, two-frame stability
 * wait, hit-target probe, input events). When one in-page check shows the element is already actionable, in the same
 * sense Playwright means (attached, visible, enabled, not animating, and the element or a descendant is what gets hit
 * at the click point), the mouse events go straight to that point: the outcome is Playwright's click, without the
 * waiting. Anything else — frames, hidden, disabled, covered, animating — returns null and takes the locator path.
 */
function pointerTargetScript(bid: string, needEnabled: boolean): string {
  return `(async () => {
  const el = document.querySelector(${JSON.stringify(bidSelector(bid))});
  if (!el) return 'notfound';
  if (!el.isConnected || document.getAnimations().some((a) => a.playState === 'running')) return null;
  const style = window.getComputedStyle(el);
  if (style.visibility !== 'visible') return null;
  if (${needEnabled} && (el.matches(':disabled') || el.closest('[aria-disabled="true"]'))) return null;
  let rect = el.getClientRects()[0];
  if (!rect || rect.width === 0 || rect.height === 0) return null;
  const inView = (r) => r.left >= 0 && r.top >= 0 && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
  if (!inView(rect)) {
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    // Input is routed with the last presented frame: let the new scroll offset reach the screen first.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    rect = el.getClientRects()[0];
    if (!rect || !inView(rect)) return null;
  }
  const x = rect.left + rect.width / 2, y = rect.top + rect.height / 2;
  // Retargeted to the light DOM: an element inside a shadow root never matches and takes the locator path.
  const hit = document.elementFromPoint(x, y);
  if (!hit || !el.contains(hit)) return null;
  return { x, y };
})()`;
}

type Point = { x: number; y: number };
type Evaluate = (expression: string) => Promise<unknown>;

function notFound(bid: string): ActionParseError {
  return new ActionParseError('ValueError', `Could not find element with bid "${bid}"`);
}

/** Where to send pointer events for `bid` without waiting, or null when the locator path must decide. */
async function pointerTarget(evaluate: Evaluate, bid: string, needEnabled: boolean): Promise<Point | null> {
  const r = (await evaluate(pointerTargetScript(bid, needEnabled))) as Point | 'notfound' | null;
  if (r === 'notfound') throw notFound(bid);
  return r;
}

/**
 * Fast path for fill: Playwright's fill on a plain text input or textarea is "check visible, enabled, editable and
 * not inert; select its text and focus it; insert the value as keyboard text (Delete for '')". When the checks pass at
 * once, the selecting and focusing happen here in one evaluation and the caller inserts the text. Other inputs
 * (number, date, …), labels and contenteditable take the locator path.
 */
function fillTargetScript(bid: string): string {
  return `(() => {
  ${FAST_CHECKS}
  const el = document.querySelector(${JSON.stringify(bidSelector(bid))});
  if (!el) return 'notfound';
  const tag = el.tagName.toLowerCase();
  const typeInto = ['', 'email', 'password', 'search', 'tel', 'text', 'url'];
  if (!(tag === 'textarea' || (tag === 'input' && typeInto.includes(el.type.toLowerCase())))) return null;
  if (!isVisible(el) || !isEnabled(el) || !isNonInert(el)) return null;
  if (el.readOnly || el.getAttribute('aria-readonly') === 'true') return null;
  if (tag === 'input') { el.select(); el.focus(); }
  else { el.selectionStart = 0; el.selectionEnd = el.value.length; el.focus(); }
  return 'ready';
})()`;
}

/** Fills a text field without Playwright's waiting when it is ready; false when the locator path must do it. */
async function fastFill(page: Page, evaluate: Evaluate, bid: string, value: string): Promise<boolean> {
  const r = await evaluate(fillTargetScript(bid));
  if (r === 'notfound') throw notFound(bid);
  if (r !== 'ready') return false;
  if (value) await page.keyboard.insertText(value);
  else await page.keyboard.press('Delete');
  return true;
}

/**
 * Fast path for select_option: Playwright's selectOption on a <select> that is visible, enabled and not inert
 * matches each wanted string against option values and labels (whitespace-normalised), selects the matches and
 * fires input + change, all in the page; done here in one evaluation. A missing or disabled option, or any other
 * element, takes the locator path (which waits and reports Playwright's error).
 */
function selectScript(bid: string, wanted: readonly string[]): string {
  return `(() => {
  ${FAST_CHECKS}
  const el = document.querySelector(${JSON.stringify(bidSelector(bid))});
  if (!el) return 'notfound';
  if (el.tagName.toLowerCase() !== 'select' || !isVisible(el) || !isEnabled(el) || !isNonInert(el)) return null;
  const norm = (t) => t.replace(/[\u200b\u00ad]/g, '').trim().replace(/\s+/g, ' ');
  let remaining = ${JSON.stringify(wanted)};
  const chosen = [];
  const options = [...el.options];
  for (const option of options) {
    const label = norm(option.label);
    const matches = (w) => w === option.value || w === option.label || norm(w) === label;
    if (!remaining.some(matches)) continue;
    if (option.disabled || (option.parentElement && option.parentElement.disabled)) return null;
    chosen.push(option);
    if (el.multiple) remaining = remaining.filter((w) => !matches(w));
    else { remaining = []; break; }
  }
  if (remaining.length > 0) return null;
  el.value = undefined;
  for (const option of chosen) option.selected = true;
  el.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return 'done';
})()`;
}

/**
 * Fast path for check/uncheck on a native checkbox or radio: nothing to do when it is already in the wanted state,
 * else the pointer fast path's click; Playwright then verifies that the state changed. null: locator path.
 */
function checkStateScript(bid: string): string {
  return `(() => {
  const el = document.querySelector(${JSON.stringify(bidSelector(bid))});
  if (!el) return 'notfound';
  if (el.tagName.toLowerCase() !== 'input' || (el.type !== 'checkbox' && el.type !== 'radio')) return null;
  return { checked: el.checked, radio: el.type === 'radio' };
})()`;
}

async function fastSetChecked(page: Page, evaluate: Evaluate, bid: string, want: boolean): Promise<boolean> {
  const state = (await evaluate(checkStateScript(bid))) as { checked: boolean; radio: boolean } | 'notfound' | null;
  if (state === 'notfound') throw notFound(bid);
  if (state === null || (!want && state.radio)) return false;
  if (state.checked === want) return true;
  const pt = await pointerTarget(evaluate, bid, true);
  if (!pt) return false;
  await page.mouse.click(pt.x, pt.y);
  const after = (await evaluate(checkStateScript(bid))) as { checked: boolean } | 'notfound' | null;
  if (after === null || after === 'notfound' || after.checked !== want) {
    throw new Error(`locator.${want ? 'check' : 'uncheck'}: Clicking the checkbox did not change its state`);
  }
  return true;
}

async function withModifiers(page: Page, modifiers: readonly string[], f: () => Promise<void>): Promise<void> {
  for (const m of modifiers) await page.keyboard.down(m);
  try {
    await f();
  } finally {
    for (const m of [...modifiers].reverse()) await page.keyboard.up(m);
  }
}

export async function executeAction(page: Page, action: ParsedAction, o: ExecuteOptions): Promise<void> {
  const timeout = o.timeoutMs;
  const r = o.retryWithForce;
  const evaluate: Evaluate = o.evaluate ?? ((e) => page.evaluate(e));
  // Frame-prefixed bids go through frame locators.
  const fast = o.fast !== false && 'bid' in action.args && /^[0-9]+$/.test(String(action.args.bid));
  switch (action.name) {
    case 'click':
    case 'dblclick': {
      const { bid, button, modifiers } = action.args;
      const pt = fast ? await pointerTarget(evaluate, bid, true) : null;
      if (pt) {
        const mouse = page.mouse;
        const press = action.name === 'click' ? mouse.click.bind(mouse) : mouse.dblclick.bind(mouse);
        await withModifiers(page, modifiers, () => press(pt.x, pt.y, { button }));
        return;
      }
      const el = await elementByBid(page, bid);
      const opts = { button: action.args.button, modifiers: action.args.modifiers, timeout };
      const op = action.name === 'click' ? el.click.bind(el) : el.dblclick.bind(el);
      await withForceRetry(r, (force) => op({ ...opts, force }));
      return;
    }
    case 'hover': {
      const pt = fast ? await pointerTarget(evaluate, action.args.bid, false) : null;
      if (pt) {
        await page.mouse.move(pt.x, pt.y);
        return;
      }
      const el = await elementByBid(page, action.args.bid);
      await withForceRetry(r, (force) => el.hover({ timeout, force }));
      return;
    }
    case 'fill': {
      const { bid, value, enable_autocomplete_menu: autocomplete } = action.args;
      // Fill all but the last character, then type it, so keyboard-driven autocomplete menus open.
      const typed = autocomplete && value.length > 0 ? value.slice(0, -1) : value;
      if (fast && (await fastFill(page, evaluate, bid, typed))) {
        if (typed !== value) await page.keyboard.type(value.slice(-1));
        return;
      }
      const el = await elementByBid(page, bid);
      // Playwright's fill: an element that is not an <input>, <textarea> or [contenteditable] fails at once with an
      // Error (not a timeout), so there is no forced retry, and nothing is clicked or typed.
      await withForceRetry(r, async (force) => {
        await el.fill(typed, { timeout, force });
        if (typed !== value) await el.pressSequentially(value.slice(-1), { timeout });
      });
      return;
    }
    case 'clear': {
      if (fast && (await fastFill(page, evaluate, action.args.bid, ''))) return;
      const el = await elementByBid(page, action.args.bid);
      await el.clear({ timeout });
      return;
    }
    case 'select_option': {
      const opts = action.args.options;
      const list = typeof opts === 'string' ? [opts] : opts;
      if (fast) {
        const done = await evaluate(selectScript(action.args.bid, list));
        if (done === 'notfound') throw notFound(action.args.bid);
        if (done === 'done') return;
      }
      const el = await elementByBid(page, action.args.bid);
      await withForceRetry(r, (force) => el.selectOption(opts, { timeout, force }));
      return;
    }
    case 'check':
    case 'uncheck': {
      const want = action.name === 'check';
      await withForceRetry(r, async (force) => {
        if (!force && fast && (await fastSetChecked(page, evaluate, action.args.bid, want))) return;
        const el = await elementByBid(page, action.args.bid);
        await (want ? el.check({ timeout, force }) : el.uncheck({ timeout, force }));
      });
      return;
    }
    case 'focus': {
      const el = await elementByBid(page, action.args.bid);
      await el.focus({ timeout });
      return;
    }
    case 'press': {
      const el = await elementByBid(page, action.args.bid);
      await el.press(action.args.key_comb, { timeout });
      return;
    }
    case 'scroll':
      await page.mouse.wheel(action.args.delta_x, action.args.delta_y);
      // Wheel scrolling is applied (and may animate) after the event; wait until the page stops moving.
      await page.evaluate(WAIT_SCROLL_STABLE);
      return;
    case 'noop':
      if (action.args.wait_ms > 0) await page.waitForTimeout(action.args.wait_ms);
      return;
    case 'go_back':
      await page.goBack({ timeout: o.navigationTimeoutMs });
      return;
    case 'go_forward':
      await page.goForward({ timeout: o.navigationTimeoutMs });
      return;
    case 'send_msg_to_user':
      o.onMessage?.(action.args.text);
      return;
    case 'keyboard_press':
      await page.keyboard.press(action.args.key);
      return;
    case 'keyboard_type':
      await page.keyboard.type(action.args.text);
      return;
  }
}

/** BrowserGym's last_action_error text: `<ExceptionClass>: <message>`. */
export function actionErrorText(e: unknown): string {
  if (e instanceof ActionParseError) return e.errorText;
  if (e instanceof Error) {
    // Playwright messages may carry ANSI colour codes in their call logs.
    const msg = e.message.replace(/\u001b\[[0-9;]*m/g, '').trimEnd();
    const name = e.name && e.name !== 'Error' ? e.name : 'Error';
    return `${name}: ${msg}`;
  }
  return `Error: ${String(e)}`;
}

/** True when the error is a Playwright timeout (reported in info.action_exec_timeout like BrowserGym). */
export function isTimeoutError(e: unknown): boolean {
  return e instanceof Error && e.name === 'TimeoutError';
}
