// NaN / Inf detection in safetensors files, on the raw bit patterns (a float is non-finite when its exponent bits are
// all ones; NaN when its mantissa is non-zero as well). Files are read in chunks, so a model of any size scans in
// constant memory, and the same pass can feed a SHA-256 (checkpoint hashes, lib/io/checkpoint.ts). Float dtypes
// F64, F32, F16 and BF16 are checked; integer and 8-bit-or-smaller float tensors have no NaN to find here.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { readSafetensorsHeader, SafetensorsError, type TensorHeaderEntry } from './safetensors.ts';

export interface NonFiniteCount {
  nan: number;
  inf: number;
}

export interface TensorNonFinite extends NonFiniteCount {
  name: string;
}

export interface SafetensorsScan {
  /** Tensors holding at least one NaN or Inf, in file order. */
  bad: TensorNonFinite[];
  /** Hex SHA-256 of the whole file (when asked for). */
  sha256?: string;
  size: number;
}

/** Bytes read per call: large enough to amortise the call, small enough to stay in cache-friendly memory. */
const CHUNK = 16 << 20;

// Exponent masks per 16-bit format, two lanes per 32-bit word. (w & mask) + carry sets bit 15 of a lane exactly when
// its exponent is all ones (0x7f80 + 0x0080 = 0x8000 for BF16, 0x7c00 + 0x0400 = 0x8000 for F16) and never carries
// into the next lane, so one add and one test check two values.
const HALF = {
  BF16: { exp: 0x7f80, man: 0x007f, pair: 0x7f807f80, carry: 0x00800080 },
  F16: { exp: 0x7c00, man: 0x03ff, pair: 0x7c007c00, carry: 0x04000400 },
} as const;

function countHalf(words: Uint32Array, tail: number | null, f: (typeof HALF)['BF16' | 'F16']): NonFiniteCount {
  // Fast pass: OR of every lane's overflow bit; counting only runs on the rare chunk that has a hit.
  const pair = f.pair;
  const carry = f.carry;
  let any = 0;
  for (let i = 0; i < words.length; i++) any |= ((words[i] & pair) + carry) | 0;
  const out = { nan: 0, inf: 0 };
  const one = (h: number) => {
    if ((h & f.exp) !== f.exp) return;
    if (h & f.man) out.nan++;
    else out.inf++;
  };
  if (any & 0x80008000) {
    for (let i = 0; i < words.length; i++) {
      one(words[i] & 0xffff);
      one(words[i] >>> 16);
    }
  }
  if (tail !== null) one(tail);
  return out;
}

function countF32(words: Uint32Array): NonFiniteCount {
  // Same trick with one lane: bit 31 of (w & exp) + 0x00800000 is set exactly when the exponent is all ones.
  let any = 0;
  for (let i = 0; i < words.length; i++) any |= ((words[i] & 0x7f800000) + 0x00800000) | 0;
  const out = { nan: 0, inf: 0 };
  if ((any & 0x80000000) === 0) return out;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if ((w & 0x7f800000) !== 0x7f800000) continue;
    if (w & 0x007fffff) out.nan++;
    else out.inf++;
  }
  return out;
}

function countF64(words: Uint32Array): NonFiniteCount {
  const out = { nan: 0, inf: 0 };
  // Little-endian: word 2i is the low half, 2i + 1 holds sign, exponent and the top 20 mantissa bits.
  for (let i = 1; i < words.length; i += 2) {
    const hi = words[i];
    if ((hi & 0x7ff00000) !== 0x7ff00000) continue;
    if ((hi & 0x000fffff) | words[i - 1]) out.nan++;
    else out.inf++;
  }
  return out;
}

/** Bytes per element of the dtypes this module checks; null = not checked. */
function checkedWidth(dtype: string): 2 | 4 | 8 | null {
  if (dtype === 'BF16' || dtype === 'F16') return 2;
  if (dtype === 'F32') return 4;
  if (dtype === 'F64') return 8;
  return null;
}

/**
 * NaN and Inf counts of little-endian `dtype` values in `bytes` (a whole number of elements). Unaligned input is
 * copied once so the typed-array views are legal. Non-float dtypes count as clean.
 */
export function countNonFinite(bytes: Uint8Array, dtype: string): NonFiniteCount {
  const width = checkedWidth(dtype);
  if (width === null) return { nan: 0, inf: 0 };
  if (bytes.byteLength % width !== 0) throw new RangeError(`countNonFinite: ${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  const src = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  const words = new Uint32Array(src.buffer, src.byteOffset, Math.floor(src.byteLength / 4));
  if (width === 4) return countF32(words);
  if (width === 8) return countF64(words);
  const tail = src.byteLength % 4 === 2 ? src[src.byteLength - 2] | (src[src.byteLength - 1] << 8) : null;
  return countHalf(words, tail, HALF[dtype as 'BF16' | 'F16']);
}

/**
 * Reads a safetensors file once (header validated by the strict reader): NaN/Inf counts per float tensor and,
 * with `sha256`, the file's hash from the same bytes.
 */
export async function scanSafetensors(file: string, opts: { sha256?: boolean } = {}): Promise<SafetensorsScan> {
  const header = readSafetensorsHeader(file);
  const hash = opts.sha256 ? createHash('sha256') : null;
  const fh = await open(file, 'r');
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  const bad: TensorNonFinite[] = [];
  let size = 0;
  try {
    const readAt = async (pos: number, len: number): Promise<Uint8Array> => {
      let done = 0;
      while (done < len) {
        const { bytesRead } = await fh.read(buf, done, len - done, pos + done);
        if (bytesRead <= 0) throw new SafetensorsError('IO', file, `unexpected end of file at byte ${pos + done} (changed while reading?)`);
        done += bytesRead;
      }
      return buf.subarray(0, len);
    };
    const dataStart = 8 + header.headerLength;
    // Header bytes: hashed only.
    for (let pos = 0; pos < dataStart; pos += CHUNK) hash?.update(await readAt(pos, Math.min(CHUNK, dataStart - pos)));
    size = dataStart;
    for (const e of header.entries as TensorHeaderEntry[]) {
      const [begin, end] = e.dataOffsets;
      const width = checkedWidth(e.dtype) ?? 1;
      // Whole elements per read (CHUNK is a multiple of every width), read into offset 0 of `buf`: always aligned.
      const step = CHUNK - (CHUNK % width);
      const count = { name: e.name, nan: 0, inf: 0 };
      for (let off = begin; off < end; off += step) {
        const part = await readAt(dataStart + off, Math.min(step, end - off));
        hash?.update(part);
        const c = countNonFinite(part, e.dtype);
        count.nan += c.nan;
        count.inf += c.inf;
      }
      size += end - begin;
      if (count.nan + count.inf > 0) bad.push(count);
    }
  } finally {
    await fh.close();
  }
  return { bad, size, ...(hash ? { sha256: hash.digest('hex') } : {}) };
}

/** `tensor X has 1 NaN / 0 Inf values` (plus how many other tensors are affected). */
export function describeBadTensors(bad: readonly TensorNonFinite[]): string {
  if (bad.length === 0) return 'all values finite';
  const [first] = bad;
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more tensor${bad.length > 2 ? 's' : ''} with NaN/Inf values)` : '';
  return `tensor ${first.name} has ${first.nan} NaN / ${first.inf} Inf values${more}`;
}

/** `model.safetensors: tensor X has 1 NaN / 0 Inf values`. */
export function describeNonFinite(name: string, bad: readonly TensorNonFinite[]): string {
  return `${name}: ${describeBadTensors(bad)}`;
}

/** Non-finite values where finite ones are required (model weights, checkpoint state). */
export class NonFiniteTensorsError extends Error {
  constructor(
    readonly file: string,
    readonly bad: readonly TensorNonFinite[],
    message: string = describeNonFinite(basename(file), bad),
  ) {
    super(message);
    this.name = 'NonFiniteTensorsError';
  }
}
