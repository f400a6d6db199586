// GGUF v3 writer (and a validating reader used by tests and tools).
// Layout: "GGUF" u32 version=3, u64 tensor_count, u64 kv_count, KV pairs, tensor infos, zero padding to `alignment`,
// then tensor data, each tensor starting at a multiple of `alignment` (offsets are relative to the data start).
// Strings are u64 length + UTF-8 bytes. Tensor dims are ggml `ne` order: ne[0] is the innermost (fastest) axis, i.e.
// the PyTorch shape reversed.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types (gguf.h gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GgufValueType, 'ARRAY'>;

/** The ggml tensor types this writer emits (ggml.h ggml_type) with their element size in bytes. */
export const GgmlType = { F32: 0, F16: 1, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GgmlType;
export const GGML_TYPE_SIZE: Record<GgmlTypeName, number> = { F32: 4, F16: 2, BF16: 2 };

export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 'ARRAY'; itemType: GgufScalarType; values: ReadonlyArray<number | bigint | boolean | string> };

export interface GgufTensorToWrite {
  name: string;
  type: GgmlTypeName;
  /** PyTorch (row-major, outermost first) shape; written reversed as ggml ne. */
  shape: readonly number[];
  /** Produces the tensor's little-endian bytes when it is written (lets big exports convert one tensor at a time). */
  data: () => Uint8Array;
}

export class GgufError extends Error {
  constructor(file: string, problem: string) {
    super(`gguf ${file}: ${problem}`);
    this.name = 'GgufError';
  }
}

const SCALAR_SIZE: Record<Exclude<GgufScalarType, 'STRING'>, number> = {
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  UINT32: 4,
  INT32: 4,
  FLOAT32: 4,
  BOOL: 1,
  UINT64: 8,
  INT64: 8,
  FLOAT64: 8,
};

/** Growable little-endian byte sink for the header part of the file. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number) {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  u32(v: number) {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  u64(v: number | bigint) {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  bytes(b: Uint8Array) {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string, where: string) {
    const fail = (): never => {
      throw new Error(`${where}: ${JSON.stringify(typeof v === 'bigint' ? v.toString() : v)} is not a valid ${type}`);
    };
    if (type === 'STRING') {
      if (typeof v !== 'string') fail();
      this.str(v as string);
      return;
    }
    if (type === 'BOOL') {
      if (typeof v !== 'boolean') fail();
      this.u8(v ? 1 : 0);
      return;
    }
    const size = SCALAR_SIZE[type];
    this.ensure(size);
    const o = this.length;
    const b = this.buf;
    if (type === 'FLOAT32' || type === 'FLOAT64') {
      if (typeof v !== 'number') fail();
      if (type === 'FLOAT32') b.writeFloatLE(v as number, o);
      else b.writeDoubleLE(v as number, o);
    } else if (type === 'UINT64' || type === 'INT64') {
      if (typeof v !== 'number' && typeof v !== 'bigint') fail();
      if (typeof v === 'number' && !Number.isSafeInteger(v)) fail();
      const big = BigInt(v as number | bigint);
      if (type === 'UINT64' ? big < 0n || big >= 1n << 64n : big < -(1n << 63n) || big >= 1n << 63n) fail();
      if (type === 'UINT64') b.writeBigUInt64LE(big, o);
      else b.writeBigInt64LE(big, o);
    } else {
      if (typeof v !== 'number' || !Number.isInteger(v)) fail();
      const n = v as number;
      const [lo, hi] = {
        UINT8: [0, 0xff],
        INT8: [-0x80, 0x7f],
        UINT16: [0, 0xffff],
        INT16: [-0x8000, 0x7fff],
        UINT32: [0, 0xffffffff],
        INT32: [-0x80000000, 0x7fffffff],
      }[type];
      if (n < lo || n > hi) fail();
      if (type === 'UINT8') b.writeUInt8(n, o);
      else if (type === 'INT8') b.writeInt8(n, o);
      else if (type === 'UINT16') b.writeUInt16LE(n, o);
      else if (type === 'INT16') b.writeInt16LE(n, o);
      else if (type === 'UINT32') b.writeUInt32LE(n, o);
      else b.writeInt32LE(n, o);
    }
    this.length += size;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

const pad = (n: number, a: number) => (a - (n % a)) % a;

/**
 * Writes a GGUF v3 file via `<file>.tmp` + rename. `general.alignment` is written when `alignment` differs from 32.
 * Tensors are written in the given order, each produced by its `data()` callback right before it is written.
 */
export function writeGguf(
  file: string,
  kv: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensorToWrite[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): void {
  if (!Number.isInteger(alignment) || alignment < 8 || (alignment & (alignment - 1)) !== 0) {
    throw new GgufError(file, `alignment must be a power of two >= 8, got ${alignment}`);
  }
  const keys = new Set<string>();
  const allKv: Array<readonly [string, GgufValue]> = [...kv];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) allKv.push(['general.alignment', { type: 'UINT32', value: alignment }]);
  for (const [k] of allKv) {
    if (keys.has(k)) throw new GgufError(file, `duplicate metadata key ${k}`);
    keys.add(k);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(file, `duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (!(t.type in GgmlType)) throw new GgufError(file, `tensor ${t.name}: unsupported type ${t.type}`);
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new GgufError(file, `tensor ${t.name}: shape [${t.shape}] must have 1-4 positive dims`);
    }
    if (Buffer.byteLength(t.name, 'utf8') >= 64) throw new GgufError(file, `tensor name ${t.name} is longer than ggml's 63 bytes`);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(allKv.length);
  for (const [key, v] of allKv) {
    w.str(key);
    try {
      if (v.type === 'ARRAY') {
        w.u32(GgufValueType.ARRAY);
        w.u32(GgufValueType[v.itemType]);
        w.u64(v.values.length);
        for (const x of v.values) w.scalar(v.itemType, x, key);
      } else {
        w.u32(GgufValueType[v.type]);
        w.scalar(v.type, v.value, key);
      }
    } catch (e) {
      throw new GgufError(file, `metadata ${(e as Error).message}`);
    }
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    const bytes = numel(t.shape) * GGML_TYPE_SIZE[t.type];
    sizes.push(bytes);
    w.str(t.name);
    w.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) w.u64(t.shape[i]);
    w.u32(GgmlType[t.type]);
    w.u64(offset);
    offset += bytes + pad(bytes, alignment);
  }
  w.bytes(new Uint8Array(pad(w.length, alignment)));

  const tmp = `${file}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new GgufError(file, `cannot create ${tmp}: ${(e as Error).message}`);
  }
  const writeAll = (b: Uint8Array) => {
    let done = 0;
    while (done < b.length) done += writeSync(fd, b, done, Math.min(b.length - done, 1 << 30));
  };
  try {
    writeAll(w.result());
    const zeros = new Uint8Array(alignment);
    tensors.forEach((t, i) => {
      const data = t.data();
      if (data.byteLength !== sizes[i]) {
        throw new GgufError(file, `tensor ${t.name}: ${t.type} shape [${t.shape}] needs ${sizes[i]} bytes, got ${data.byteLength}`);
      }
      writeAll(data);
      writeAll(zeros.subarray(0, pad(sizes[i], alignment)));
    });
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e instanceof GgufError ? e : new GgufError(file, `write failed: ${(e as Error).message}`);
  }
  closeSync(fd);
  renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------------------------
// Reader: parses and validates a whole file (header, KV, tensor infos, offsets and sizes within the file).

export interface GgufTensorInfo {
  name: string;
  /** PyTorch order (ne reversed). */
  shape: number[];
  type: number;
  /** Absolute byte offset of the data in the file. */
  fileOffset: number;
  byteLength: number;
}

export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
}

const TYPE_NAMES = Object.fromEntries(Object.entries(GgufValueType).map(([k, v]) => [v, k])) as Record<number, keyof typeof GgufValueType>;
const ELEMENT_SIZE: Record<number, number> = { [GgmlType.F32]: 4, [GgmlType.F16]: 2, [GgmlType.BF16]: 2 };

export function readGguf(file: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new GgufError(file, `cannot open: ${(e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    // Metadata is small next to the weights; read at most the first 256 MiB for the header part.
    const headBytes = Math.min(size, 256 << 20);
    const buf = Buffer.alloc(headBytes);
    let got = 0;
    while (got < headBytes) {
      const n = readSync(fd, buf, got, headBytes - got, got);
      if (n <= 0) break;
      got += n;
    }
    let o = 0;
    const need = (n: number) => {
      if (o + n > headBytes) throw new GgufError(file, `truncated header (needs ${o + n} bytes, file has ${size})`);
    };
    const u32 = () => (need(4), (o += 4), buf.readUInt32LE(o - 4));
    const u64 = () => {
      need(8);
      const v = buf.readBigUInt64LE(o);
      o += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(file, `u64 value ${v} at offset ${o - 8} is too large`);
      return Number(v);
    };
    const str = () => {
      const n = u64();
      need(n);
      const s = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(o, o + n));
      o += n;
      return s;
    };
    const scalar = (t: number): number | bigint | boolean | string => {
      switch (t) {
        case GgufValueType.UINT8: return need(1), buf.readUInt8((o += 1) - 1);
        case GgufValueType.INT8: return need(1), buf.readInt8((o += 1) - 1);
        case GgufValueType.UINT16: return need(2), buf.readUInt16LE((o += 2) - 2);
        case GgufValueType.INT16: return need(2), buf.readInt16LE((o += 2) - 2);
        case GgufValueType.UINT32: return u32();
        case GgufValueType.INT32: return need(4), buf.readInt32LE((o += 4) - 4);
        case GgufValueType.FLOAT32: return need(4), buf.readFloatLE((o += 4) - 4);
        case GgufValueType.BOOL: {
          need(1);
          const b = buf.readUInt8(o++);
          if (b > 1) throw new GgufError(file, `bool value ${b} at offset ${o - 1}`);
          return b === 1;
        }
        case GgufValueType.STRING: return str();
        case GgufValueType.UINT64: return need(8), buf.readBigUInt64LE((o += 8) - 8);
        case GgufValueType.INT64: return need(8), buf.readBigInt64LE((o += 8) - 8);
        case GgufValueType.FLOAT64: return need(8), buf.readDoubleLE((o += 8) - 8);
        default: throw new GgufError(file, `unknown value type ${t} at offset ${o - 4}`);
      }
    };
    if (size < 24) throw new GgufError(file, `file is ${size} bytes, too small for a GGUF header`);
    if (u32() !== GGUF_MAGIC) throw new GgufError(file, 'bad magic (not a GGUF file)');
    const version = u32();
    if (version !== 3) throw new GgufError(file, `unsupported GGUF version ${version}`);
    const nTensors = u64();
    const nKv = u64();
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = str();
      if (metadata.has(key)) throw new GgufError(file, `duplicate metadata key ${key}`);
      const t = u32();
      if (t === GgufValueType.ARRAY) {
        const it = u32();
        if (it === GgufValueType.ARRAY || TYPE_NAMES[it] === undefined) throw new GgufError(file, `${key}: bad array item type ${it}`);
        const n = u64();
        const values: Array<number | bigint | boolean | string> = [];
        for (let k = 0; k < n; k++) values.push(scalar(it));
        metadata.set(key, { type: 'ARRAY', itemType: TYPE_NAMES[it] as GgufScalarType, values });
      } else {
        if (TYPE_NAMES[t] === undefined) throw new GgufError(file, `${key}: unknown value type ${t}`);
        metadata.set(key, { type: TYPE_NAMES[t] as GgufScalarType, value: scalar(t) });
      }
    }
    const alignEntry = metadata.get('general.alignment');
    const alignment = alignEntry && alignEntry.type === 'UINT32' ? Number(alignEntry.value) : GGUF_DEFAULT_ALIGNMENT;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw new GgufError(file, `bad general.alignment ${alignment}`);
    const raw: Array<{ name: string; ne: number[]; type: number; offset: number }> = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = str();
      if (names.has(name)) throw new GgufError(file, `duplicate tensor ${name}`);
      names.add(name);
      const nd = u32();
      if (nd < 1 || nd > 4) throw new GgufError(file, `tensor ${name}: ${nd} dims`);
      const ne: number[] = [];
      for (let k = 0; k < nd; k++) ne.push(u64());
      const type = u32();
      const offset = u64();
      if (offset % alignment !== 0) throw new GgufError(file, `tensor ${name}: offset ${offset} not aligned to ${alignment}`);
      raw.push({ name, ne, type, offset });
    }
    const dataStart = o + pad(o, alignment);
    const tensors: GgufTensorInfo[] = raw.map((r) => {
      const es = ELEMENT_SIZE[r.type];
      if (es === undefined) throw new GgufError(file, `tensor ${r.name}: ggml type ${r.type} not supported by this reader`);
      const byteLength = numel(r.ne) * es;
      const fileOffset = dataStart + r.offset;
      if (fileOffset + byteLength > size) throw new GgufError(file, `tensor ${r.name}: data runs past the end of the file`);
      return { name: r.name, shape: [...r.ne].reverse(), type: r.type, fileOffset, byteLength };
    });
    const sorted = [...tensors].sort((a, b) => a.fileOffset - b.fileOffset);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i - 1].fileOffset + sorted[i - 1].byteLength > sorted[i].fileOffset) {
        throw new GgufError(file, `tensors ${sorted[i - 1].name} and ${sorted[i].name} overlap`);
      }
    }
    return { version, alignment, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's raw bytes. */
export function readGgufTensorData(file: string, t: GgufTensorInfo): Buffer {
  const fd = openSync(file, 'r');
  try {
    const out = Buffer.alloc(t.byteLength);
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, t.fileOffset + got);
      if (n <= 0) throw new GgufError(file, `unexpected end of file in tensor ${t.name}`);
      got += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
