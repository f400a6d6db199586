// Parser for BrowserGym's high-level action syntax: Python-style calls such as `click('13')`,
// `fill('14', "it's")`, `select_option('7', ['a', 'b'])`, `scroll(0, -200.5)`. A hand-written recursive-descent
// port of BrowserGym's pyparsing grammar (action/parsers.py) — the text is never evaluated.
//
// Grammar (whitespace and `# comments` allowed between tokens):
//   calls    := call+
//   call     := IDENT '(' [args] ')'
//   args     := item (',' item)* [',']            positional items before named ones
//   item     := element | IDENT '=' element
//   element  := STRING | NUMBER | dict | list | tuple | 'True' | 'False' | 'None'
// Non-strict mode (BrowserGym's default) picks every call-shaped span out of surrounding prose.
//
// Parsing time is linear in the text (an action arrives from a model or over the network, so no input may make it
// slow): values are memoised by position (packrat), a string that never closes is not scanned again from a later
// quote of the same kind, and the search for calls in prose never restarts inside a name it has already read.
// Texts longer than MAX_ACTION_CHARS and nesting deeper than MAX_NESTING are rejected outright.
import { pyReprStr, pyReprFloat } from '../observation/pyrepr.ts';
import {
  ACTION_SIGNATURES,
  isActionName,
  MAX_ACTION_CHARS,
  type ActionArgs,
  type ActionName,
  type ParamSpec,
} from './signatures.ts';

/** A Python literal as written in the action text. */
export type PyLiteral =
  | { kind: 'str'; value: string }
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  | { kind: 'list'; items: PyLiteral[] }
  | { kind: 'tuple'; items: PyLiteral[] }
  | { kind: 'dict'; entries: Array<[string, PyLiteral]> };

/** One call as written, before it is checked against a signature. */
export interface RawCall {
  name: string;
  args: PyLiteral[];
  kwargs: Array<{ name: string; value: PyLiteral }>;
  /** The exact text of the call. */
  source: string;
}

/** A checked action: known name, arguments bound to parameters, defaults filled, types verified. */
export type ParsedAction = { [K in ActionName]: { name: K; args: ActionArgs[K]; source: string } }[ActionName];

/** Python exception class BrowserGym would raise for the same input; used in `last_action_error`. */
export type PyErrorType = 'ValueError' | 'NameError' | 'TypeError';

export class ActionParseError extends Error {
  readonly pyType: PyErrorType;
  constructor(pyType: PyErrorType, message: string) {
    super(message);
    this.name = 'ActionParseError';
    this.pyType = pyType;
  }
  /** `ValueError: ...` — the text BrowserGym puts in last_action_error. */
  get errorText(): string {
    return `${this.pyType}: ${this.message}`;
  }
}

export interface ParseOptions {
  /** Whole text must be calls (true) or calls are searched inside prose (false, BrowserGym's default). */
  strict?: boolean;
  /** Allow more than one call (BrowserGym's MiniWoB benchmark uses single actions). */
  multiaction?: boolean;
}

class Failure {
  constructor(readonly pos: number, readonly expected: string) {}
}

/** Deepest nesting of lists, tuples and dicts (bounds the parser's recursion). */
export const MAX_NESTING = 64;

const IDENT = /[A-Za-z_\p{L}][\w\p{L}\p{N}]*/uy;
const NUMBER = /[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/y;
const WS = /(?:[ \t\r\n]+|#[^\n]*)*/y;

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '',
};

/** Decodes the Python escape starting after a backslash at `i`; returns the text and the characters consumed. */
function decodeEscape(t: string, i: number): [string, number] {
  const e = t[i]!;
  if (e in SIMPLE_ESCAPES) return [SIMPLE_ESCAPES[e]!, 1];
  const oct = /^[0-7]{1,3}/.exec(t.slice(i, i + 3));
  if (oct) return [String.fromCodePoint(parseInt(oct[0], 8)), oct[0].length];
  const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
  if (hexLen > 0) {
    const hex = t.slice(i + 1, i + 1 + hexLen);
    const cp = parseInt(hex, 16);
    if (hex.length === hexLen && /^[0-9a-fA-F]+$/.test(hex) && cp <= 0x10ffff) {
      return [String.fromCodePoint(cp), 1 + hexLen];
    }
  }
  return ['\\' + e, 1];
}

/** Recursive-descent reader over one string; every method either advances `pos` or throws Failure. */
class Reader {
  pos = 0;
  /** element() results by start position: a value reached again (from another call's search) is not re-parsed. */
  private readonly elements = new Map<number, { value: PyLiteral; end: number } | Failure>();
  /**
   * Per quote kind, the earliest opening quote whose string never closes. A later opening of the same kind cannot
   * close either: its scan joins the earlier one's (a quote is never inside an escape except as its escaped
   * character), so it fails at once instead of scanning to the end again.
   */
  private readonly unclosed = new Map<string, number>();
  private depth = 0;
  constructor(readonly text: string) {}

  skip(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.text);
    this.pos = WS.lastIndex;
  }

  peek(s: string): boolean {
    this.skip();
    return this.text.startsWith(s, this.pos);
  }

  expect(s: string): void {
    if (!this.peek(s)) throw new Failure(this.pos, `'${s}'`);
    this.pos += s.length;
  }

  ident(): string {
    this.skip();
    IDENT.lastIndex = this.pos;
    const m = IDENT.exec(this.text);
    if (!m) throw new Failure(this.pos, 'a name');
    this.pos = IDENT.lastIndex;
    return m[0];
  }

  call(): RawCall {
    this.skip();
    const start = this.pos;
    const name = this.ident();
    this.expect('(');
    const args: PyLiteral[] = [];
    const kwargs: RawCall['kwargs'] = [];
    while (!this.peek(')')) {
      const named = this.namedStart();
      if (named !== null) kwargs.push({ name: named, value: this.element() });
      else if (kwargs.length > 0) throw new Failure(this.pos, 'a keyword argument (positional after keyword)');
      else args.push(this.element());
      if (this.peek(',')) this.pos += 1;
      else if (!this.peek(')')) throw new Failure(this.pos, "',' or ')'");
    }
    this.pos += 1;
    return { name, args, kwargs, source: this.text.slice(start, this.pos) };
  }

  /** `name =` (not `==`) at the cursor: consume it and return the name; else leave the cursor alone. */
  namedStart(): string | null {
    const save = this.pos;
    this.skip();
    IDENT.lastIndex = this.pos;
    const m = IDENT.exec(this.text);
    if (m && !['True', 'False', 'None'].includes(m[0])) {
      this.pos = IDENT.lastIndex;
      if (this.peek('=') && !this.text.startsWith('==', this.pos)) {
        this.pos += 1;
        return m[0];
      }
    }
    this.pos = save;
    return null;
  }

  element(): PyLiteral {
    this.skip();
    const start = this.pos;
    const memo = this.elements.get(start);
    if (memo instanceof Failure) throw memo;
    if (memo) {
      this.pos = memo.end;
      return memo.value;
    }
    try {
      const value = this.elementAt();
      this.elements.set(start, { value, end: this.pos });
      return value;
    } catch (e) {
      if (e instanceof Failure) this.elements.set(start, e);
      throw e;
    }
  }

  private elementAt(): PyLiteral {
    const c = this.text[this.pos];
    if (c === '"' || c === "'") return { kind: 'str', value: this.string() };
    NUMBER.lastIndex = this.pos;
    const num = NUMBER.exec(this.text);
    if (num) {
      this.pos = NUMBER.lastIndex;
      const isFloat = /[.eE]/.test(num[0]);
      return { kind: isFloat ? 'float' : 'int', value: Number(num[0]) };
    }
    if (c === '{') return this.dict();
    if (c === '[') return { kind: 'list', items: this.sequence('[', ']') };
    if (c === '(') return { kind: 'tuple', items: this.sequence('(', ')') };
    for (const [word, lit] of [
      ['True', { kind: 'bool', value: true }],
      ['False', { kind: 'bool', value: false }],
      ['None', { kind: 'none' }],
    ] as const) {
      if (this.text.startsWith(word, this.pos) && !/[\w\p{L}\p{N}]/u.test(this.text[this.pos + word.length] ?? '')) {
        this.pos += word.length;
        return lit;
      }
    }
    throw new Failure(this.pos, 'a value (string, number, list, dict, True, False or None)');
  }

  /** Runs `f` one nesting level deeper; too deep is an error for the whole text (not a Failure to search past). */
  private nested<T>(f: () => T): T {
    if (this.depth >= MAX_NESTING) {
      throw new ActionParseError('ValueError', `action nests lists, tuples or dicts deeper than ${MAX_NESTING} levels`);
    }
    this.depth += 1;
    try {
      return f();
    } finally {
      this.depth -= 1;
    }
  }

  sequence(open: string, close: string): PyLiteral[] {
    this.expect(open);
    return this.nested(() => {
      const items: PyLiteral[] = [];
      while (!this.peek(close)) {
        items.push(this.element());
        if (this.peek(',')) this.pos += 1;
        else if (!this.peek(close)) throw new Failure(this.pos, `',' or '${close}'`);
      }
      this.pos += close.length;
      return items;
    });
  }

  dict(): PyLiteral {
    this.expect('{');
    return this.nested(() => {
      const entries: Array<[string, PyLiteral]> = [];
      while (!this.peek('}')) {
        this.skip();
        const q = this.text[this.pos];
        if (q !== '"' && q !== "'") throw new Failure(this.pos, 'a string key');
        const key = this.string();
        this.expect(':');
        entries.push([key, this.element()]);
        if (this.peek(',')) this.pos += 1;
        else if (!this.peek('}')) throw new Failure(this.pos, "',' or '}'");
      }
      this.pos += 1;
      return { kind: 'dict', entries };
    });
  }

  /**
   * A quoted string ('…', "…", '''…''', """…"""), newlines allowed, escapes decoded as in Python string
   * literals (what the model writes: \n \t \\ \' \" \xNN \uNNNN \UNNNNNNNN, octal, \a \b \f \v; an unknown escape keeps
   * its backslash, a backslash-newline joins lines).
   */
  string(): string {
    const t = this.text;
    const q = t.startsWith('"""', this.pos) ? '"""' : t.startsWith("'''", this.pos) ? "'''" : t[this.pos]!;
    const unclosed = () => new Failure(this.pos, `a closing ${q}`);
    if (this.pos >= (this.unclosed.get(q) ?? Infinity)) throw unclosed();
    let i = this.pos + q.length;
    let out = '';
    for (;;) {
      if (i >= t.length) {
        this.unclosed.set(q, Math.min(this.pos, this.unclosed.get(q) ?? Infinity));
        throw unclosed();
      }
      if (t.startsWith(q, i)) break;
      const ch = t[i]!;
      if (ch === '\\' && i + 1 < t.length) {
        const [text, used] = decodeEscape(t, i + 1);
        out += text;
        i += 1 + used;
      } else {
        out += ch;
        i += 1;
      }
    }
    this.pos = i + q.length;
    return out;
  }

  /** One or more consecutive calls starting at the cursor (BrowserGym's `DelimitedList(call, delim="")`). */
  calls(): RawCall[] {
    const out = [this.call()];
    for (;;) {
      const save = this.pos;
      try {
        out.push(this.call());
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        this.pos = save;
        return out;
      }
    }
  }
}

/**
 * Every call in `text`. Strict: the whole text must be calls, else a ValueError naming the position.
 * Non-strict: calls are collected left to right from any position, prose in between is ignored.
 */
export function parseCalls(text: string, strict = false): RawCall[] {
  const r = new Reader(text);
  if (strict) {
    try {
      const calls = r.calls();
      r.skip();
      if (r.pos !== text.length) throw new Failure(r.pos, 'end of text');
      return calls;
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      throw new ActionParseError('ValueError', `Could not parse action at character ${e.pos}: expected ${e.expected}.`);
    }
  }
  const found: RawCall[] = [];
  let loc = 0;
  while (loc < text.length) {
    r.pos = loc;
    r.skip();
    const start = r.pos;
    try {
      found.push(...r.calls());
      loc = r.pos > start ? r.pos : start + 1;
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      // A search starting inside the name just read would read the rest of that name and then fail in exactly the
      // same way: go on after the name (without this, a long run of letters costs quadratic time).
      IDENT.lastIndex = start;
      loc = IDENT.exec(text) ? IDENT.lastIndex : start + 1;
    }
  }
  return found;
}

/** Python's name for a literal's type, for TypeError messages. */
function pyTypeName(v: PyLiteral): string {
  return v.kind === 'none' ? 'NoneType' : v.kind;
}

/** Python repr of a literal, for error messages. */
export function literalRepr(v: PyLiteral): string {
  switch (v.kind) {
    case 'str':
      return pyReprStr(v.value);
    case 'int':
      return String(v.value);
    case 'float':
      return pyReprFloat(v.value);
    case 'bool':
      return v.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'list':
      return '[' + v.items.map(literalRepr).join(', ') + ']';
    case 'tuple':
      return '(' + v.items.map(literalRepr).join(', ') + (v.items.length === 1 ? ',)' : ')');
    case 'dict':
      return '{' + v.entries.map(([k, x]) => `${pyReprStr(k)}: ${literalRepr(x)}`).join(', ') + '}';
  }
}

function quotedList(names: string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length === 1) return q[0]!;
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

/** Binds positional/keyword arguments like a Python call, with CPython's TypeError messages. */
function bind(call: RawCall, params: readonly ParamSpec[]): Map<string, PyLiteral> {
  const fn = `${call.name}()`;
  const required = params.filter((p) => p.default === undefined).length;
  if (call.args.length > params.length) {
    const takes =
      required === params.length
        ? `${params.length} positional argument${params.length === 1 ? '' : 's'}`
        : `from ${required} to ${params.length} positional arguments`;
    const n = call.args.length;
    throw new ActionParseError('TypeError', `${fn} takes ${takes} but ${n} ${n === 1 ? 'was' : 'were'} given`);
  }
  const bound = new Map<string, PyLiteral>();
  call.args.forEach((v, i) => bound.set(params[i]!.name, v));
  for (const { name, value } of call.kwargs) {
    if (!params.some((p) => p.name === name)) {
      throw new ActionParseError('TypeError', `${fn} got an unexpected keyword argument '${name}'`);
    }
    if (bound.has(name)) throw new ActionParseError('TypeError', `${fn} got multiple values for argument '${name}'`);
    bound.set(name, value);
  }
  const missing = params.filter((p) => p.default === undefined && !bound.has(p.name)).map((p) => p.name);
  if (missing.length > 0) {
    const s = missing.length === 1 ? '' : 's';
    throw new ActionParseError(
      'TypeError',
      `${fn} missing ${missing.length} required positional argument${s}: ${quotedList(missing)}`,
    );
  }
  return bound;
}

/** Converts one bound literal to the parameter's JS type, or throws the error BrowserGym would report. */
function convert(fn: string, p: ParamSpec, v: PyLiteral): string | number | boolean | string[] {
  const wrongType = (want: string) =>
    new ActionParseError('TypeError', `${fn}() argument '${p.name}' must be ${want}, not ${pyTypeName(v)}`);
  const checkChoice = (s: string) => {
    if (p.choices && !p.choices.includes(s)) {
      throw new ActionParseError(
        'ValueError',
        `${fn}() argument '${p.name}' must be one of ${p.choices.map((c) => pyReprStr(c)).join(', ')}, ` +
          `got ${pyReprStr(s)}`,
      );
    }
    return s;
  };
  const strList = (items: PyLiteral[]) =>
    items.map((it) => {
      if (it.kind !== 'str') throw wrongType('a list of str');
      return checkChoice(it.value);
    });
  switch (p.type) {
    case 'bid':
      // BrowserGym's get_elem_by_bid check, verbatim.
      if (v.kind !== 'str') throw new ActionParseError('ValueError', `expected a string, got ${literalRepr(v)}`);
      return v.value;
    case 'str':
      if (v.kind !== 'str') throw wrongType('str');
      return checkChoice(v.value);
    case 'number': {
      if (v.kind !== 'int' && v.kind !== 'float') throw wrongType('a number');
      // Numbers go to the browser (wheel deltas) or to timers: nothing unbounded or non-finite gets that far.
      const [min, max] = p.range ?? [-Infinity, Infinity];
      if (!(Number.isFinite(v.value) && v.value >= min && v.value <= max)) {
        throw new ActionParseError(
          'ValueError',
          `${fn}() ${p.name} must be between ${min} and ${max}, got ${literalRepr(v)}`,
        );
      }
      return v.value;
    }
    case 'bool':
      if (v.kind !== 'bool') throw wrongType('bool');
      return v.value;
    case 'str_list':
      if (v.kind !== 'list' && v.kind !== 'tuple') throw wrongType('a list of str');
      return strList(v.items);
    case 'str_or_str_list':
      if (v.kind === 'str') return v.value;
      if (v.kind !== 'list' && v.kind !== 'tuple') throw wrongType('str or a list of str');
      return strList(v.items);
  }
}

/** Checks one raw call against ACTION_SIGNATURES. */
export function checkCall(call: RawCall): ParsedAction {
  if (!isActionName(call.name)) throw new ActionParseError('NameError', `Invalid action type '${call.name}'.`);
  const sig = ACTION_SIGNATURES[call.name];
  const bound = bind(call, sig.params);
  const args: Record<string, unknown> = {};
  for (const p of sig.params) {
    const v = bound.get(p.name);
    args[p.name] = v === undefined ? structuredClone(p.default) : convert(call.name, p, v);
  }
  return { name: call.name, args, source: call.source } as ParsedAction;
}

/**
 * All actions in `text`, checked. Errors (ActionParseError) match BrowserGym's: `ValueError: Received an empty
 * action.`, `ValueError: Received a multi-action, only single-actions are allowed.`, `NameError: Invalid action type
 * 'foo'.`, Python TypeErrors for wrong arity or argument types.
 */
export function parseActions(text: string, opts: ParseOptions = {}): ParsedAction[] {
  if (typeof text !== 'string') throw new ActionParseError('TypeError', `action must be a string, not ${typeof text}`);
  if (text.length > MAX_ACTION_CHARS) {
    throw new ActionParseError(
      'ValueError',
      `action is ${text.length} characters long; the limit is ${MAX_ACTION_CHARS} (MAX_ACTION_CHARS)`,
    );
  }
  const calls = parseCalls(text, opts.strict ?? false);
  if (calls.length === 0) throw new ActionParseError('ValueError', 'Received an empty action.');
  if (calls.length > 1 && !opts.multiaction) {
    throw new ActionParseError('ValueError', 'Received a multi-action, only single-actions are allowed.');
  }
  return calls.map(checkCall);
}

/** Exactly one action from `text` (prose around it is ignored); throws ActionParseError otherwise. */
export function parseAction(text: string, opts: { strict?: boolean } = {}): ParsedAction {
  return parseActions(text, { strict: opts.strict, multiaction: false })[0]!;
}

/** Canonical text of an action (Python call syntax with repr'd arguments), e.g. `click('13', button='right')`. */
export function formatAction(a: ParsedAction): string {
  const sig = ACTION_SIGNATURES[a.name];
  const parts: string[] = [];
  const args = a.args as Record<string, unknown>;
  for (const p of sig.params) {
    const v = args[p.name];
    if (p.default !== undefined && JSON.stringify(v) === JSON.stringify(p.default)) continue;
    const r = jsRepr(v);
    parts.push(p.default === undefined ? r : `${p.name}=${r}`);
  }
  return `${a.name}(${parts.join(', ')})`;
}

function jsRepr(v: unknown): string {
  if (typeof v === 'string') return pyReprStr(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return '[' + v.map(jsRepr).join(', ') + ']';
  return String(v);
}
