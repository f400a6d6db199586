// A shorter page structure for prompts (config `prompt_axtree_compact`). BrowserGym's tree repeats most text: Chrome
// splits every text run into InlineTextBox lines under its StaticText, a button's or link's label comes back as a
// StaticText child, a filled textbox shows its value again as a StaticText, a checkbox's label repeats its name, and
// empty text nodes take a line each.
// None of those lines has a bid, so no action can name them; dropping them keeps every element an action can target
// and every text the page shows once, and cuts MiniWoB prompts to roughly a third (book-flight's open date picker:
// ~2,700 tokens to ~1,000 with the suite's tokenizer). Lines whose children are dropped keep their place; children of
// a dropped line move up to its depth, so the indentation still says which element holds which.

interface AxLine {
  /** The line as BrowserGym wrote it, without its indentation. */
  text: string;
  depth: number;
  hasBid: boolean;
  role: string;
  /** The quoted name, unquoted; null when the line has no recognisable `role 'name'` head. */
  name: string | null;
  /** Whatever follows the name (`, focused`, `value='…'`, …); '' when nothing does. */
  rest: string;
  children: AxLine[];
}

// `[bid] role 'name', props` or `role "name"` (Python's repr picks double quotes for names holding a single quote).
const HEAD = /^(\[[^\]]+\] )?(\S+) (?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")(.*)$/;
const VALUE = /value=(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/;

function parseLine(raw: string): AxLine {
  const body = raw.replace(/^\t+/, '');
  const depth = raw.length - body.length;
  const m = HEAD.exec(body);
  if (!m) return { text: body, depth, hasBid: /^\[[^\]]+\] /.test(body), role: '', name: null, rest: '', children: [] };
  return { text: body, depth, hasBid: m[1] !== undefined, role: m[2]!, name: m[3] ?? m[4] ?? '', rest: m[5]!, children: [] };
}

/** Name and value of a line: a StaticText child repeating either adds nothing. */
function shownText(l: AxLine): string[] {
  const out = l.name ? [l.name] : [];
  const v = VALUE.exec(l.rest);
  if (v && (v[1] ?? v[2])) out.push(v[1] ?? v[2]!);
  return out;
}

function dropped(l: AxLine, parent: AxLine | null, before: AxLine | null, keptChildren: number): boolean {
  if (l.hasBid || l.name === null) return false;
  if (l.role === 'InlineTextBox') return true;
  if (l.name === '' && l.rest === '' && keptChildren === 0) return true;
  if (l.role === 'StaticText' && l.rest === '' && keptChildren === 0) {
    // The label text of the element just before it (a checkbox's or radio's <label>), or text its parent shows.
    if (before !== null && before.hasBid && before.name === l.name) return true;
    return parent !== null && shownText(parent).some((t) => t.includes(l.name!));
  }
  return false;
}

function render(l: AxLine, parent: AxLine | null, before: AxLine | null, depth: number, out: string[]): void {
  // Children first (at depth+1) to know whether an empty line still holds something.
  const kids: string[] = [];
  l.children.forEach((c, i) => render(c, l, i > 0 ? l.children[i - 1]! : null, depth + 1, kids));
  if (dropped(l, parent, before, kids.length)) {
    // The children take this line's depth.
    for (const k of kids) out.push(k.slice(1));
    return;
  }
  out.push('\t'.repeat(depth) + l.text, ...kids);
}

/** The tree without lines no action can name and whose text is shown elsewhere or empty (see the file comment). */
export function compactAxtree(axtree: string): string {
  const roots: AxLine[] = [];
  const stack: AxLine[] = [];
  for (const raw of axtree.split('\n')) {
    if (raw === '') continue;
    const l = parseLine(raw);
    while (stack.length > 0 && stack[stack.length - 1]!.depth >= l.depth) stack.pop();
    (stack.length > 0 ? stack[stack.length - 1]!.children : roots).push(l);
    stack.push(l);
  }
  const out: string[] = [];
  roots.forEach((r, i) => render(r, null, i > 0 ? roots[i - 1]! : null, r.depth, out));
  return out.join('\n');
}
