// Bids for text-only elements in the page structure a prompt shows. BrowserGym's accessibility tree skips generic
// elements, so a bare `<span>` that a task wants clicked (MiniWoB's click-link links) appears only as a bid-less
// `StaticText 'word'` line, and its bid exists only in the pruned HTML. With `prompt_text_bids` the prompt puts that
// bid on the StaticText line (`[23] StaticText 'accumsan.'`), in the tree's own `[bid] role 'name'` form, so a policy
// can name the element the same way it names any other; the constrained actions already offer those bids.
import { prunedHtmlLeaves } from '../env/tasks/html-leaves.ts';

const STATIC_TEXT = /^(\s*)StaticText '(.*)'$/;
const BID = /^\s*\[([^\]]+)\] /;

/**
 * The tree with `[bid] ` put before each bid-less StaticText line whose text is the whole text of one pruned-HTML
 * element that the tree shows nowhere else. Elements are matched in document order (the n-th line with a text takes
 * the n-th element with it), so repeated words get their own bids. Without pruned HTML the tree is returned as is.
 */
export function withTextBids(axtree: string, prunedHtml: string): string {
  if (!prunedHtml) return axtree;
  const lines = axtree.split('\n');
  const treeBids = new Set(lines.map((l) => BID.exec(l)?.[1]).filter((b): b is string => b !== undefined));
  const byText = new Map<string, string[]>();
  for (const leaf of prunedHtmlLeaves(prunedHtml)) {
    if (treeBids.has(leaf.bid)) continue;
    const list = byText.get(leaf.text) ?? [];
    list.push(leaf.bid);
    byText.set(leaf.text, list);
  }
  if (byText.size === 0) return axtree;
  return lines
    .map((line) => {
      const m = STATIC_TEXT.exec(line);
      const bid = m ? byText.get(m[2]!)?.shift() : undefined;
      return bid === undefined ? line : `${m![1]}[${bid}] StaticText '${m![2]}'`;
    })
    .join('\n');
}
