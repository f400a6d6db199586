// One observation of a page: mark bids, read the accessibility tree (and, when asked, a DOM snapshot and a
// screenshot) over CDP, and format — BrowserGym's _pre_extract / extract_* sequence.
//
// On a page without child frames an observation costs one round trip: the mark script (with the caller's probe in
// front of it) and the CDP reads are sent together on the page's own CDP session, which the renderer runs in order,
// so the tree is read after the marks are in place. When the probe has to wait (pending timers, a task that is not
// ready yet) the reads that went along are stale and are sent again after it.
import type { Page } from 'playwright-core';
import { extractBids, flattenAxTree, type AXNode, type ExtraProps } from './axtree.ts';
import { clickableBids, prunedHtml, type DomSnapshot } from './dom.ts';
import { focusedThroughFrames, markChildFrames, mergedAxTree, type CdpSender, type FrameMarks } from './frames.ts';
import { markScript, type MarkResult } from './mark.ts';

export interface ExtractOptions {
  /**
   * JS expression evaluated in the page right before marking, in the same round trip; its value is returned as
   * `probe`. When it evaluates to a Promise, marking waits for it. Used to set up, settle and validate without extra
   * round trips.
   */
  probe?: string;
  prunedHtml?: boolean;
  /** Add `clickable` / `visible` to axtree lines. */
  axtreeFlags?: boolean;
  screenshot?: boolean;
}

export interface PageObservation {
  axtree_txt: string;
  pruned_html: string;
  focused_element_bid: string;
  url: string;
  screenshot?: Buffer;
  probe?: unknown;
}

/** An exception thrown by page script, with the page's own message. */
export class PageScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PageScriptError';
  }
}

/** Reading the page failed after the probe ran; `probe` keeps its value, so a retry need not run it again. */
export class ObservationReadError extends Error {
  constructor(
    readonly reason: unknown,
    readonly probe: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.name = 'ObservationReadError';
  }
}

interface EvaluateResponse {
  result: { value?: unknown };
  exceptionDetails?: { text?: string; exception?: { description?: string } };
}

/**
 * Evaluates `expression` in the page's main world over `cdp` (awaiting a returned Promise) and returns its JSON value.
 * Cheaper than page.evaluate, which wraps every call in Playwright's own utility script.
 */
export async function evaluateInPage(cdp: CdpSender, expression: string): Promise<unknown> {
  const r = (await cdp.send('Runtime.evaluate', {
    expression,
    awaitPromise: true,
    returnByValue: true,
  })) as unknown as EvaluateResponse;
  if (r.exceptionDetails) {
    const d = r.exceptionDetails;
    const text = d.exception?.description ?? d.text ?? 'page script failed';
    throw new PageScriptError(text.split('\n')[0]!);
  }
  return r.result.value;
}

/**
 * The probe, then the mark pass. Synchronous (`sync: true`) when the probe's value is not a Promise, so CDP reads sent
 * right behind it see the marked page.
 */
function probeAndMarkScript(probe: string | undefined, withVisibility: boolean): string {
  return `(() => {
  const probe = ${probe ?? 'undefined'};
  const mark = () => ${markScript(withVisibility)};
  if (probe && typeof probe.then === 'function') {
    return probe.then((p) => ({ sync: false, probe: p, mark: mark() }));
  }
  return { sync: true, probe, mark: mark() };
})()`;
}

const SNAPSHOT_PARAMS = { computedStyles: [], includeDOMRects: false, includePaintOrder: false };

/** Sends the reads an observation needs, all at once; rejections are held until awaited. */
function sendReads(cdp: CdpSender, snapshot: boolean): { ax: Promise<AXNode[]>; snap?: Promise<DomSnapshot> } {
  const ax = cdp.send('Accessibility.getFullAXTree').then((r) => (r as unknown as { nodes: AXNode[] }).nodes);
  ax.catch(() => undefined);
  if (!snapshot) return { ax };
  const snap = cdp.send('DOMSnapshot.captureSnapshot', SNAPSHOT_PARAMS) as unknown as Promise<DomSnapshot>;
  snap.catch(() => undefined);
  return { ax, snap };
}

/**
 * Extracts the page-dependent observation fields. The caller owns `cdp` (one session per page, reused across
 * steps: creating one costs a round trip).
 */
export async function extractPageObservation(
  page: Page,
  cdp: CdpSender,
  opts: ExtractOptions,
): Promise<PageObservation> {
  const flags = opts.axtreeFlags === true;
  const wantSnapshot = opts.prunedHtml === true || flags;
  const script = probeAndMarkScript(opts.probe, flags);
  // Frames cost extra round trips only on pages that have them.
  const hasFrames = page.frames().length > 1;
  const frames: FrameMarks = { focusedInFrame: new Map(), visibility: {} };
  let nodes: AXNode[];
  let snapshot: DomSnapshot | undefined;
  let result: { sync: boolean; probe: unknown; mark: MarkResult };
  if (!hasFrames) {
    const evaluated = evaluateInPage(cdp, script);
    let reads = sendReads(cdp, wantSnapshot);
    result = (await evaluated) as typeof result;
    try {
      if (!result.sync) reads = sendReads(cdp, wantSnapshot);
      nodes = await reads.ax;
      snapshot = await reads.snap;
    } catch (e) {
      throw new ObservationReadError(e, result.probe);
    }
  } else {
    result = (await evaluateInPage(cdp, script)) as typeof result;
    try {
      await markChildFrames(page.mainFrame(), flags, frames);
      nodes = await mergedAxTree(cdp);
      if (wantSnapshot) {
        snapshot = (await cdp.send('DOMSnapshot.captureSnapshot', SNAPSHOT_PARAMS)) as unknown as DomSnapshot;
      }
    } catch (e) {
      throw new ObservationReadError(e, result.probe);
    }
  }
  const { probe, mark } = result;
  Object.assign(frames.visibility, mark.visibility ?? {});
  extractBids(nodes);
  let extra: Map<string, ExtraProps> | undefined;
  if (flags && snapshot) {
    const clickable = clickableBids(snapshot);
    extra = new Map();
    for (const [bid, visibility] of Object.entries(frames.visibility)) {
      extra.set(bid, { visibility, clickable: clickable.has(bid) });
    }
  }
  const axtree_txt = flattenAxTree(nodes, { extra, withClickable: flags, withVisible: flags });
  const obs: PageObservation = {
    axtree_txt,
    pruned_html: opts.prunedHtml && snapshot ? prunedHtml(snapshot) : '',
    focused_element_bid: focusedThroughFrames(mark.focusedBid, frames),
    url: page.url(),
    probe,
  };
  if (opts.screenshot) obs.screenshot = await page.screenshot({ type: 'png' });
  return obs;
}
