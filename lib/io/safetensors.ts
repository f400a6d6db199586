// Safetensors reader (strict validation) and canonical writer in plain TypeScript, byte-compatible with
// native/io/safetensors.cpp. Format: [u64 LE header length N][N bytes UTF-8 JSON header][data]; offsets in the header
// are relative to the start of the data.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import {
  SAFETENSORS_DTYPE_BITS,
  decodeToFloat32,
  decodeToFloat64,
  dtypeAlignment,
  isStDtype,
  type FloatDtype,
  type StDtype,
} from './dtypes.ts';
import { JsonSyntaxError, parseStrictJson, type JsonObject, type JsonValue } from './strict-json.ts';

export type { StDtype } from './dtypes.ts';

/** Largest accepted header, as in the reference implementation (MAX_HEADER_SIZE). */
export const MAX_HEADER_SIZE = 100_000_000;

export type SafetensorsErrorCode =
  | 'IO'
  | 'HEADER_TOO_SMALL'
  | 'HEADER_TOO_LARGE'
  | 'HEADER_TRUNCATED'
  | 'INVALID_UTF8'
  | 'INVALID_HEADER_START'
  | 'INVALID_JSON'
  | 'INVALID_METADATA'
  | 'INVALID_TENSOR_INFO'
  | 'UNKNOWN_DTYPE'
  | 'SIZE_MISMATCH'
  | 'VALIDATION_OVERFLOW'
  | 'INVALID_OFFSET'
  | 'TRAILING_BYTES'
  | 'MISSING_TENSOR'
  | 'BAD_ARGUMENT';

/** Every problem with a safetensors file: the message names the file and the problem. */
export class SafetensorsError extends Error {
  constructor(
    readonly code: SafetensorsErrorCode,
    readonly file: string,
    problem: string,
  ) {
    super(`safetensors ${file}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorHeaderEntry {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** [begin, end) byte offsets relative to the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  headerLength: number;
  /** Tensors in data-offset order. */
  entries: TensorHeaderEntry[];
  metadata: Record<string, string>;
}

export interface SafetensorsTensor {
  dtype: StDtype;
  shape: number[];
  /** Little-endian row-major bytes; may be unaligned, use the decode helpers. */
  data: Buffer;
}

export interface SafetensorsContents {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

function numel(shape: readonly number[]): bigint {
  let n = 1n;
  for (const d of shape) n *= BigInt(d);
  return n;
}

function isIndex(v: JsonValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validates a header (everything except the file-size check needs only the header) and returns its entries. */
export function parseSafetensorsHeader(file: string, headerBytes: Uint8Array): Omit<SafetensorsHeader, 'headerLength'> {
  const err = (code: SafetensorsErrorCode, msg: string) => new SafetensorsError(code, file, msg);
  if (headerBytes.length === 0 || headerBytes[0] !== 0x7b) throw err('INVALID_HEADER_START', "header does not start with '{'");
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw err('INVALID_UTF8', 'header is not valid UTF-8');
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text, { integersOnly: true });
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw err('INVALID_JSON', `header is not valid JSON: ${e.message}`);
    throw e;
  }
  if (!(root instanceof Map)) throw err('INVALID_JSON', 'header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: TensorHeaderEntry[] = [];
  for (const [name, info] of root) {
    if (name === '__metadata__') {
      if (!(info instanceof Map)) throw err('INVALID_METADATA', '__metadata__ is not an object of strings');
      for (const [k, v] of info) {
        if (typeof v !== 'string') throw err('INVALID_METADATA', `__metadata__ value for ${JSON.stringify(k)} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const bad = (what: string) => err('INVALID_TENSOR_INFO', `tensor ${JSON.stringify(name)}: ${what}`);
    if (!(info instanceof Map)) throw bad('entry is not an object');
    for (const k of info.keys()) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') throw bad(`unexpected field ${JSON.stringify(k)}`);
    }
    const dtype = info.get('dtype');
    const shape = info.get('shape');
    const offsets = info.get('data_offsets');
    if (typeof dtype !== 'string') throw bad('missing or non-string "dtype"');
    if (!isStDtype(dtype)) throw err('UNKNOWN_DTYPE', `tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) throw bad('"shape" must be an array of non-negative integers');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw bad('"data_offsets" must be [begin, end] with non-negative integers');
    }
    entries.push({ name, dtype, shape: shape as number[], dataOffsets: [offsets[0] as number, offsets[1] as number] });
  }
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1] || utf8Compare(a.name, b.name));
  let expectedBegin = 0;
  for (const e of entries) {
    const [begin, end] = e.dataOffsets;
    const bits = numel(e.shape) * BigInt(SAFETENSORS_DTYPE_BITS[e.dtype]);
    if (bits > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw err('VALIDATION_OVERFLOW', `tensor ${JSON.stringify(e.name)}: shape [${e.shape}] is too large`);
    }
    if (bits % 8n !== 0n) {
      throw err('SIZE_MISMATCH', `tensor ${JSON.stringify(e.name)}: ${e.dtype} shape [${e.shape}] is not a whole number of bytes`);
    }
    if (end < begin) throw err('INVALID_OFFSET', `tensor ${JSON.stringify(e.name)}: data_offsets [${begin}, ${end}] end before begin`);
    if (BigInt(end - begin) !== bits / 8n) {
      throw err(
        'SIZE_MISMATCH',
        `tensor ${JSON.stringify(e.name)}: ${e.dtype} shape [${e.shape}] needs ${bits / 8n} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (begin !== expectedBegin) {
      const kind = begin > expectedBegin ? 'hole' : 'overlap';
      throw err('INVALID_OFFSET', `tensor ${JSON.stringify(e.name)}: data_offsets [${begin}, ${end}] leave a ${kind} (expected begin ${expectedBegin})`);
    }
    expectedBegin = end;
  }
  return { entries, metadata };
}

function readExactly(fd: number, buf: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n <= 0) throw new SafetensorsError('IO', file, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

interface OpenedHeader extends SafetensorsHeader {
  fileSize: number;
  dataSize: number;
}

function readValidatedHeader(fd: number, file: string): OpenedHeader {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) throw new SafetensorsError('HEADER_TOO_SMALL', file, `file is ${fileSize} bytes, too small for the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  readExactly(fd, lenBuf, 0, file);
  const n = lenBuf.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError('HEADER_TOO_LARGE', file, `header length ${n} exceeds ${MAX_HEADER_SIZE}`);
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) {
    throw new SafetensorsError('HEADER_TRUNCATED', file, `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  }
  const headerBytes = Buffer.alloc(headerLength);
  readExactly(fd, headerBytes, 8, file);
  const { entries, metadata } = parseSafetensorsHeader(file, headerBytes);
  const dataSize = fileSize - 8 - headerLength;
  const last = entries.length ? entries[entries.length - 1].dataOffsets[1] : 0;
  if (last > dataSize) {
    const e = entries.find((t) => t.dataOffsets[1] > dataSize)!;
    throw new SafetensorsError(
      'INVALID_OFFSET',
      file,
      `tensor ${JSON.stringify(e.name)}: data_offsets [${e.dataOffsets}] run past the data section (${dataSize} bytes; file truncated?)`,
    );
  }
  if (last < dataSize) {
    throw new SafetensorsError('TRAILING_BYTES', file, `${dataSize - last} trailing bytes after the last tensor`);
  }
  return { headerLength, entries, metadata, fileSize, dataSize };
}

function withFile<T>(file: string, flags: string, fn: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(file, flags);
  } catch (e) {
    throw new SafetensorsError('IO', file, `cannot open: ${(e as Error).message}`);
  }
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads and fully validates only the header (cheap for big files). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  return withFile(file, 'r', (fd) => {
    const { headerLength, entries, metadata } = readValidatedHeader(fd, file);
    return { headerLength, entries, metadata };
  });
}

/** Reads and fully validates a file; tensor data are views into one buffer holding the data section. */
export function readSafetensors(file: string): SafetensorsContents {
  return withFile(file, 'r', (fd) => {
    const h = readValidatedHeader(fd, file);
    if (h.dataSize > bufferConstants.MAX_LENGTH) {
      throw new SafetensorsError('IO', file, `data section of ${h.dataSize} bytes exceeds the largest Buffer (${bufferConstants.MAX_LENGTH})`);
    }
    const data = Buffer.allocUnsafeSlow(h.dataSize);
    readExactly(fd, data, 8 + h.headerLength, file);
    const tensors = new Map<string, SafetensorsTensor>();
    for (const e of h.entries) {
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.dataOffsets[0], e.dataOffsets[1]) });
    }
    return { tensors, metadata: h.metadata };
  });
}

function floatDtype(file: string, name: string, t: SafetensorsTensor): FloatDtype {
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64') return t.dtype;
  throw new SafetensorsError('BAD_ARGUMENT', file, `tensor ${JSON.stringify(name)} has dtype ${t.dtype}, not a float type`);
}

/** The named tensor, checking its shape when `expectedShape` is given. */
export function getTensor(st: SafetensorsContents, name: string, expectedShape?: readonly number[], file = '<memory>'): SafetensorsTensor {
  const t = st.tensors.get(name);
  if (!t) throw new SafetensorsError('MISSING_TENSOR', file, `missing tensor ${name}`);
  if (expectedShape && (expectedShape.length !== t.shape.length || expectedShape.some((d, i) => d !== t.shape[i]))) {
    throw new SafetensorsError('SIZE_MISMATCH', file, `tensor ${name} has shape [${t.shape}], expected [${expectedShape}]`);
  }
  return t;
}

/** A F64/F32/F16/BF16 tensor as a fresh Float32Array (F64 rounded). */
export function tensorToFloat32(st: SafetensorsContents, name: string, expectedShape?: readonly number[], file?: string): Float32Array {
  const t = getTensor(st, name, expectedShape, file);
  return decodeToFloat32(t.data, floatDtype(file ?? '<memory>', name, t));
}

/** A F64/F32/F16/BF16 tensor as a fresh Float64Array (exact). */
export function tensorToFloat64(st: SafetensorsContents, name: string, expectedShape?: readonly number[], file?: string): Float64Array {
  const t = getTensor(st, name, expectedShape, file);
  return decodeToFloat64(t.data, floatDtype(file ?? '<memory>', name, t));
}

export interface TensorToWrite {
  name: string;
  dtype: StDtype;
  shape: readonly number[];
  /** numel * bits / 8 little-endian bytes. */
  data: Buffer | ArrayBufferView;
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * Builds the canonical header bytes (without the 8-byte length): `__metadata__` first (always with "format", default
 * "pt", keys in UTF-8 byte order), then tensors sorted by (dtype alignment desc, name), compact JSON, space-padded to
 * a multiple of 8 bytes. Returns the header and the tensors in data order.
 */
export function buildCanonicalHeader(
  file: string,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): { header: Buffer; ordered: TensorToWrite[]; dataSize: number } {
  const bad = (msg: string) => new SafetensorsError('BAD_ARGUMENT', file, msg);
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name.length === 0) throw bad('tensor name must be a non-empty string');
    if (t.name === '__metadata__') throw bad('"__metadata__" is not a valid tensor name');
    if (hasLoneSurrogate(t.name)) throw bad(`tensor name ${JSON.stringify(t.name)} is not valid Unicode`);
    if (seen.has(t.name)) throw bad(`duplicate tensor name ${JSON.stringify(t.name)}`);
    seen.add(t.name);
    if (!isStDtype(t.dtype)) throw bad(`tensor ${JSON.stringify(t.name)}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor ${JSON.stringify(t.name)}: shape must be non-negative integers`);
    }
    const bits = numel(t.shape) * BigInt(SAFETENSORS_DTYPE_BITS[t.dtype]);
    if (bits % 8n !== 0n) throw bad(`tensor ${JSON.stringify(t.name)}: ${t.dtype} shape [${t.shape}] is not a whole number of bytes`);
    if (BigInt(t.data.byteLength) !== bits / 8n) {
      throw bad(`tensor ${JSON.stringify(t.name)}: ${t.dtype} shape [${t.shape}] needs ${bits / 8n} bytes, got ${t.data.byteLength}`);
    }
  }
  const meta: Record<string, string> = { format: 'pt', ...metadata };
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') throw bad(`metadata value for ${JSON.stringify(k)} must be a string`);
    if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) throw bad(`metadata ${JSON.stringify(k)} is not valid Unicode`);
  }
  const ordered = [...tensors].sort(
    (a, b) => dtypeAlignment(b.dtype) - dtypeAlignment(a.dtype) || utf8Compare(a.name, b.name),
  );
  const metaKeys = Object.keys(meta).sort(utf8Compare);
  const parts: string[] = [
    `"__metadata__":{${metaKeys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(meta[k])}`).join(',')}}`,
  ];
  let offset = 0;
  for (const t of ordered) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  if (padded.length > MAX_HEADER_SIZE) throw bad(`header of ${padded.length} bytes exceeds ${MAX_HEADER_SIZE}`);
  return { header: padded, ordered, dataSize: offset };
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, Math.min(buf.length - done, 1 << 30));
}

/** Writes a canonical safetensors file via `<file>.tmp` + rename, so a crash never leaves a half-written file. */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): void {
  const { header, ordered } = buildCanonicalHeader(file, tensors, metadata);
  const tmp = `${file}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new SafetensorsError('IO', file, `cannot create ${tmp}: ${(e as Error).message}`);
  }
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeAll(fd, len);
    writeAll(fd, header);
    for (const t of ordered) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw new SafetensorsError('IO', file, `write failed: ${(e as Error).message}`);
  }
  renameSync(tmp, file);
}
