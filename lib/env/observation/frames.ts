// Child frames, handled as BrowserGym does (observation.py): each same-process frame document is marked with its
// iframe element's bid as prefix (frame 'a' holds 'a0', 'a1', …; a frame inside it is 'ab'), its accessibility tree
// is read per frame and hung under the Iframe node of its parent, and focus is followed into the focused frame.
// Frames without script access (sandbox without allow-scripts) or that detach mid-way are skipped.
import type { Frame } from 'playwright-core';
import type { AXNode } from './axtree.ts';
import { BID_ATTR, markScript, type MarkResult } from './mark.ts';

/** The one method of a CDP session the observation code uses (lets a caller wrap it, e.g. to fail fast on a crash). */
export interface CdpSender {
  send(method: string, params?: object): Promise<unknown>;
}

export interface FrameMarks {
  /** iframe bid → the focused bid inside that frame. */
  focusedInFrame: Map<string, string>;
  visibility: Record<string, number>;
}

/** Marks every child frame of `frame`, depth first. */
export async function markChildFrames(frame: Frame, withVisibility: boolean, out: FrameMarks): Promise<void> {
  for (const child of frame.childFrames()) {
    try {
      if (child.isDetached()) continue;
      const el = await child.frameElement();
      const sandbox = await el.getAttribute('sandbox');
      if (sandbox !== null && !sandbox.split(/\s+/).includes('allow-scripts')) continue;
      const frameBid = await el.getAttribute(BID_ATTR);
      if (!frameBid) continue;
      const mark = (await child.evaluate(markScript(withVisibility, frameBid))) as MarkResult;
      out.focusedInFrame.set(frameBid, mark.focusedBid);
      Object.assign(out.visibility, mark.visibility ?? {});
      await markChildFrames(child, withVisibility, out);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (!/detached|Target closed|Execution context was destroyed/i.test(msg)) throw e;
    }
  }
}

/** The focused element's bid, descending into focused frames like BrowserGym's extract_focused_element_bid. */
export function focusedThroughFrames(topFocused: string, marks: FrameMarks): string {
  let bid = topFocused;
  for (let depth = 0; depth < 32 && marks.focusedInFrame.has(bid); depth++) bid = marks.focusedInFrame.get(bid)!;
  return bid;
}

interface FrameTreeNode {
  frame: { id: string };
  childFrames?: FrameTreeNode[];
}

/**
 * The accessibility trees of all frames merged into one node list (the top document's root first): each Iframe node
 * gets its frame's root as an extra child. Frames the page session cannot read (out-of-process) are left out.
 */
export async function mergedAxTree(cdp: CdpSender): Promise<AXNode[]> {
  const { frameTree } = (await cdp.send('Page.getFrameTree')) as unknown as { frameTree: FrameTreeNode };
  const ids: string[] = [];
  const walk = (n: FrameTreeNode) => {
    ids.push(n.frame.id);
    for (const c of n.childFrames ?? []) walk(c);
  };
  walk(frameTree);
  const trees = new Map<string, AXNode[]>();
  for (const frameId of ids) {
    try {
      const { nodes } = (await cdp.send('Accessibility.getFullAXTree', { frameId })) as unknown as { nodes: AXNode[] };
      if (nodes.length > 0) trees.set(frameId, nodes);
    } catch {
      // Out-of-process frame: not reachable from this session.
    }
  }
  const all: AXNode[] = [];
  for (const nodes of trees.values()) all.push(...nodes);
  for (const n of all) {
    if (n.role?.value !== 'Iframe' || n.backendDOMNodeId === undefined) continue;
    try {
      const d = (await cdp.send('DOM.describeNode', { backendNodeId: n.backendDOMNodeId })) as unknown as {
        node: { frameId?: string };
      };
      const sub = d.node.frameId ? trees.get(d.node.frameId) : undefined;
      if (sub) (n.childIds ??= []).push(sub[0]!.nodeId);
    } catch {
      // The iframe went away between the two calls.
    }
  }
  return all;
}
