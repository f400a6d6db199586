// One episode's page with everything that belongs to it (its isolated context, CDP session and per-page state). A
// handle is replaced as a whole when the browser dies, the renderer crashes or the page stops responding, so work
// still running on an old handle can only touch that dead page, never its successor.
import type { BrowserContext, Page, Route } from 'playwright-core';
import type { BrowserHost } from './browser.ts';
import { within } from './deadline.ts';
import type { CdpSender } from './observation/frames.ts';

export interface PageHandle {
  context: BrowserContext;
  page: Page;
  /** The page's CDP session; every call fails at once when the page crashes or closes (a raw session would wait). */
  cdp: CdpSender;
  /** Browser generation the context was made in (BrowserHost.isAlive). */
  generation: number;
  /** URL of the task page set up on this page ('' until one is): what an in-place reset may reuse. */
  loadedUrl: string;
  /** The page's renderer process died (the browser may be fine): the page must be replaced. */
  crashed: boolean;
  /** A second page (popup, target=_blank) opened since the last reset: BrowserGym's "invalid page" end. */
  leftPage: boolean;
}

export interface OpenPageOptions {
  viewport: { width: number; height: number };
  /** Default timeout of Playwright calls on the page. */
  timeoutMs: number;
  /** Script run in every document before the page's own (timer tracking). */
  initScript: string;
  /** Decides every request of the context (serve built-in pages, keep everything else off the network). */
  route: (route: Route) => Promise<void>;
}

/**
 * CDP calls that fail as soon as the page is lost (crashed or closed) instead of waiting on a renderer that will never
 * answer. Each pending call registers its own reject, dropped when it settles: racing every call against one promise
 * that stays pending for the page's life would leave a reaction on that promise per call, each holding its call's
 * response (a DOM snapshot, an accessibility tree) until the page closes — about 150 KB per episode on a page that is
 * reset in place for a whole run.
 */
export function untilLost(send: CdpSender['send']): { call: CdpSender['send']; lose: (e: Error) => void } {
  const pending = new Set<(e: Error) => void>();
  let lostWith: Error | null = null;
  const call: CdpSender['send'] = (method, params) => {
    if (lostWith) return Promise.reject(lostWith);
    return new Promise<unknown>((resolve, reject) => {
      pending.add(reject);
      send(method, params).then(
        (value) => {
          pending.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          pending.delete(reject);
          reject(error);
        },
      );
    });
  };
  const lose = (e: Error) => {
    if (lostWith) return;
    lostWith = e;
    for (const reject of pending) reject(e);
    pending.clear();
  };
  return { call, lose };
}

/** A fresh isolated context and page on the live browser. */
export async function openPageHandle(host: BrowserHost, o: OpenPageOptions): Promise<PageHandle> {
  const { context, generation } = await host.newContext({ viewport: o.viewport, acceptDownloads: false });
  try {
    context.setDefaultTimeout(o.timeoutMs);
    await context.route('**/*', o.route);
    await context.addInitScript(o.initScript);
    const page = await context.newPage();
    const session = await context.newCDPSession(page);
    // Playwright types send() per method; the observation code passes method names and params through as given.
    const send = session.send.bind(session) as CdpSender['send'];
    const { call, lose } = untilLost(send);
    const h: PageHandle = {
      context,
      page,
      cdp: { send: call },
      generation,
      loadedUrl: '',
      crashed: false,
      leftPage: false,
    };
    page.on('crash', () => {
      h.crashed = true;
      lose(new Error('Target crashed'));
    });
    page.on('close', () => lose(new Error('Target page, context or browser has been closed')));
    // Only the task page counts; any other page (popup, target=_blank) is closed at once and ends the episode, like
    // BrowserGym's validate on a page that is not the task's.
    context.on('page', (p) => {
      if (p === page) return;
      h.leftPage = true;
      p.close().catch(() => undefined);
    });
    return h;
  } catch (e) {
    await within(context.close(), o.timeoutMs);
    throw e;
  }
}

/** How a close went: the context closed, only the page target closed, or neither within the bound. */
export type CloseOutcome = 'closed' | 'page-only' | 'stuck';

/** What closePageHandle needs of a handle (fakes in tests provide just this). */
export interface Closable {
  context: Pick<BrowserContext, 'close'>;
  page: Pick<Page, 'close'>;
}

/**
 * Closes a page and its context without waiting on the page: the context first (Target.disposeBrowserContext kills
 * its renderers; a page spinning in a loop goes in ~20 ms, where closing the page target alone takes ~0.5 s and
 * leaves a renderer behind), then, if that does not finish within `timeoutMs`, the page target itself without
 * beforeunload handlers. 'stuck' means the browser answers neither: the caller must kill it.
 */
export async function closePageHandle(h: Closable, timeoutMs: number): Promise<CloseOutcome> {
  const ctx = await within(h.context.close(), timeoutMs);
  if (ctx.kind !== 'overran') return 'closed';
  const page = await within(h.page.close({ runBeforeUnload: false }), timeoutMs);
  return page.kind === 'overran' ? 'stuck' : 'page-only';
}
