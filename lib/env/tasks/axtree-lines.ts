// Reads BrowserGym's `axtree_txt` back into records, for the scripted oracles. One line per node:
//   <tabs>[bid] role 'name'[ value='…'][, prop, prop=…]
// The bid part is absent for nodes without one (StaticText, RootWebArea, …); strings are Python reprs (single quotes
// unless the text holds a single quote and no double quote); bare props (`focused`) read as true.

export interface AxLine {
  /** Number of leading tabs. */
  depth: number;
  /** '' when the node has no bid. */
  bid: string;
  role: string;
  name: string;
  /** The ` value='…'` part, undefined when absent. */
  value?: string;
  /** Properties after the name/value; bare ones map to true, quoted ones to their decoded text. */
  props: Map<string, string | true>;
}

/** Decodes the Python string literal starting at `text[start]`; returns the text and the index after it. */
export function readPyString(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  if (quote !== "'" && quote !== '"') return undefined;
  let out = '';
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === quote) return { value: out, end: i + 1 };
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const esc = text[++i];
    if (esc === undefined) return undefined;
    const hexLen = esc === 'x' ? 2 : esc === 'u' ? 4 : esc === 'U' ? 8 : 0;
    if (hexLen) {
      const hex = text.slice(i + 1, i + 1 + hexLen);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexLen) return undefined;
      out += String.fromCodePoint(parseInt(hex, 16));
      i += hexLen;
    } else {
      out += ({ n: '\n', r: '\r', t: '\t', '0': '\0' } as Record<string, string>)[esc] ?? esc;
    }
  }
  return undefined;  // unterminated
}

const HEAD = /^(\t*)(?:\[([^\]\s]+)\] )?([A-Za-z][\w-]*) /;

/** Parses one line; undefined when it does not have the `[bid] role 'name'` shape. */
export function parseAxLine(line: string): AxLine | undefined {
  const head = HEAD.exec(line);
  if (!head) return undefined;
  const name = readPyString(line, head[0].length);
  if (!name) return undefined;
  const out: AxLine = { depth: head[1]!.length, bid: head[2] ?? '', role: head[3]!, name: name.value, props: new Map() };
  let i = name.end;
  if (line.startsWith(' value=', i)) {
    const value = readPyString(line, i + ' value='.length);
    if (!value) return undefined;
    out.value = value.value;
    i = value.end;
  }
  while (line.startsWith(', ', i)) {
    i += 2;
    const key = /^[\w-]+/.exec(line.slice(i));
    if (!key) return undefined;
    i += key[0].length;
    if (line[i] !== '=') {
      out.props.set(key[0], true);
      continue;
    }
    i++;
    const quoted = readPyString(line, i);
    if (quoted) {
      out.props.set(key[0], quoted.value);
      i = quoted.end;
    } else {
      const bare = /^[^,]*/.exec(line.slice(i))![0];
      out.props.set(key[0], bare);
      i += bare.length;
    }
  }
  return out;
}

/** All parseable lines of an axtree_txt, in document order. */
export function parseAxTree(axtreeTxt: string): AxLine[] {
  const out: AxLine[] = [];
  for (const line of axtreeTxt.split('\n')) {
    const parsed = parseAxLine(line);
    if (parsed) out.push(parsed);
  }
  return out;
}
