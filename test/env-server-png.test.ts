// PNG codec used for OpenEnv screenshots. The decoder is checked against an independent encoder written here that
// applies every PNG row filter (None, Sub, Up, Average, Paeth) straight from the PNG spec, on fresh random pixels.
// Byte-exact comparisons: the format is lossless, so no tolerance applies.
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodePngToRgb,
  encodeRgbToPng,
  nestedListsToRgb,
  rgbToNestedLists,
} from '../lib/env/server/png.ts';
import { freshRandom } from './util/random.ts';

// Fresh pixels, sizes and filter orders each run; the seed is in the suite names and LFM2_TEST_SEED=<seed> replays it.
const { rand, seed } = freshRandom();
/** `n` random bytes. */
const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
/** Random integer in [min, max). */
const randomInt = (min: number, max: number) => min + Math.floor(rand() * (max - min));

function refPaeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function chunk(type: string, body: Buffer, corruptCrc = false): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(typed) ^ (corruptCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, typed, crc]);
}

/** Reference encoder: pixels [h][w][channels], row filters chosen per row, IDAT split into `parts` chunks. */
function refEncode(
  px: Uint8Array,
  w: number,
  h: number,
  channels: 3 | 4,
  filters: number[],
  opts: { parts?: number; depth?: number; corruptCrc?: boolean } = {},
): Buffer {
  const stride = w * channels;
  const raw = Buffer.alloc(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    const f = filters[y]!;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = px[y * stride + i]!;
      const a = i >= channels ? px[y * stride + i - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? px[(y - 1) * stride + i - channels]! : 0;
      const pred = [0, a, b, Math.floor((a + b) / 2), refPaeth(a, b, c)][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - pred + 256) % 256;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = opts.depth ?? 8;
  ihdr[9] = channels === 3 ? 2 : 6;
  const z = deflateSync(raw);
  const parts = opts.parts ?? 1;
  const idats: Buffer[] = [];
  const step = Math.ceil(z.length / parts);
  for (let i = 0; i < z.length; i += step) idats.push(chunk('IDAT', z.subarray(i, i + step)));
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr, opts.corruptCrc), ...idats, chunk('IEND', Buffer.alloc(0))]);
}

function dropAlpha(px: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out.set(px.subarray(i * 4, i * 4 + 3), i * 3);
  return out;
}

describe(`PNG decoder (seed ${seed})`, () => {
  for (const channels of [3, 4] as const) {
    it(`decodes ${channels === 3 ? 'RGB' : 'RGBA'} with every row filter and split IDAT chunks`, () => {
      const w = 17;
      const h = 10; // each of the 5 filters on 2 rows, in random order
      const px = new Uint8Array(randomBytes(w * h * channels));
      const filters = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4].sort(() => rand() - 0.5);
      const img = decodePngToRgb(refEncode(px, w, h, channels, filters, { parts: 3 }));
      expect(img.width).toBe(w);
      expect(img.height).toBe(h);
      expect(Buffer.from(img.data)).toEqual(Buffer.from(channels === 3 ? px : dropAlpha(px, w * h)));
    });
  }

  it('rejects what it cannot read with a clear error', () => {
    const px = new Uint8Array(randomBytes(4 * 4 * 3));
    expect(() => decodePngToRgb(Buffer.from('not a png at all'))).toThrow(/bad signature/);
    expect(() => decodePngToRgb(refEncode(px, 4, 4, 3, [0, 0, 0, 0], { corruptCrc: true }))).toThrow(/bad CRC/);
    expect(() => decodePngToRgb(refEncode(px, 4, 4, 3, [0, 0, 0, 0], { depth: 16 }))).toThrow(/bit depth 16/);
    expect(() => decodePngToRgb(refEncode(px, 4, 4, 3, [0, 5, 0, 0]))).toThrow(/filter type 5/);
    const good = refEncode(px, 4, 4, 3, [0, 0, 0, 0]);
    expect(() => decodePngToRgb(good.subarray(0, good.length - 20))).toThrow();
  });
});

describe(`PNG encoder and OpenEnv nested lists (seed ${seed})`, () => {
  it('round-trips random images through encode/decode and through [H][W][3] lists', () => {
    const w = randomInt(1, 40);
    const h = randomInt(1, 30);
    const img = { width: w, height: h, data: new Uint8Array(randomBytes(w * h * 3)) };
    expect(decodePngToRgb(encodeRgbToPng(img))).toEqual(img);
    const lists = rgbToNestedLists(img);
    expect(lists).toHaveLength(h);
    expect(lists[0]).toHaveLength(w);
    expect(lists[h - 1]![w - 1]).toEqual([...img.data.subarray((h * w - 1) * 3)]);
    expect(nestedListsToRgb(lists)).toEqual(img);
  });

  it('rejects malformed lists', () => {
    expect(() => nestedListsToRgb([])).toThrow(/non-empty/);
    expect(() => nestedListsToRgb([[[1, 2, 3]], [[1, 2, 3], [4, 5, 6]]])).toThrow(/row 1/);
    expect(() => nestedListsToRgb([[[1, 2, 300]]])).toThrow(/outside 0..255/);
    expect(() => nestedListsToRgb([[[1, 2]]])).toThrow(/\[r, g, b\]/);
    expect(() => encodeRgbToPng({ width: 2, height: 2, data: new Uint8Array(5) })).toThrow(/expected 12/);
  });
});
