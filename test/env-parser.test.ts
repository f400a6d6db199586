// Action parser: BrowserGym's high-level action syntax and its error messages.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  ActionParseError,
  formatAction,
  parseAction,
  parseActions,
  parseCalls,
  type ParsedAction,
} from '../lib/env/actions/parser.ts';
import { MAX_NESTING } from '../lib/env/actions/parser.ts';
import {
  ACTION_SIGNATURES,
  describeActions,
  MAX_ACTION_CHARS,
  MAX_NOOP_MS,
  MAX_SCROLL_PX,
  type ActionName,
} from '../lib/env/actions/signatures.ts';
import { pyReprFloat, pyReprStr } from '../lib/env/observation/pyrepr.ts';

/** Arguments of the one action in `text`, untyped for terse assertions. */
const argsOf = (text: string, opts?: { strict?: boolean }) => parseAction(text, opts).args as Record<string, unknown>;

/** The `ExceptionClass: message` text the env would report for `text`. */
function errorOf(text: string, opts?: Parameters<typeof parseActions>[1]): string {
  try {
    parseActions(text, opts);
  } catch (e) {
    if (e instanceof ActionParseError) return e.errorText;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

describe('parseAction: every action and argument form', () => {
  it('parses each action with positional arguments and fills defaults', () => {
    expect(parseAction("click('13')")).toEqual({
      name: 'click',
      args: { bid: '13', button: 'left', modifiers: [] },
      source: "click('13')",
    });
    expect(parseAction('dblclick("a12", "right", ["Shift", "Alt"])').args).toEqual({
      bid: 'a12',
      button: 'right',
      modifiers: ['Shift', 'Alt'],
    });
    expect(parseAction("hover('7')").args).toEqual({ bid: '7' });
    expect(parseAction("fill('14', 'Ignacio')").args).toEqual({ bid: '14', value: 'Ignacio', enable_autocomplete_menu: false });
    expect(parseAction("clear('3')").args).toEqual({ bid: '3' });
    expect(parseAction("select_option('13', 'Iceland')").args).toEqual({ bid: '13', options: 'Iceland' });
    expect(parseAction("select_option('13', ['a', 'b'])").args).toEqual({ bid: '13', options: ['a', 'b'] });
    expect(parseAction("select_option('13', ('a', 'b'))").args).toEqual({ bid: '13', options: ['a', 'b'] });
    expect(parseAction("check('5')").name).toBe('check');
    expect(parseAction("uncheck('5')").name).toBe('uncheck');
    expect(parseAction("focus('5')").args).toEqual({ bid: '5' });
    expect(parseAction("press('14', 'Enter')").args).toEqual({ bid: '14', key_comb: 'Enter' });
    expect(parseAction('scroll(0, 200)').args).toEqual({ delta_x: 0, delta_y: 200 });
    expect(parseAction('scroll(-50.2, +1e2)').args).toEqual({ delta_x: -50.2, delta_y: 100 });
    expect(parseAction('noop()').args).toEqual({ wait_ms: 1000 });
    expect(parseAction('noop(250)').args).toEqual({ wait_ms: 250 });
    expect(parseAction('go_back()').args).toEqual({});
    expect(parseAction('go_forward()').args).toEqual({});
    expect(parseAction("send_msg_to_user('done')").args).toEqual({ text: 'done' });
    expect(parseAction("keyboard_press('Tab')").args).toEqual({ key: 'Tab' });
    expect(parseAction("keyboard_type('hi')").args).toEqual({ text: 'hi' });
  });

  it('accepts keyword arguments, mixed forms, whitespace, trailing commas and comments', () => {
    expect(parseAction("click(bid='13', button='middle', modifiers=['Control'])").args).toEqual({
      bid: '13',
      button: 'middle',
      modifiers: ['Control'],
    });
    expect(parseAction("click('13', modifiers=['Meta'])").args).toEqual({ bid: '13', button: 'left', modifiers: ['Meta'] });
    expect(argsOf("fill('1', 'x', enable_autocomplete_menu=True)").enable_autocomplete_menu).toBe(true);
    expect(argsOf("  click (\n  '13' ,\n) ").bid).toBe('13');
    expect(argsOf("# click('1')\nclick('2')  # trailing comment").bid).toBe('2');
  });

  it('decodes both quote styles, triple quotes and Python escapes', () => {
    expect(parseAction(`fill('1', '\\x41\\u00e9\\U0001F600\\101\\d')`).args).toMatchObject({ value: 'A\u00e9\u{1F600}A\\d' });
    expect(parseAction(`fill('1', "it's")`).args).toMatchObject({ value: "it's" });
    expect(parseAction(`fill('1', 'say \\'hi\\'')`).args).toMatchObject({ value: "say 'hi'" });
    expect(parseAction(`fill('1', "a \\"q\\" b")`).args).toMatchObject({ value: 'a "q" b' });
    expect(parseAction(`fill('1', "multi-line\\nexample\\ttab")`).args).toMatchObject({ value: 'multi-line\nexample\ttab' });
    expect(parseAction(`fill('1', 'back\\\\slash')`).args).toMatchObject({ value: 'back\\slash' });
    expect(parseAction(`fill('1', """tri'ple "q" """)`).args).toMatchObject({ value: `tri'ple "q" ` });
    expect(parseAction(`fill('1', '''a\nb''')`).args).toMatchObject({ value: 'a\nb' });
    expect(parseAction(`fill('1', 'ünïcödé ✓')`).args).toMatchObject({ value: 'ünïcödé ✓' });
    expect(parseAction(`fill('1', '')`).args).toMatchObject({ value: '' });
  });

  it('finds the call inside surrounding prose (non-strict, BrowserGym default)', () => {
    expect(argsOf("I should press the button. Action: click('13')").bid).toBe('13');
    expect(parseAction("```python\nfill('14', \"Ignacio\")\n```").args).toMatchObject({ bid: '14', value: 'Ignacio' });
    // Parenthesised prose that is not a valid call is skipped.
    expect(argsOf("The button (see above) works: click('4')").bid).toBe('4');
  });

  it('keeps the call text as source and formats canonically', () => {
    const a = parseAction("Thinking... click( '13', button = 'right' ) done");
    expect(a.source).toBe("click( '13', button = 'right' )");
    expect(formatAction(a)).toBe("click('13', button='right')");
    expect(formatAction(parseAction(`fill('2', "it's")`))).toBe(`fill('2', "it's")`);
  });

  it('parses raw literals: int/float kinds, True/False/None, dicts, nested lists', () => {
    const [call] = parseCalls("f(1, 2.0, -3e-2, True, False, None, {'k': [1, (2,)]}, [],)");
    expect(call!.args).toEqual([
      { kind: 'int', value: 1 },
      { kind: 'float', value: 2 },
      { kind: 'float', value: -0.03 },
      { kind: 'bool', value: true },
      { kind: 'bool', value: false },
      { kind: 'none' },
      {
        kind: 'dict',
        entries: [['k', { kind: 'list', items: [{ kind: 'int', value: 1 }, { kind: 'tuple', items: [{ kind: 'int', value: 2 }] }] }]],
      },
      { kind: 'list', items: [] },
    ]);
  });

  it('multi-action strings run in order when allowed', () => {
    const acts = parseActions("fill('14', 'x')\nclick('15')", { multiaction: true });
    expect(acts.map((a) => a.name)).toEqual(['fill', 'click']);
  });

  it('strict mode requires the whole text to be calls', () => {
    expect(argsOf("click('1')", { strict: true }).bid).toBe('1');
    expect(errorOf("ok click('1')", { strict: true })).toMatch(/^ValueError: Could not parse action at character 3: expected '\('/);
    expect(errorOf("click('1') ok", { strict: true })).toMatch(/^ValueError: Could not parse action at character 11/);
  });
});

describe('parseAction: errors match BrowserGym', () => {
  it('empty, garbage and multi-action', () => {
    expect(errorOf('')).toBe('ValueError: Received an empty action.');
    expect(errorOf('I do not know what to do.')).toBe('ValueError: Received an empty action.');
    expect(errorOf("click('13'")).toBe('ValueError: Received an empty action.');
    expect(errorOf('click(bid)')).toBe('ValueError: Received an empty action.');
    expect(errorOf('}{)(][\'"\\')).toBe('ValueError: Received an empty action.');
    expect(errorOf("click('1') click('2')")).toBe('ValueError: Received a multi-action, only single-actions are allowed.');
  });

  it('unknown functions are NameErrors (including those in TRL/OpenEnv docstrings)', () => {
    expect(errorOf("send_keys('Enter')")).toBe("NameError: Invalid action type 'send_keys'.");
    expect(errorOf('foo()')).toBe("NameError: Invalid action type 'foo'.");
  });

  it('wrong arity gives CPython TypeError messages', () => {
    expect(errorOf('click()')).toBe("TypeError: click() missing 1 required positional argument: 'bid'");
    expect(errorOf('fill()')).toBe("TypeError: fill() missing 2 required positional arguments: 'bid' and 'value'");
    expect(errorOf("scroll('down')")).toBe("TypeError: scroll() missing 1 required positional argument: 'delta_y'");
    expect(errorOf("hover('1', '2')")).toBe('TypeError: hover() takes 1 positional argument but 2 were given');
    expect(errorOf("go_back('1')")).toBe('TypeError: go_back() takes 0 positional arguments but 1 was given');
    expect(errorOf("click('1', 'left', [], 4)")).toBe('TypeError: click() takes from 1 to 3 positional arguments but 4 were given');
    expect(errorOf("click('1', foo=2)")).toBe("TypeError: click() got an unexpected keyword argument 'foo'");
    expect(errorOf("click('1', bid='2')")).toBe("TypeError: click() got multiple values for argument 'bid'");
  });

  it('wrong argument types and values', () => {
    expect(errorOf('click(13)')).toBe('ValueError: expected a string, got 13');
    expect(errorOf('click(13.5)')).toBe('ValueError: expected a string, got 13.5');
    expect(errorOf('click(None)')).toBe('ValueError: expected a string, got None');
    expect(errorOf("fill('1', 5)")).toBe("TypeError: fill() argument 'value' must be str, not int");
    expect(errorOf("scroll('0', 1)")).toBe("TypeError: scroll() argument 'delta_x' must be a number, not str");
    expect(errorOf("select_option('1', [1])")).toBe("TypeError: select_option() argument 'options' must be a list of str, not list");
    expect(errorOf("click('1', button='top')")).toBe(
      "ValueError: click() argument 'button' must be one of 'left', 'middle', 'right', got 'top'",
    );
    expect(errorOf("click('1', modifiers=['Hyper'])")).toMatch(/^ValueError: click\(\) argument 'modifiers' must be one of/);
    expect(errorOf(`noop(${MAX_NOOP_MS + 1})`)).toBe(
      `ValueError: noop() wait_ms must be between 0 and ${MAX_NOOP_MS}, got ${MAX_NOOP_MS + 1}`,
    );
    expect(errorOf('noop(-1)')).toMatch(/^ValueError: noop\(\) wait_ms must be between/);
  });

  it('numbers are range-checked before anything reaches the browser', () => {
    // A wheel delta beyond float32 wedges Chromium's input for the page: rejected as a ValueError, like a bad value.
    expect(errorOf('scroll(0, 1e39)')).toBe(`ValueError: scroll() delta_y must be between -${MAX_SCROLL_PX} and ${MAX_SCROLL_PX}, got 1e+39`);
    expect(errorOf('scroll(1e999, 0)')).toBe(`ValueError: scroll() delta_x must be between -${MAX_SCROLL_PX} and ${MAX_SCROLL_PX}, got inf`);
    expect(errorOf(`scroll(0, -${MAX_SCROLL_PX + 1})`)).toMatch(/^ValueError: scroll\(\) delta_y must be between/);
    expect(errorOf('scroll(0, 99999999999999999999999999)')).toMatch(/^ValueError: scroll\(\) delta_y must be between/);
    expect(parseAction(`scroll(${MAX_SCROLL_PX}, -${MAX_SCROLL_PX})`).args).toEqual({ delta_x: MAX_SCROLL_PX, delta_y: -MAX_SCROLL_PX });
    expect(errorOf('noop(1e999)')).toBe(`ValueError: noop() wait_ms must be between 0 and ${MAX_NOOP_MS}, got inf`);
    // Every numeric parameter of every action declares a finite range, so a new one cannot slip through unchecked.
    for (const [name, sig] of Object.entries(ACTION_SIGNATURES)) {
      for (const p of sig.params.filter((q) => q.type === 'number')) {
        expect(p.range, `${name}(${p.name})`).toBeDefined();
        expect(p.range!.every(Number.isFinite), `${name}(${p.name})`).toBe(true);
      }
    }
  });

  it('texts over MAX_ACTION_CHARS are a ValueError at once; the limit itself parses', () => {
    const t0 = performance.now();
    expect(errorOf('x'.repeat(1_000_000))).toBe(
      `ValueError: action is 1000000 characters long; the limit is ${MAX_ACTION_CHARS} (MAX_ACTION_CHARS)`,
    );
    expect(performance.now() - t0).toBeLessThan(100);
    const atLimit = 'x'.repeat(MAX_ACTION_CHARS - " click('7')".length) + " click('7')";
    expect(argsOf(atLimit).bid).toBe('7');
    expect(errorOf(atLimit + ' ')).toMatch(/^ValueError: action is 20001 characters long/);
  });

  it('nesting deeper than MAX_NESTING is a ValueError, not a stack overflow', () => {
    const deep = (n: number) => `f(${'['.repeat(n)}${']'.repeat(n)})`;
    expect(parseCalls(deep(MAX_NESTING))).toHaveLength(1);
    expect(() => parseCalls(deep(MAX_NESTING + 1))).toThrow(`deeper than ${MAX_NESTING} levels`);
    expect(errorOf(`click('1', ${'['.repeat(10_000)})`)).toBe(
      `ValueError: action nests lists, tuples or dicts deeper than ${MAX_NESTING} levels`,
    );
  });

  it('ActionParseError is a real Error with a name', () => {
    try {
      parseAction('nothing');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).name).toBe('ActionParseError');
      expect((e as ActionParseError).pyType).toBe('ValueError');
    }
  });
});

// Parsing must stay linear whatever the text: it runs on the server's event loop and in every rollout step. These
// shapes cost quadratic time in a search that retries from every offset (200k letters in a row took minutes).
describe('parseCalls: linear time on adversarial text', () => {
  const n = 200_000;
  const fill = (unit: string) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  const shapes: Record<string, string> = {
    'one long name': fill('x'),
    prose: fill('lorem ipsum dolor '),
    'one unterminated string': "f('" + fill('ab '),
    'many unterminated strings': fill("f('a "),
    'many unterminated double-quoted strings': fill('f("a '),
    'unterminated triple quotes': fill("f('''a "),
    'call openings': fill('a('),
    'strings that look like calls': fill("f('g(', "),
    'a long argument list that never closes': 'f(' + fill("'a', 1, [2], "),
    'keyword arguments': fill('f(a=1, '),
  };
  for (const [name, text] of Object.entries(shapes)) {
    it(`${name}: 200k characters, then a real call is still found`, () => {
      const t0 = performance.now();
      const calls = parseCalls(`${text} click('5')`);
      // Linear: well under a second on a quiet machine; the bound leaves room for a loaded one.
      expect(performance.now() - t0).toBeLessThan(4000);
      expect(calls.at(-1)).toMatchObject({ name: 'click', args: [{ kind: 'str', value: '5' }] });
    });
  }

  it('memoised strings and values give the same calls as before', () => {
    // A string that closes is re-read from a later quote; one that never closes does not hide a later call.
    expect(parseCalls(`fill('1', 'abc click('2')`).map((c) => c.source)).toEqual([`click('2')`]);
    expect(parseCalls(`f('x click("1")`).map((c) => c.source)).toEqual([`click("1")`]);
    expect(parseCalls(`f("x click('1')`).map((c) => c.source)).toEqual([`click('1')`]);
    expect(parseCalls(`f('x' g('y') "z`).map((c) => c.source)).toEqual([`g('y')`]);
    expect(parseCalls(`abc(def('1') xyz('2')`).map((c) => c.source)).toEqual([`def('1')`, `xyz('2')`]);
  });
});

describe('ACTION_SIGNATURES', () => {
  it('has one signature per action, each example parses to that action', () => {
    const names = Object.keys(ACTION_SIGNATURES) as ActionName[];
    const required = ['click', 'dblclick', 'hover', 'fill', 'clear', 'select_option', 'check', 'uncheck', 'focus'];
    required.push('press', 'scroll', 'noop', 'go_back', 'go_forward', 'send_msg_to_user');
    expect(names).toEqual(expect.arrayContaining(required));
    for (const n of names) {
      const sig = ACTION_SIGNATURES[n];
      expect(sig.signature.startsWith(`${n}(`)).toBe(true);
      for (const ex of sig.examples) expect(parseAction(ex).name).toBe(n);
    }
    expect(describeActions(['click'])).toContain('click(bid: str');
  });
});

// Random round trip: any action built from random values, formatted with Python repr, parses back to the same value.
describe('random round trip', () => {
  function rng(seed: number) {
    let s = seed >>> 0;
    return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  }
  const rand = rng(20261125);
  const alphabet = ['a', 'Z', '0', ' ', "'", '"', '\\', '\n', '\t', '#', '(', ')', ',', '=', 'é', '✓', '\u00a0', '[', ']'];
  const randStr = () => Array.from({ length: Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');

  it('fill/select_option/scroll survive format → parse for 300 random argument sets', () => {
    for (let i = 0; i < 300; i++) {
      const bid = String(Math.floor(rand() * 500));
      const candidates: ParsedAction[] = [
        { name: 'fill', args: { bid, value: randStr(), enable_autocomplete_menu: rand() < 0.5 }, source: '' },
        { name: 'select_option', args: { bid, options: [randStr(), randStr()] }, source: '' },
        { name: 'scroll', args: { delta_x: Math.round((rand() - 0.5) * 1e4) / 100, delta_y: Math.floor(rand() * 900) }, source: '' },
        { name: 'send_msg_to_user', args: { text: randStr() }, source: '' },
      ];
      for (const a of candidates) {
        const text = formatAction(a);
        const back = parseAction(`Reasoning first. ${text} and done.`);
        expect(back.name).toBe(a.name);
        expect(back.args).toEqual(a.args);
      }
    }
  });
});

// pyReprStr must equal CPython's repr(); checked against a real interpreter when one is installed.
const python = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' }).status === 0 ? 'python3' : undefined;
describe('Python repr', () => {
  it('matches hand-checked CPython outputs', () => {
    expect(pyReprStr('Click Me!')).toBe("'Click Me!'");
    expect(pyReprStr("it's")).toBe(`"it's"`);
    expect(pyReprStr(`it's "x"`)).toBe(`'it\\'s "x"'`);
    expect(pyReprStr('a\nb\\')).toBe("'a\\nb\\\\'");
    expect(pyReprStr('\u00a0\u200b\x7f')).toBe("'\\xa0\\u200b\\x7f'");
    expect(pyReprFloat(0.5)).toBe('0.5');
    expect(pyReprFloat(2)).toBe('2.0');
    expect(pyReprFloat(1e-5)).toBe('1e-05');
    expect(pyReprFloat(1.5e20)).toBe('1.5e+20');
  });

  it.skipIf(!python)('matches python3 repr() on 200 random strings and floats', () => {
    const rand = (() => {
      let s = 12345;
      return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    })();
    const pool = ["'", '"', '\\', '\n', '\r', '\t', '\x00', '\x1b', ' ', 'a', 'é'];
    pool.push('\u00a0', '\u2028', '\u200b', '😀', '中', '\ufeff', '\u00ad');
    const strs = Array.from({ length: 200 }, () =>
      Array.from({ length: 1 + Math.floor(rand() * 8) }, () => pool[Math.floor(rand() * pool.length)]).join(''),
    );
    const floats = Array.from({ length: 200 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20));
    const script =
      'import json,sys\nd=json.load(sys.stdin)\nprint(json.dumps([repr(s) for s in d["s"]]+[repr(float(x)) for x in d["f"]]))';
    const out = spawnSync(python!, ['-c', script], { input: JSON.stringify({ s: strs, f: floats }), encoding: 'utf8' });
    expect(out.status).toBe(0);
    const expected = JSON.parse(out.stdout) as string[];
    expect([...strs.map(pyReprStr), ...floats.map(pyReprFloat)]).toEqual(expected);
  });
});
