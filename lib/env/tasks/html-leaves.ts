// Reads the text-only elements of an observation's pruned HTML (BrowserGym's prettified form: one node per line, one
// space of indent per level, `bid="…"` first among the attributes). Needed where the accessibility tree shows an
// element's text without its bid: MiniWoB's click-link links are bare `<span class="alink">`s, a generic role that
// BrowserGym's axtree_txt skips, so only `StaticText 'word'` remains there while the pruned HTML keeps
//   <span bid="13" class="alink">
//    word
//   </span>

export interface HtmlLeaf {
  bid: string;
  tag: string;
  /** The element's text, entities decoded. */
  text: string;
}

const OPEN = /^( *)<([a-z][\w-]*) bid="([^"]+)"[^>]*>$/;
const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"' };

/** Elements inside the page body whose only content is one text, in document order (the <head> is left out). */
export function prunedHtmlLeaves(prunedHtml: string): HtmlLeaf[] {
  const lines = prunedHtml.split('\n');
  const out: HtmlLeaf[] = [];
  let inHead = false;
  for (let i = 0; i + 2 < lines.length; i++) {
    const line = lines[i]!;
    if (/^ *<head[ >]/.test(line)) inHead = true;
    if (/^ *<\/head>$/.test(line)) inHead = false;
    const open = OPEN.exec(line);
    if (!open || inHead) continue;
    const [, indent, tag, bid] = open;
    const text = lines[i + 1]!;
    if (!text.startsWith(indent + ' ') || text[indent!.length + 1] === '<' || text[indent!.length + 1] === ' ') continue;
    if (lines[i + 2] !== `${indent}</${tag}>`) continue;
    out.push({ bid: bid!, tag: tag!, text: text.trim().replace(/&(?:amp|lt|gt|quot);/g, (e) => ENTITIES[e]!) });
  }
  return out;
}
