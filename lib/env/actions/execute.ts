// Runs checked actions on a page through Playwright locators, as BrowserGym's action functions do
// (browsergym/core/action/functions.py): elements found by bid, a short per-action timeout, and an optional second
// try with `force` when the first one times out on actionability checks.
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { BID_ATTR } from '../observation/mark.ts';
import { ActionParseError } from './parser.ts';
import type { ParsedAction } from './parser.ts';

export interface ExecuteOptions {
  /** Timeout of each locator operation (BrowserGym: 500 ms). */
  timeoutMs: number;
  /** Retry a failed click/fill/select/hover/check with force (BrowserGym's MiniWoB benchmark: true). */
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

async function withForceRetry(
  retry: boolean,
  first: () => Promise<unknown>,
  forced: () => Promise<unknown>,
): Promise<void> {
  if (!retry) {
    await first();
    return;
  }
  try {
    await first();
  } catch {
    await forced();
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

/** Where to send pointer events for `bid` without waiting, or null when the locator path must decide. */
async function pointerTarget(page: Page, bid: string, needEnabled: boolean): Promise<Point | null> {
  if (!/^[0-9]+$/.test(bid)) return null; // frame-prefixed bids go through frame locators
  const r = (await page.evaluate(pointerTargetScript(bid, needEnabled))) as Point | 'notfound' | null;
  if (r === 'notfound') throw new ActionParseError('ValueError', `Could not find element with bid "${bid}"`);
  return r;
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
  switch (action.name) {
    case 'click':
    case 'dblclick': {
      const { bid, button, modifiers } = action.args;
      const pt = await pointerTarget(page, bid, true);
      if (pt) {
        const mouse = page.mouse;
        const press = action.name === 'click' ? mouse.click.bind(mouse) : mouse.dblclick.bind(mouse);
        await withModifiers(page, modifiers, () => press(pt.x, pt.y, { button }));
        return;
      }
      const el = await elementByBid(page, bid);
      const opts = { button: action.args.button, modifiers: action.args.modifiers, timeout };
      const op = action.name === 'click' ? el.click.bind(el) : el.dblclick.bind(el);
      await withForceRetry(r, () => op(opts), () => op({ ...opts, force: true }));
      return;
    }
    case 'hover': {
      const pt = await pointerTarget(page, action.args.bid, false);
      if (pt) {
        await page.mouse.move(pt.x, pt.y);
        return;
      }
      const el = await elementByBid(page, action.args.bid);
      await withForceRetry(r, () => el.hover({ timeout }), () => el.hover({ timeout, force: true }));
      return;
    }
    case 'fill': {
      const el = await elementByBid(page, action.args.bid);
      const { value, enable_autocomplete_menu: autocomplete } = action.args;
      const fill = async () => {
        if (autocomplete && value.length > 0) {
          // Fill all but the last character, then type it, so keyboard-driven autocomplete menus open.
          await el.fill(value.slice(0, -1), { timeout });
          await el.pressSequentially(value.slice(-1), { timeout });
        } else await el.fill(value, { timeout });
      };
      await withForceRetry(r, fill, async () => {
        await el.click({ force: true, timeout });
        await el.pressSequentially(value, { timeout });
      });
      return;
    }
    case 'clear': {
      const el = await elementByBid(page, action.args.bid);
      await el.clear({ timeout });
      return;
    }
    case 'select_option': {
      const el = await elementByBid(page, action.args.bid);
      const opts = action.args.options;
      await withForceRetry(
        r,
        () => el.selectOption(opts, { timeout }),
        () => el.selectOption(opts, { timeout, force: true }),
      );
      return;
    }
    case 'check':
    case 'uncheck': {
      const el = await elementByBid(page, action.args.bid);
      const op = action.name === 'check' ? el.check.bind(el) : el.uncheck.bind(el);
      await withForceRetry(r, () => op({ timeout }), () => el.click({ force: true, timeout }));
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
      await page.waitForTimeout(action.args.wait_ms);
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
