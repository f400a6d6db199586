// DOM snapshot → pruned HTML, following BrowserGym's flatten_dom_to_str + prune_html (browsergym/utils/obs.py), which
// print CDP DOMSnapshot.captureSnapshot as HTML, then re-parse and prettify it with BeautifulSoup. Here the same
// steps run on a small tree instead of strings:
//   1. flatten: elements with their attributes (bid first, BrowserGym's own marker attributes dropped, the ARIA bid
//      prefixes stripped), text and CDATA; comments, doctypes and documents skipped (their text too); iframe
//      documents inlined; adjacent texts merged as an HTML parser would;
//   2. prune: unwrap html/body; drop style, link, script, br; a div/span/i/p whose only attribute is bid is dropped
//      when empty, else unwrapped;
//   3. prettify like BeautifulSoup: one node per line, one space of indent per level, texts stripped, whitespace-only
//      texts dropped, void elements as <tag/>.
// Deliberate difference: CSS pseudo-elements (::before, ::marker, …) are left out; BrowserGym leaks them as literal
// `&lt;::before&gt;` text.
import { BID_ATTR } from './mark.ts';

/** The parts of CDP DOMSnapshot.captureSnapshot used here. */
export interface DomSnapshot {
  strings: string[];
  documents: Array<{
    nodes: {
      parentIndex?: number[];
      nodeType?: number[];
      nodeName?: number[];
      nodeValue?: number[];
      attributes?: number[][];
      contentDocumentIndex?: { index: number[]; value: number[] };
      isClickable?: { index: number[] };
      pseudoType?: { index: number[]; value: number[] };
    };
  }>;
}

export type HtmlNode =
  | { type: 'element'; tag: string; attrs: Array<[string, string]>; children: HtmlNode[] }
  | { type: 'text'; text: string };

const MARKER_ATTRS = new Set(['browsergym_visibility_ratio', 'browsergym_set_of_marks']);
const ARIA_BID = /^browsergym_id_[a-zA-Z0-9]+\s?/;
const VOID_TAGS = new Set([
  'area', 'base', 'basefont', 'bgsound', 'br', 'col', 'command', 'embed', 'frame', 'hr', 'image', 'img', 'input',
  'isindex', 'keygen', 'link', 'menuitem', 'meta', 'nextid', 'param', 'source', 'spacer', 'track', 'wbr',
]);

/** Step 1: the snapshot as a tree of elements and texts. */
export function snapshotToTree(snap: DomSnapshot): HtmlNode[] {
  const str = (i: number | undefined) => (i === undefined || i < 0 ? null : (snap.strings[i] ?? null));

  const documentNodes = (docIdx: number): HtmlNode[] => {
    const nodes = snap.documents[docIdx]?.nodes;
    if (!nodes?.nodeType || !nodes.parentIndex) return [];
    const n = nodes.nodeType.length;
    const children: number[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < n; i++) {
      const p = nodes.parentIndex[i]!;
      if (p >= 0) children[p]!.push(i);
    }
    const pseudo = new Set(nodes.pseudoType?.index ?? []);
    const frameDoc = new Map<number, number>();
    const cdi = nodes.contentDocumentIndex;
    cdi?.index.forEach((nodeIdx, k) => frameDoc.set(nodeIdx, cdi.value[k]!));

    // Returns the nodes this DOM node contributes to its parent's child list.
    const visit = (i: number, parentSkipped: boolean): HtmlNode[] => {
      const type = nodes.nodeType![i]!;
      const out: HtmlNode[] = [];
      let self: HtmlNode | null = null;
      let skipped = false;
      if (type === 3 || type === 4) {
        const v = str(nodes.nodeValue?.[i]);
        if (!parentSkipped && v !== null) out.push({ type: 'text', text: type === 4 ? `<!CDATA[[${v}]]>` : v });
      } else if (type !== 1) {
        skipped = true;
      } else {
        if (pseudo.has(i)) return [];
        const tag = (str(nodes.nodeName?.[i]) ?? '').toLowerCase().trim();
        const raw = nodes.attributes?.[i] ?? [];
        let bid: string | null = null;
        const attrs: Array<[string, string]> = [];
        for (let k = 0; k + 1 < raw.length; k += 2) {
          const name = str(raw[k]) ?? '';
          let value = str(raw[k + 1]) ?? '';
          if (name === BID_ATTR) bid = value;
          else if (MARKER_ATTRS.has(name)) continue;
          else {
            if (name === 'aria-roledescription' || name === 'aria-description') {
              value = value.replace(ARIA_BID, '');
              if (value === '') continue;
            }
            attrs.push([name, value]);
          }
        }
        if (bid !== null) attrs.unshift([BID_ATTR, bid]);
        self = { type: 'element', tag, attrs, children: [] };
        out.push(self);
      }
      const kids: HtmlNode[] = [];
      const sub = frameDoc.get(i);
      if (sub !== undefined) kids.push(...documentNodes(sub));
      for (const c of children[i]!) kids.push(...visit(c, skipped));
      if (self && self.type === 'element') self.children = mergeTexts(kids);
      else out.push(...kids);
      return out;
    };
    return n > 0 ? mergeTexts(visit(0, false)) : [];
  };
  return documentNodes(0);
}

function mergeTexts(nodes: HtmlNode[]): HtmlNode[] {
  const out: HtmlNode[] = [];
  for (const n of nodes) {
    const last = out[out.length - 1];
    if (n.type === 'text' && last?.type === 'text') out[out.length - 1] = { type: 'text', text: last.text + n.text };
    else out.push(n);
  }
  return out;
}

/** Step 2: BrowserGym's prune_html rules, children first (it walks tags in reverse document order). */
export function pruneTree(nodes: HtmlNode[]): HtmlNode[] {
  const out: HtmlNode[] = [];
  for (const n of nodes) {
    if (n.type === 'text') {
      // prune_html turns newlines into spaces before re-parsing.
      out.push({ type: 'text', text: n.text.replace(/\n/g, ' ') });
      continue;
    }
    const children = pruneTree(n.children);
    if (n.tag === 'html' || n.tag === 'body') out.push(...children);
    else if (n.tag === 'style' || n.tag === 'link' || n.tag === 'script' || n.tag === 'br') continue;
    else if (['div', 'span', 'i', 'p'].includes(n.tag) && n.attrs.length === 1 && n.attrs[0]![0] === BID_ATTR) {
      out.push(...children);
    } else out.push({ ...n, children });
  }
  return out;
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** BeautifulSoup's attribute quoting: double quotes, single quotes if the value has ", &quot; if it has both. */
function attrText(name: string, value: string): string {
  let v = escapeText(name === 'class' ? value.trim().split(/\s+/).join(' ') : value);
  if (v.includes('"')) {
    if (v.includes("'")) v = `"${v.replace(/"/g, '&quot;')}"`;
    else v = `'${v}'`;
  } else v = `"${v}"`;
  return `${name}=${v}`;
}

/** Step 3: BeautifulSoup-style prettify with a one-space indent. */
export function prettify(nodes: HtmlNode[]): string {
  const lines: string[] = [];
  const walk = (ns: HtmlNode[], depth: number) => {
    const pad = ' '.repeat(depth);
    for (const n of ns) {
      if (n.type === 'text') {
        const t = n.text.trim();
        if (t) lines.push(pad + escapeText(t));
        continue;
      }
      const open = `<${n.tag}${n.attrs.map(([k, v]) => ' ' + attrText(k, v)).join('')}`;
      if (VOID_TAGS.has(n.tag)) {
        lines.push(`${pad}${open}/>`);
        continue;
      }
      lines.push(`${pad}${open}>`);
      walk(n.children, depth + 1);
      lines.push(`${pad}</${n.tag}>`);
    }
  };
  walk(nodes, 0);
  return lines.join('\n');
}

/** BrowserGym's `prune_html(flatten_dom_to_str(snapshot))`. */
export function prunedHtml(snap: DomSnapshot): string {
  return prettify(pruneTree(snapshotToTree(snap)));
}

/** bid → whether Chromium marks the node clickable (DOMSnapshot isClickable), over all documents. */
export function clickableBids(snap: DomSnapshot): Set<string> {
  const out = new Set<string>();
  const bidString = snap.strings.indexOf(BID_ATTR);
  if (bidString < 0) return out;
  for (const doc of snap.documents) {
    const attrs = doc.nodes.attributes ?? [];
    for (const i of doc.nodes.isClickable?.index ?? []) {
      const a = attrs[i] ?? [];
      for (let k = 0; k + 1 < a.length; k += 2) {
        if (a[k] === bidString) out.add(snap.strings[a[k + 1]!]!);
      }
    }
  }
  return out;
}
