// The strict JSON parsers (native/core/json.cpp, lib/io/strict-json.ts) against JSON.parse on random documents,
// and their rejections (duplicates, trailing commas, bad escapes, overflow) with clear errors.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { parseStrictJson, type JsonValue } from '../lib/io/strict-json.ts';
import { rng } from './util/random.ts';

const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u001f', 'é', 'ü', '中', '😀', '\u2028', '{', ']', ',', ':'];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 5 : 7));
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor((r() - 0.5) * 2 ** 40);
    case 3: return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    case 4: return randomString(r);
    case 5: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) o[`${randomString(r)}#${i}`] = randomValue(r, depth + 1);
      return o;
    }
  }
}

/** strict-json's Map-based tree as plain JS, for comparing with JSON.parse. */
function plain(v: JsonValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('strict JSON parsers', () => {
  it('agree with JSON.parse on random documents (escapes, unicode, nesting, numbers), compact and indented', () => {
    const r = rng(42);
    for (let i = 0; i < 300; i++) {
      const doc = { v: randomValue(r, 0) };
      for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, i % 2 ? 2 : '\t')]) {
        const want = JSON.parse(text);
        expect(native().jsonParse(text)).toEqual(want);
        expect(plain(parseStrictJson(text))).toEqual(want);
      }
    }
  });

  it('keeps document order of object members and decodes \\u escapes including surrogate pairs', () => {
    const text = '{"z":1,"a":2,"m":"\\u00e9\\ud83d\\ude00\\u0041\\/"}';
    expect(Object.keys(native().jsonParse(text) as object)).toEqual(['z', 'a', 'm']);
    expect((native().jsonParse(text) as { m: string }).m).toBe('é😀A/');
    expect([...(parseStrictJson(text) as Map<string, JsonValue>).keys()]).toEqual(['z', 'a', 'm']);
  });

  it('returns integer literals exactly as BigInt at the int64 limits and rejects overflow', () => {
    const big = native().jsonParse('[9223372036854775807,-9223372036854775808,0,-0,123]', { integers: 'bigint' });
    expect(big).toEqual([9223372036854775807n, -9223372036854775808n, 0n, 0n, 123n]);
    expect(() => native().jsonParse('[9223372036854775808]', { integers: 'bigint' })).toThrow(/does not fit in 64 bits/);
    expect(() => native().jsonParse('[-9223372036854775809]', { integers: 'bigint' })).toThrow(/does not fit in 64 bits/);
    expect(native().jsonParse('[1.5e3,2E-2]', { integers: 'bigint' })).toEqual([1500, 0.02]);
  });

  it('rounds underflowing literals to signed zero like JSON.parse', () => {
    const text = '[1e-999,-1e-400,4.9e-324,2.5e-324]';
    expect(native().jsonParse(text)).toEqual(JSON.parse(text));
    expect(plain(parseStrictJson(text))).toEqual(JSON.parse(text));
  });

  const bad: [string, RegExp][] = [
    ['{"a":1,"a":2}', /duplicate key "a"/],
    ['{"a":1,}', /expected a string key/],
    ['[1,]', /unexpected character/],
    ['[1 2]', /expected ',' or '\]'/],
    ['{"a" 1}', /expected ':'/],
    ['{a:1}', /expected a string key/],
    ["{'a':1}", /expected a string key/],
    ['[01]', /trailing characters|expected ',' or '\]'/],
    ['[1.]', /invalid number/],
    ['[-]', /invalid number/],
    ['[.5]', /unexpected character/],
    ['[NaN]', /unexpected character/],
    ['[Infinity]', /unexpected character/],
    ['[1e999]', /number out of range/],
    ['["a\tb"]', /control character in string/],
    ['["\\x41"]', /bad escape/],
    ['["\\u12G4"]', /bad \\u escape/],
    ['["\\ud800"]', /unpaired surrogate/],
    ['["\\udc00\\ud800"]', /unpaired surrogate/],
    ['["abc', /unterminated string/],
    ['[tru]', /invalid literal/],
    ['{} {}', /trailing characters/],
    ['', /unexpected end of input/],
    ['/* c */ {}', /unexpected character/],
    ['['.repeat(200) + ']'.repeat(200), /nesting too deep/],
  ];
  for (const [text, msg] of bad) {
    it(`rejects ${JSON.stringify(text.length > 30 ? text.slice(0, 30) + '…' : text)}`, () => {
      expect(() => native().jsonParse(text)).toThrow(/^JSON: .* at offset \d+$/);
      expect(() => native().jsonParse(text)).toThrow(msg);
      expect(() => parseStrictJson(text)).toThrow();
    });
  }
  it('names the offset of the problem', () => {
    expect(() => native().jsonParse('{"ok":[1,2,3],"bad":tru}')).toThrow('JSON: invalid literal at offset 20');
  });
});
