// One observation of a page: mark bids, read the accessibility tree (and, when asked, a DOM snapshot and a
// screenshot) over CDP, unmark, and format — BrowserGym's _pre_extract / extract_* / _post_extract sequence.
import type { CDPSession, Page } from 'playwright-core';
import { extractBids, flattenAxTree, type AXNode, type ExtraProps } from './axtree.ts';
import { clickableBids, prunedHtml, type DomSnapshot } from './dom.ts';
import { evaluateInAllFrames, focusedThroughFrames, markChildFrames, mergedAxTree, type FrameMarks } from './frames.ts';
import { markScript, UNMARK_SCRIPT, type MarkResult } from './mark.ts';

export interface ExtractOptions {
  /**
   * JS expression (may be a Promise) evaluated in the page right before marking, in the same round trip; its value
   * is returned as `probe`. Used to settle and validate without extra round trips.
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

/**
 * Extracts the page-dependent observation fields. The caller owns `cdp` (one session per page, reused across
 * steps: creating one costs a round trip).
 */
export async function extractPageObservation(
  page: Page,
  cdp: CDPSession,
  opts: ExtractOptions,
): Promise<PageObservation> {
  const flags = opts.axtreeFlags === true;
  const probeExpr = opts.probe ? `await (${opts.probe})` : 'undefined';
  const script = `(async () => ({ probe: ${probeExpr}, mark: ${markScript(flags)} }))()`;
  const { probe, mark } = (await page.evaluate(script)) as { probe: unknown; mark: MarkResult };
  // Frames cost extra round trips only on pages that have them.
  const hasFrames = page.frames().length > 1;
  const frames: FrameMarks = { focusedInFrame: new Map(), visibility: { ...(mark.visibility ?? {}) } };
  let nodes: AXNode[];
  let snapshot: DomSnapshot | undefined;
  try {
    if (hasFrames) await markChildFrames(page.mainFrame(), flags, frames);
    nodes = hasFrames
      ? await mergedAxTree(cdp)
      : ((await cdp.send('Accessibility.getFullAXTree')) as unknown as { nodes: AXNode[] }).nodes;
    if (opts.prunedHtml || flags) {
      snapshot = (await cdp.send('DOMSnapshot.captureSnapshot', {
        computedStyles: [],
        includeDOMRects: false,
        includePaintOrder: false,
      })) as unknown as DomSnapshot;
    }
  } finally {
    // Restore the page's own ARIA text (also when extraction failed half-way). Not awaited: commands to a page run
    // in order, so the next action or observation comes after it, and the step does not pay for the round trip.
    if (hasFrames) evaluateInAllFrames(page, UNMARK_SCRIPT);
    else page.evaluate(UNMARK_SCRIPT).catch(() => undefined);
  }
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
