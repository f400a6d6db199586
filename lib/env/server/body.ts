// Reading request bodies with a size cap: a client sending megabytes gets 413 instead of exhausting memory.
import type { IncomingMessage } from 'node:http';
import { EnvServerError } from './errors.ts';

// An oversized body is read and dropped so that the client, still uploading, can read the 413 reply; past this
// many bytes the connection is cut instead (a client may then see a reset rather than the reply).
const DRAIN_CAP_BYTES = 64 * 2 ** 20;

export function tooLarge(limit: number): EnvServerError {
  return new EnvServerError(413, 'payload_too_large', `request body is larger than the limit of ${limit} bytes`);
}

/** Reads the whole body as UTF-8; rejects with 413 when it exceeds `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    const chunks: Buffer[] = [];
    if (over) reject(tooLarge(limit));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        // Drain so the 413 reply can be read, but not without end.
        if (size > Math.max(DRAIN_CAP_BYTES, limit * 4)) req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => reject(err));
  });
}

/** Empty body → undefined; otherwise JSON or a 400. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EnvServerError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}
