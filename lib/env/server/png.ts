// Minimal PNG codec for screenshots. OpenEnv sends screenshots as [H][W][3] uint8 nested lists while the env
// produces PNG bytes, so the server decodes Chromium's PNGs (8-bit RGB/RGBA, non-interlaced, any filter) and the
// client re-encodes lists into PNG. Other PNG variants are rejected with a clear error, never misread.
import { deflateSync, inflateSync } from 'node:zlib';

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major RGB bytes. */
  data: Uint8Array; // [height * width * 3]
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// CRC-32 (ISO-HDLC) table for chunk checksums.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

export function decodePngToRgb(png: Uint8Array): RgbImage {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file (bad signature)');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos + 12 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (pos + 12 + len > buf.length) throw new Error(`truncated PNG chunk '${type}'`);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (crc32(buf.subarray(pos + 4, pos + 8 + len)) !== buf.readUInt32BE(pos + 8 + len)) {
      throw new Error(`PNG chunk '${type}' has a bad CRC`);
    }
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      if (depth !== 8) throw new Error(`unsupported PNG bit depth ${depth} (only 8)`);
      if (colour === 2) channels = 3;
      else if (colour === 6) channels = 4;
      else throw new Error(`unsupported PNG colour type ${colour} (only RGB and RGBA)`);
      if (interlace !== 0) throw new Error('interlaced PNGs are not supported');
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (channels === 0) throw new Error('PNG has no IHDR chunk');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error('PNG image data has the wrong size');
  const prev = new Uint8Array(stride);
  const cur = new Uint8Array(stride);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const rowStart = y * (stride + 1);
    const filter = raw[rowStart]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[rowStart + 1 + i]!;
      const a = i >= channels ? cur[i - channels]! : 0; // left
      const b = prev[i]!; // up
      const c = i >= channels ? prev[i - channels]! : 0; // up-left
      let v: number;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw new Error(`bad PNG filter type ${filter} in row ${y}`);
      }
      cur[i] = v & 0xff;
    }
    for (let px = 0; px < width; px++) {
      out[(y * width + px) * 3] = cur[px * channels]!;
      out[(y * width + px) * 3 + 1] = cur[px * channels + 1]!;
      out[(y * width + px) * 3 + 2] = cur[px * channels + 2]!;
    }
    prev.set(cur);
  }
  return { width, height, data: out };
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** RGB bytes → PNG (filter 0 on every row; size matters less than simplicity here). */
export function encodeRgbToPng(img: RgbImage): Buffer {
  const { width, height, data } = img;
  if (data.length !== width * height * 3) throw new Error(`RGB data has ${data.length} bytes, expected ${width * height * 3}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    raw.set(data.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** RGB image → OpenEnv's nested [H][W][3] lists. */
export function rgbToNestedLists(img: RgbImage): number[][][] {
  const rows: number[][][] = [];
  for (let y = 0; y < img.height; y++) {
    const row: number[][] = [];
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 3;
      row.push([img.data[i]!, img.data[i + 1]!, img.data[i + 2]!]);
    }
    rows.push(row);
  }
  return rows;
}

/** Nested [H][W][3] lists → RGB image; throws on ragged rows or values outside 0..255. */
export function nestedListsToRgb(lists: unknown): RgbImage {
  if (!Array.isArray(lists) || lists.length === 0 || !Array.isArray(lists[0])) {
    throw new Error('screenshot must be a non-empty [H][W][3] list');
  }
  const height = lists.length;
  const width = (lists[0] as unknown[]).length;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = lists[y];
    if (!Array.isArray(row) || row.length !== width) throw new Error(`screenshot row ${y} does not have ${width} pixels`);
    for (let x = 0; x < width; x++) {
      const px = row[x];
      if (!Array.isArray(px) || px.length < 3) throw new Error(`screenshot pixel (${y}, ${x}) is not an [r, g, b] list`);
      for (let c = 0; c < 3; c++) {
        const v = px[c];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
          throw new Error(`screenshot pixel (${y}, ${x}) has a value outside 0..255`);
        }
        data[(y * width + x) * 3 + c] = v;
      }
    }
  }
  return { width, height, data };
}
