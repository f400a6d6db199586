import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  decodeToFloat32,
  decodeToFloat64,
  encodeFloats,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
} from '../lib/io/dtypes.ts';
import {
  SafetensorsError,
  readSafetensors,
  readSafetensorsHeader,
  tensorToFloat32,
  tensorToFloat64,
  writeSafetensors,
  type TensorToWrite,
} from '../lib/io/safetensors.ts';
import { parseStrictJson } from '../lib/io/strict-json.ts';
import { native } from '../lib/engine/native.ts';
import { randn, rng } from './util/random.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-st-');

// ---- reference rounding: nearest representable value by float64 distance, ties to the even bit pattern ----
const f16Finite: { v: number; h: number }[] = [];
for (let h = 0; h < 0x7c00; h++) f16Finite.push({ v: f16ToF32(h), h });
function refF16(x: number): number {
  const a = Math.abs(x);
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (a >= 65520) return sign | 0x7c00; // halfway between 65504 and 2^16 rounds to even = infinity
  let lo = 0;
  let hi = f16Finite.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (f16Finite[mid].v <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - f16Finite[lo].v;
  const dh = f16Finite[hi].v - a;
  const pick = dl < dh ? lo : dh < dl ? hi : f16Finite[lo].h % 2 === 0 ? lo : hi;
  return sign | f16Finite[pick].h;
}
function refBf16(x: number): number {
  const f = Math.fround(x);
  const u = new Uint32Array(new Float32Array([f]).buffer)[0];
  const down = u >>> 16;
  const up = down + 1;
  const vd = bf16ToF32(down);
  // IEEE rounding uses an unbounded exponent, so past the largest finite value the upper neighbour is 2^128 (= inf).
  const vu = (up & 0x7f80) === 0x7f80 && (up & 0x7f) === 0 ? Math.sign(f) * 2 ** 128 : bf16ToF32(up);
  const dd = Math.abs(f - vd);
  const du = Math.abs(vu - f);
  return dd < du ? down : du < dd ? up & 0xffff : down % 2 === 0 ? down : up & 0xffff;
}

describe('dtype conversions', () => {
  it('f32 -> bf16 rounds to nearest even (random values over many magnitudes, plus edge cases)', () => {
    const r = rng(1);
    const xs = [1, -1, 3.4e38, -3.4e38, 1e-40, -1e-40, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 0.1, 65504];
    for (let i = 0; i < 20000; i++) xs.push(randn(r) * 10 ** (r() * 60 - 30));
    for (const x of xs) expect(f32ToBf16(x), `x=${x}`).toBe(refBf16(x));
    expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
    expect(bf16ToF32(f32ToBf16(Infinity))).toBe(Infinity);
  });
  it('f32 -> f16 rounds to nearest even, including subnormals and overflow', () => {
    const r = rng(2);
    const xs = [65504, 65519.99, 65520, 70000, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 6.1e-5, 1 + 2 ** -11];
    for (let i = 0; i < 20000; i++) xs.push(Math.fround(randn(r) * 2 ** (r() * 44 - 28)));
    for (const x of xs) {
      const fx = Math.fround(x);
      expect(f32ToF16(fx), `x=${fx}`).toBe(refF16(fx));
    }
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    expect(f16ToF32(f32ToF16(-Infinity))).toBe(-Infinity);
  });
  it('every f16 and bf16 bit pattern survives decode -> encode', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v16 = f16ToF32(h);
      if (!Number.isNaN(v16)) expect(f32ToF16(v16)).toBe(h);
      const vb = bf16ToF32(h);
      if (!Number.isNaN(vb)) expect(f32ToBf16(vb)).toBe(h);
    }
  });
  it('encodeFloats/decodeToFloat32 agree with the scalar conversions, also from unaligned bytes', () => {
    const r = rng(3);
    const vals = Array.from({ length: 257 }, () => randn(r));
    for (const dt of ['F32', 'F16', 'BF16', 'F64'] as const) {
      const bytes = encodeFloats(vals, dt);
      const shifted = Buffer.alloc(bytes.length + 1);
      bytes.copy(shifted, 1);
      const back = decodeToFloat32(shifted.subarray(1), dt);
      const back64 = decodeToFloat64(shifted.subarray(1), dt);
      for (let i = 0; i < vals.length; i++) {
        const want =
          dt === 'F16' ? f16ToF32(f32ToF16(vals[i])) : dt === 'BF16' ? bf16ToF32(f32ToBf16(vals[i])) : Math.fround(vals[i]);
        expect(back[i]).toBe(want);
        expect(back64[i]).toBe(dt === 'F64' ? vals[i] : want);
      }
    }
  });
});

describe('strict JSON', () => {
  it('parses valid JSON like JSON.parse', () => {
    const src = '{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"],"b":{"c":"\\ud83d\\ude00"}}';
    const v = parseStrictJson(src) as Map<string, unknown>;
    expect((v.get('a') as unknown[]).slice(0, 5)).toEqual([1, -2500, true, false, null]);
    expect((v.get('a') as unknown[])[5]).toBe(JSON.parse(src).a[5]);
    expect((v.get('b') as Map<string, unknown>).get('c')).toBe('😀');
  });
  it('rejects duplicate keys, trailing commas, bad literals and trailing garbage', () => {
    for (const bad of ['{"a":1,"a":2}', '{"a":1,}', '[1,]', '{"a":tru}', '{"a":1} x', '{"a":01}', '{"a":"\t"}', '{']) {
      expect(() => parseStrictJson(bad), bad).toThrow();
    }
  });
});

function randomTensors(seed: number): TensorToWrite[] {
  const r = rng(seed);
  const f = (n: number) => Array.from({ length: n }, () => randn(r));
  const i32 = new Int32Array(6).map(() => Math.floor(r() * 2000 - 1000));
  return [
    { name: 'model.layers.0.w', dtype: 'BF16', shape: [3, 5], data: encodeFloats(f(15), 'BF16') },
    { name: 'a.scalar', dtype: 'F32', shape: [], data: encodeFloats(f(1), 'F32') },
    { name: 'emb', dtype: 'F32', shape: [4, 3], data: new Float32Array(f(12)) },
    { name: 'half', dtype: 'F16', shape: [7], data: encodeFloats(f(7), 'F16') },
    { name: 'ids', dtype: 'I32', shape: [2, 3], data: i32 },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'bytes', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 250]) },
    { name: 'dbl', dtype: 'F64', shape: [2], data: new Float64Array(f(2)) },
    { name: 'ünïcode/name "q"', dtype: 'BF16', shape: [1], data: encodeFloats(f(1), 'BF16') },
  ];
}

describe('TS safetensors reader/writer', () => {
  it('round-trips tensors and metadata, canonical layout', () => {
    const path = join(dir, 'rt.safetensors');
    const tensors = randomTensors(10);
    writeSafetensors(path, tensors, { step: '7', note: 'x' });
    expect(existsSync(`${path}.tmp`)).toBe(false);
    const st = readSafetensors(path);
    expect(st.metadata).toEqual({ format: 'pt', step: '7', note: 'x' });
    for (const t of tensors) {
      const got = st.tensors.get(t.name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(Buffer.compare(got.data, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(0);
    }
    // Header: N multiple of 8, __metadata__ first, tensors by (alignment desc, name), data 8-aligned.
    const raw = readFileSync(path);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const h = raw.subarray(8, 8 + n).toString('utf8');
    expect(h.startsWith('{"__metadata__":{"format":"pt","note":"x","step":"7"}')).toBe(true);
    const order = readSafetensorsHeader(path).entries.map((e) => e.name);
    expect(order).toEqual(['dbl', 'a.scalar', 'emb', 'empty', 'ids', 'half', 'model.layers.0.w', 'ünïcode/name "q"', 'bytes']);
    for (const e of readSafetensorsHeader(path).entries) expect((8 + n + e.dataOffsets[0]) % (e.dtype === 'U8' ? 1 : e.dtype === 'F64' ? 8 : e.dtype.endsWith('16') ? 2 : 4)).toBe(0);
    // Float helpers
    expect(Array.from(tensorToFloat32(st, 'emb', [4, 3]))).toEqual(Array.from(tensors[2].data as Float32Array));
    expect(tensorToFloat64(st, 'model.layers.0.w', [3, 5]).length).toBe(15);
    expect(() => tensorToFloat32(st, 'emb', [3, 4])).toThrow(/shape \[4,3\], expected \[3,4\]/);
    expect(() => tensorToFloat32(st, 'nope')).toThrow(/missing tensor nope/);
    expect(() => tensorToFloat32(st, 'ids')).toThrow(/not a float type/);
  });

  it('writing the same tensors in another order gives identical bytes', () => {
    const a = join(dir, 'o1.safetensors');
    const b = join(dir, 'o2.safetensors');
    const t = randomTensors(11);
    writeSafetensors(a, t, { k: 'v' });
    writeSafetensors(b, [...t].reverse(), { k: 'v' });
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
  });

  it('rejects bad writer input with a clear error', () => {
    const p = join(dir, 'bad-w.safetensors');
    const one = (over: Partial<TensorToWrite>) => [{ name: 'x', dtype: 'F32' as const, shape: [2], data: new Float32Array(2), ...over }];
    expect(() => writeSafetensors(p, one({ data: new Float32Array(3) }))).toThrow(/needs 8 bytes, got 12/);
    expect(() => writeSafetensors(p, one({ dtype: 'Q4' as never }))).toThrow(/unknown dtype/);
    expect(() => writeSafetensors(p, [...one({}), ...one({})])).toThrow(/duplicate tensor name/);
    expect(() => writeSafetensors(p, one({ shape: [-2] }))).toThrow(/non-negative/);
    expect(() => writeSafetensors(p, one({ name: '__metadata__' }))).toThrow(/not a valid tensor name/);
    expect(existsSync(p)).toBe(false);
  });
});

// ---- malformed files: each must give a SafetensorsError naming the file and the problem ----
function fileFromHeader(header: string | Buffer, data: Buffer, lengthOverride?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}
const tensorJson = (name: string, dtype: string, shape: number[], b: number, e: number) =>
  `"${name}":{"dtype":"${dtype}","shape":[${shape}],"data_offsets":[${b},${e}]}`;

const malformedCases: { name: string; bytes: () => Buffer; problem: RegExp }[] = [
  { name: 'empty file', bytes: () => Buffer.alloc(0), problem: /too small/ },
  { name: 'truncated length', bytes: () => Buffer.from([1, 2, 3]), problem: /too small/ },
  { name: 'header too large', bytes: () => fileFromHeader('{}', Buffer.alloc(0), 200_000_000n), problem: /exceeds 100000000/ },
  { name: 'header length past end', bytes: () => fileFromHeader('{}', Buffer.alloc(0), 64n), problem: /runs past the end of the file/ },
  { name: 'huge u64 header length', bytes: () => fileFromHeader('{}', Buffer.alloc(0), 0xffffffffffffffffn), problem: /exceeds 100000000/ },
  { name: 'not starting with {', bytes: () => fileFromHeader(' {}     ', Buffer.alloc(0)), problem: /does not start with '\{'/ },
  { name: 'bad JSON', bytes: () => fileFromHeader('{"a":[1,2}', Buffer.alloc(0)), problem: /not valid JSON/ },
  { name: 'invalid UTF-8', bytes: () => fileFromHeader(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20]), Buffer.alloc(0)), problem: /not valid UTF-8/ },
  { name: 'unterminated object', bytes: () => fileFromHeader('{', Buffer.alloc(0)), problem: /not valid JSON/ },
  {
    name: 'duplicate key',
    bytes: () => fileFromHeader(`{${tensorJson('w', 'F32', [1], 0, 4)},${tensorJson('w', 'F32', [1], 4, 8)}}`, Buffer.alloc(8)),
    problem: /duplicate key "w"/,
  },
  { name: 'unknown dtype', bytes: () => fileFromHeader(`{${tensorJson('w', 'Q4_K', [1], 0, 4)}}`, Buffer.alloc(4)), problem: /unknown dtype "Q4_K"/ },
  { name: 'shape/size mismatch', bytes: () => fileFromHeader(`{${tensorJson('w', 'F32', [2, 2], 0, 12)}}`, Buffer.alloc(12)), problem: /needs 16 bytes/ },
  {
    name: 'shape overflow',
    bytes: () => fileFromHeader(`{${tensorJson('w', 'F32', [4294967296, 4294967296], 0, 4)}}`, Buffer.alloc(4)),
    problem: /too large/,
  },
  { name: 'negative dim', bytes: () => fileFromHeader(`{${tensorJson('w', 'F32', [-1], 0, 4)}}`, Buffer.alloc(4)), problem: /non-negative integers/ },
  {
    name: 'overlap',
    bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [2], 0, 8)},${tensorJson('b', 'F32', [2], 4, 12)}}`, Buffer.alloc(12)),
    problem: /overlap/,
  },
  {
    name: 'hole',
    bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [1], 0, 4)},${tensorJson('b', 'F32', [1], 8, 12)}}`, Buffer.alloc(12)),
    problem: /hole/,
  },
  { name: 'first tensor not at 0', bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [1], 4, 8)}}`, Buffer.alloc(8)), problem: /hole/ },
  { name: 'trailing bytes', bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [1], 0, 4)}}`, Buffer.alloc(9)), problem: /5 trailing bytes/ },
  { name: 'offsets out of range', bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [4], 0, 16)}}`, Buffer.alloc(10)), problem: /run past the data section/ },
  { name: 'end before begin', bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [0], 8, 4)}}`, Buffer.alloc(8)), problem: /data_offsets/ },
  { name: 'metadata not strings', bytes: () => fileFromHeader('{"__metadata__":{"a":1}}', Buffer.alloc(0)), problem: /__metadata__/ },
  { name: 'fractional offsets', bytes: () => fileFromHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4]}}', Buffer.alloc(4)), problem: /non-integer|data_offsets/ },
  { name: 'unpaired surrogate escape', bytes: () => fileFromHeader(`{${tensorJson('a\\ud800', 'F32', [1], 0, 4)}}`, Buffer.alloc(4)), problem: /unpaired surrogate/ },
  { name: 'nesting too deep', bytes: () => fileFromHeader(`{"__metadata__":${'['.repeat(300)}${']'.repeat(300)}}`, Buffer.alloc(0)), problem: /nesting/ },
  { name: 'number out of range', bytes: () => fileFromHeader(`{${tensorJson('a', 'F32', [1], 0, 4)},"b":{"dtype":"F32","shape":[1e999],"data_offsets":[4,8]}}`, Buffer.alloc(8)), problem: /not valid JSON|non-integer|out of range/ },
  { name: 'missing shape', bytes: () => fileFromHeader('{"a":{"dtype":"F32","data_offsets":[0,4]}}', Buffer.alloc(4)), problem: /shape/ },
];

describe('TS reader rejects malformed files', () => {
  for (const c of malformedCases) {
    it(c.name, () => {
      const p = join(dir, `bad-${c.name.replace(/\W+/g, '_')}.safetensors`);
      writeFileSync(p, c.bytes());
      let err: unknown;
      try {
        readSafetensors(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toContain(p);
      expect((err as Error).message).toMatch(c.problem);
    });
  }
  it('accepts a header padded with spaces and a zero-tensor file', () => {
    const p = join(dir, 'ok-padded.safetensors');
    writeFileSync(p, fileFromHeader(`{${tensorJson('a', 'F32', [1], 0, 4)}}     `, Buffer.alloc(4)));
    expect(readSafetensors(p).tensors.get('a')!.shape).toEqual([1]);
    writeFileSync(p, fileFromHeader('{}', Buffer.alloc(0)));
    expect(readSafetensors(p).tensors.size).toBe(0);
  });
  it('names a missing file', () => {
    expect(() => readSafetensors(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot open/);
  });
});

// ---- native reader/writer (native/io/safetensors.cpp) against the TypeScript one ----
describe('native safetensors', () => {
  const addon = native();
  const nativeTensors = (seed: number) => randomTensors(seed).filter((t) => t.dtype !== 'U8' || t.name === 'bytes');

  it('TS writer and native writer produce byte-identical files', () => {
    const a = join(dir, 'ts.safetensors');
    const b = join(dir, 'native.safetensors');
    const tensors = nativeTensors(20);
    const meta = { 'quote"key': 'line\nbreak\u0001 tab\t ünï 😀', step: '3' };
    writeSafetensors(a, tensors, meta);
    addon.safetensorsWrite(b, [...tensors].reverse(), meta);
    expect(existsSync(`${b}.tmp`)).toBe(false);
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
  });

  it('native reads what TS wrote (header, metadata, values) and TS reads what native wrote', () => {
    const a = join(dir, 'ts2.safetensors');
    const tensors = nativeTensors(21);
    writeSafetensors(a, tensors, { k: 'v' });
    const info = addon.safetensorsInfo(a);
    const tsHeader = readSafetensorsHeader(a);
    expect(info.headerLength).toBe(tsHeader.headerLength);
    expect(info.metadata).toEqual({ format: 'pt', k: 'v' });
    expect(info.tensors).toEqual(tsHeader.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, dataOffsets: e.dataOffsets })));
    const st = readSafetensors(a);
    for (const name of ['emb', 'half', 'model.layers.0.w', 'a.scalar', 'dbl', 'empty']) {
      expect(Array.from(addon.safetensorsReadTensor(a, name, 'f32')), name).toEqual(Array.from(tensorToFloat32(st, name)));
    }
    const b = join(dir, 'native2.safetensors');
    addon.safetensorsWrite(b, tensors, { k: 'v' });
    const back = readSafetensors(b);
    for (const t of tensors) {
      expect(Buffer.compare(back.tensors.get(t.name)!.data, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(0);
    }
  });

  it('converts every F16 and BF16 bit pattern like the TS reference, and rounds F32/F16 -> BF16 to nearest even', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const r = rng(22);
    const f32 = new Float32Array(4096).map(() => randn(r) * 10 ** (r() * 8 - 4));
    const p = join(dir, 'patterns.safetensors');
    writeSafetensors(p, [
      { name: 'f16', dtype: 'F16', shape: [65536], data: all },
      { name: 'bf16', dtype: 'BF16', shape: [256, 256], data: all },
      { name: 'f32', dtype: 'F32', shape: [4096], data: f32 },
    ]);
    for (const name of ['f16', 'bf16'] as const) {
      const got = addon.safetensorsReadTensor(p, name, 'f32');
      for (let h = 0; h < 65536; h++) {
        const want = name === 'f16' ? f16ToF32(h) : bf16ToF32(h);
        if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
        else expect(got[h], `${name} ${h}`).toBe(want);
      }
    }
    const bf = addon.safetensorsReadTensor(p, 'f32', 'bf16');
    for (let i = 0; i < f32.length; i++) expect(bf[i]).toBe(f32ToBf16(f32[i]));
    const fromF16 = addon.safetensorsReadTensor(p, 'f16', 'bf16');
    for (let h = 0; h < 65536; h += 7) if (!Number.isNaN(f16ToF32(h))) expect(fromF16[h]).toBe(f32ToBf16(f16ToF32(h)));
    expect(Array.from(addon.safetensorsReadTensor(p, 'bf16', 'bf16'))).toEqual(Array.from(all));
  });

  it('reads tensors at unaligned file offsets (third-party header without padding)', () => {
    const r = rng(23);
    const vals = new Float32Array(33).map(() => randn(r));
    const header = `{${tensorJson('b', 'BF16', [1], 0, 2)},${tensorJson('w', 'F32', [33], 2, 134)}}`; // odd length, w at +2
    const bf = encodeFloats([randn(r)], 'BF16');
    const p = join(dir, 'unaligned.safetensors');
    writeFileSync(p, fileFromHeader(header, Buffer.concat([bf, Buffer.from(vals.buffer)])));
    expect((8 + Buffer.byteLength(header) + 2) % 4).not.toBe(0);
    expect(Array.from(addon.safetensorsReadTensor(p, 'w', 'f32'))).toEqual(Array.from(vals));
    expect(Array.from(tensorToFloat32(readSafetensors(p), 'w'))).toEqual(Array.from(vals));
  });

  for (const c of malformedCases) {
    it(`rejects malformed file: ${c.name}`, () => {
      const p = join(dir, `nbad-${c.name.replace(/\W+/g, '_')}.safetensors`);
      writeFileSync(p, c.bytes());
      expect(() => addon.safetensorsInfo(p)).toThrow(`safetensors ${p}: `);
      expect(() => addon.safetensorsInfo(p)).toThrow(c.problem);
    });
  }

  it('gives clear errors for bad calls, missing files and missing tensors', () => {
    const p = join(dir, 'nargs.safetensors');
    const t = (over: object) => [{ name: 'x', dtype: 'F32', shape: [2], data: new Float32Array(2), ...over }];
    expect(() => addon.safetensorsWrite(p, t({ data: new Float32Array(3) }))).toThrow(/needs 8 bytes, got 12/);
    expect(() => addon.safetensorsWrite(p, t({ dtype: 'Q4' }))).toThrow(/unsupported dtype 'Q4'/);
    expect(() => addon.safetensorsWrite(p, t({ shape: [-1] }))).toThrow(RangeError);
    expect(() => addon.safetensorsWrite(p, [...t({}), ...t({})])).toThrow(/duplicate tensor name "x"/);
    expect(() => addon.safetensorsWrite(p, t({ name: '__metadata__' }))).toThrow(/not a valid tensor name/);
    expect(() => addon.safetensorsWrite(p, t({}), { a: 1 } as never)).toThrow(/metadata values must be strings/);
    expect(() => (addon.safetensorsInfo as (x: unknown) => unknown)(42)).toThrow(TypeError);
    expect(existsSync(p)).toBe(false);
    expect(() => addon.safetensorsInfo(join(dir, 'missing.safetensors'))).toThrow(/missing\.safetensors: cannot open/);
    addon.safetensorsWrite(p, t({}));
    expect(() => addon.safetensorsReadTensor(p, 'nope', 'f32')).toThrow(/missing tensor nope in .*nargs\.safetensors/);
    expect(() => addon.safetensorsWrite(join(dir, 'no/such/dir/x.safetensors'), t({}))).toThrow(/cannot create/);
  });
});
