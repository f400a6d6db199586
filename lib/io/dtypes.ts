// Element types of safetensors/GGUF files and scalar conversions between f32, bf16 and f16.
// bf16 and f16 values travel as their raw 16-bit patterns (numbers in [0, 65535] / Uint16Array).
// All rounding is round-to-nearest, ties to even, matching native/core/bf16.h.
import { endianness } from 'node:os';

// Every reader/writer here assumes a little-endian host, as the file formats are little-endian.
if (endianness() !== 'LE') throw new Error('lfm2-rl io: a little-endian host is required');

/** Safetensors dtypes with their size in bits (sub-byte float formats included so their files validate). */
export const SAFETENSORS_DTYPE_BITS = {
  F64: 64,
  F32: 32,
  F16: 16,
  BF16: 16,
  I64: 64,
  I32: 32,
  I16: 16,
  I8: 8,
  U64: 64,
  U32: 32,
  U16: 16,
  U8: 8,
  BOOL: 8,
  C64: 64,
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  F6_E2M3: 6,
  F6_E3M2: 6,
  F4: 4,
} as const;

export type StDtype = keyof typeof SAFETENSORS_DTYPE_BITS;
export type FloatDtype = 'F64' | 'F32' | 'F16' | 'BF16';

export function isStDtype(s: string): s is StDtype {
  return Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BITS, s);
}

/** Alignment used to order tensors in a canonical file: whole bytes per element (1 for sub-byte types). */
export function dtypeAlignment(d: StDtype): number {
  return Math.max(1, SAFETENSORS_DTYPE_BITS[d] / 8) | 0;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The raw bits of Math.fround(x). */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

export function f32FromBits(u: number): number {
  u32Scratch[0] = u >>> 0;
  return f32Scratch[0];
}

/** bf16 bits -> value (exact). */
export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** f32 value -> bf16 bits, rounding to nearest even; NaN stays a (quiet) NaN, overflow rounds to infinity. */
export function f32ToBf16(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  // u < 0xffff8000 for every non-NaN, so the sum stays below 2^32.
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits -> value (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** f32 value -> f16 bits, rounding to nearest even (also into subnormals); overflow gives infinity. */
export function f32ToF16(x: number): number {
  const u = f32Bits(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal f16: m = round(M * 2^(e-14)) with M the 24-bit significand. Below 2^-25 everything rounds to 0.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const M = mant | 0x800000;
    let m = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && m & 1)) m++; // m may reach 1024 = smallest normal, which encodes correctly
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // carry into the exponent is correct (up to infinity)
  return sign | h;
}

type NumArray = ArrayLike<number>;

/** Encodes float values into little-endian bytes of the given dtype (F64 values are rounded to f32 first for F16/BF16). */
export function encodeFloats(values: NumArray, dtype: FloatDtype): Buffer {
  const n = values.length;
  switch (dtype) {
    case 'F64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = values[i];
      return Buffer.from(out.buffer);
    }
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = values[i];
      return Buffer.from(out.buffer);
    }
    case 'BF16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = f32ToBf16(values[i]);
      return Buffer.from(out.buffer);
    }
    case 'F16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = f32ToF16(values[i]);
      return Buffer.from(out.buffer);
    }
  }
}

/** Copies bytes into a fresh, aligned ArrayBuffer (file data may sit at any byte offset). */
function alignedCopy(data: Uint8Array): ArrayBuffer {
  const ab = new ArrayBuffer(data.byteLength);
  new Uint8Array(ab).set(data);
  return ab;
}

function checkLength(data: Uint8Array, bytesPerElement: number, dtype: string): number {
  if (data.byteLength % bytesPerElement !== 0) {
    throw new Error(`${dtype} data of ${data.byteLength} bytes is not a whole number of ${bytesPerElement}-byte elements`);
  }
  return data.byteLength / bytesPerElement;
}

/** Decodes little-endian F64/F32/F16/BF16 bytes into a Float32Array (F64 is rounded to f32). */
export function decodeToFloat32(data: Uint8Array, dtype: FloatDtype): Float32Array {
  switch (dtype) {
    case 'F32':
      checkLength(data, 4, dtype);
      return new Float32Array(alignedCopy(data));
    case 'F64':
      checkLength(data, 8, dtype);
      return Float32Array.from(new Float64Array(alignedCopy(data)));
    case 'BF16': {
      const n = checkLength(data, 2, dtype);
      const src = new Uint16Array(alignedCopy(data));
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const n = checkLength(data, 2, dtype);
      const src = new Uint16Array(alignedCopy(data));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(src[i]);
      return out;
    }
  }
}

/** Decodes little-endian F64/F32/F16/BF16 bytes into a Float64Array (exact for every source dtype). */
export function decodeToFloat64(data: Uint8Array, dtype: FloatDtype): Float64Array {
  if (dtype === 'F64') {
    checkLength(data, 8, dtype);
    return new Float64Array(alignedCopy(data));
  }
  return Float64Array.from(decodeToFloat32(data, dtype));
}
