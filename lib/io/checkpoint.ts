// Checkpoint folders: <runDir>/checkpoint-<step>/ (HF trainer layout, docs/architecture.md §6.4). The caller writes the contents
// (model or adapter, tokenizer, trainer state); this module makes the folder trustworthy: files are flushed to disk,
// then a completion marker listing every file with its size and SHA-256 is written LAST (atomically, by rename).
// Two levels of checking:
//   - cheap (listing, pruning, picking candidates): the marker is valid and every file has its recorded size; a
//     folder failing it is half-written or truncated;
//   - full (resuming, evaluating a checkpoint, `lfm2-rl verify-checkpoint`): every file's SHA-256 matches, no file
//     was added, and every safetensors file holds only finite values. Markers of version 1 (sizes only, written
//     before hashes were recorded) pass with a warning.
// A checkpoint whose safetensors files hold NaN or Inf is never completed (writeCheckpoint with scanFinite).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describeBadTensors, describeNonFinite, NonFiniteTensorsError, scanSafetensors, type TensorNonFinite } from './nonfinite.ts';

export const COMPLETE_MARKER = 'checkpoint_complete.json';
const MARKER_FORMAT = 'lfm2-rl-checkpoint';
const MARKER_VERSION = 2;
const DIR_RE = /^checkpoint-(\d+)$/;

export interface CheckpointEntry {
  step: number;
  dir: string;
  ok: boolean;
  /** Why the checkpoint is unusable (ok = false). */
  reason?: string;
}

interface FileRecord {
  size: number;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
}

interface Marker {
  format: string;
  version: number;
  step: number;
  time: string;
  /** Relative path → its record (version 1: the size in bytes only). */
  files: Record<string, FileRecord | number>;
}

/** One file of a fully verified checkpoint. */
export interface CheckpointFileStatus {
  /** Path relative to the checkpoint folder. */
  file: string;
  status: 'ok' | 'missing' | 'size' | 'sha256' | 'unlisted' | 'nonfinite' | 'unreadable';
  /** What was found (sizes, hashes, the tensor holding NaN/Inf). */
  detail: string;
}

export interface CheckpointReport {
  dir: string;
  ok: boolean;
  /** The marker's step (null when the marker is missing or corrupt). */
  step: number | null;
  /** False for version-1 markers: sizes checked, contents not. */
  hashed: boolean;
  files: CheckpointFileStatus[];
  /** The first problem in one line (ok = false). */
  reason?: string;
}

/** The step a folder's name says (checkpoint-<step>), or undefined for other names. */
export function stepOfCheckpointDir(dir: string): number | undefined {
  const m = DIR_RE.exec(dir.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '');
  return m ? Number(m[1]) : undefined;
}

export function checkpointDir(runDir: string, step: number): string {
  if (!Number.isInteger(step) || step < 0) throw new Error(`checkpoint step must be an integer >= 0, got ${step}`);
  return join(runDir, `checkpoint-${step}`);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Streamed SHA-256 of a file (constant memory). */
async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafeSlow(4 << 20);
  try {
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead <= 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** SHA-256 of a file and, for safetensors files when `scan` is set, its tensors holding NaN/Inf (one read). */
async function digest(path: string, scan: boolean): Promise<{ sha256: string; bad: TensorNonFinite[] }> {
  if (scan && path.endsWith('.safetensors')) {
    const r = await scanSafetensors(path, { sha256: true });
    return { sha256: r.sha256!, bad: r.bad };
  }
  return { sha256: await sha256File(path), bad: [] };
}

const relPath = (dir: string, p: string) => relative(dir, p).split('\\').join('/');

export interface WriteCheckpointOptions {
  /** Marker time (tests). */
  now?: Date;
  /**
   * Refuse to complete a checkpoint whose safetensors files hold NaN or Inf: the folder is removed and
   * NonFiniteTensorsError names the file and tensor (read in the same pass as the hash).
   */
  scanFinite?: boolean;
}

/**
 * Writes checkpoint-<step>: removes any previous folder of that step, lets `write(dir)` fill it, flushes and hashes
 * every file, then writes the completion marker. If `write` throws, the folder is left without a marker (and so
 * never used).
 */
export async function writeCheckpoint(runDir: string, step: number, write: (dir: string) => Promise<void> | void, opts: WriteCheckpointOptions = {}): Promise<string> {
  const dir = checkpointDir(runDir, step);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await write(dir);
  const files: Record<string, FileRecord> = {};
  for (const p of listFiles(dir)) {
    const rel = relPath(dir, p);
    if (rel === COMPLETE_MARKER) throw new Error(`writeCheckpoint: the writer must not create ${COMPLETE_MARKER}`);
    fsyncPath(p);
    const d = await digest(p, opts.scanFinite ?? false);
    if (d.bad.length > 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new NonFiniteTensorsError(p, d.bad, `${dir} not written: ${describeNonFinite(rel, d.bad)}`);
    }
    files[rel] = { size: statSync(p).size, sha256: d.sha256 };
  }
  if (Object.keys(files).length === 0) throw new Error(`writeCheckpoint: nothing was written to ${dir}`);
  const marker: Marker = { format: MARKER_FORMAT, version: MARKER_VERSION, step, time: (opts.now ?? new Date()).toISOString(), files };
  const tmp = join(dir, `${COMPLETE_MARKER}.tmp`);
  writeFileSync(tmp, JSON.stringify(marker, null, 2) + '\n');
  fsyncPath(tmp);
  renameSync(tmp, join(dir, COMPLETE_MARKER));
  return dir;
}

/** The marker of a folder, or why it has no usable one. */
function readMarker(dir: string, expectedStep?: number): { marker: Marker } | { reason: string } {
  const markerPath = join(dir, COMPLETE_MARKER);
  if (!existsSync(markerPath)) return { reason: 'incomplete (no completion marker: the save was interrupted)' };
  let m: Marker;
  try {
    m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
  } catch {
    return { reason: 'corrupt completion marker' };
  }
  if (m === null || typeof m !== 'object' || m.format !== MARKER_FORMAT || typeof m.step !== 'number' || typeof m.files !== 'object' || m.files === null) {
    return { reason: 'corrupt completion marker' };
  }
  if (m.version !== 1 && m.version !== MARKER_VERSION) return { reason: `completion marker version ${String(m.version)} is not supported (newer lfm2-rl?)` };
  for (const [rel, rec] of Object.entries(m.files)) {
    const good = m.version === 1 ? typeof rec === 'number' : typeof rec === 'object' && rec !== null && typeof rec.size === 'number' && typeof rec.sha256 === 'string';
    // Paths stay inside the folder: a marker is data, not a list of places to read.
    if (!good || rel.split('/').includes('..') || rel.startsWith('/')) return { reason: 'corrupt completion marker' };
  }
  if (expectedStep !== undefined && m.step !== expectedStep) return { reason: `marker says step ${m.step}, folder says ${expectedStep}` };
  return { marker: m };
}

const recordSize = (r: FileRecord | number) => (typeof r === 'number' ? r : r.size);

/** Checks a checkpoint folder against its marker (presence, format, step, every file present with its size). */
export function verifyCheckpoint(dir: string, expectedStep?: number): { ok: true; step: number } | { ok: false; reason: string } {
  const r = readMarker(dir, expectedStep);
  if ('reason' in r) return { ok: false, reason: r.reason };
  for (const [rel, rec] of Object.entries(r.marker.files)) {
    const p = join(dir, rel);
    if (!existsSync(p)) return { ok: false, reason: `missing file ${rel}` };
    const actual = statSync(p).size;
    if (actual !== recordSize(rec)) return { ok: false, reason: `file ${rel} has ${actual} bytes, expected ${recordSize(rec)} (truncated or modified)` };
  }
  return { ok: true, step: r.marker.step };
}

/**
 * Full check of a checkpoint folder: marker, every listed file's size and SHA-256 (version 2), no unlisted files, and
 * only finite values in its safetensors files. Reads every byte once.
 */
export async function inspectCheckpoint(dir: string, expectedStep?: number): Promise<CheckpointReport> {
  const r = readMarker(dir, expectedStep);
  if ('reason' in r) return { dir, ok: false, step: null, hashed: false, files: [], reason: r.reason };
  const m = r.marker;
  const files: CheckpointFileStatus[] = [];
  for (const [rel, rec] of Object.entries(m.files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const p = join(dir, rel);
    if (!existsSync(p)) {
      files.push({ file: rel, status: 'missing', detail: 'listed in the marker but missing' });
      continue;
    }
    const size = statSync(p).size;
    if (size !== recordSize(rec)) {
      files.push({ file: rel, status: 'size', detail: `${size} bytes, expected ${recordSize(rec)} (truncated or modified)` });
      continue;
    }
    let d: { sha256: string; bad: TensorNonFinite[] };
    try {
      d = await digest(p, true);
    } catch (e) {
      // A damaged header is reported as the hash mismatch it also is, when the marker has the hash.
      const sha256 = await sha256File(p);
      if (typeof rec === 'number' || sha256 === rec.sha256) {
        files.push({ file: rel, status: 'unreadable', detail: (e as Error).message });
        continue;
      }
      d = { sha256, bad: [] };
    }
    if (typeof rec !== 'number' && d.sha256 !== rec.sha256) {
      files.push({ file: rel, status: 'sha256', detail: `SHA-256 ${d.sha256.slice(0, 16)}… does not match the recorded ${rec.sha256.slice(0, 16)}… (modified after the save)` });
    } else if (d.bad.length > 0) {
      files.push({ file: rel, status: 'nonfinite', detail: describeBadTensors(d.bad) });
    } else {
      files.push({ file: rel, status: 'ok', detail: `${size} bytes${typeof rec === 'number' ? '' : `, sha256 ${d.sha256.slice(0, 16)}…`}` });
    }
  }
  for (const p of listFiles(dir)) {
    const rel = relPath(dir, p);
    if (rel !== COMPLETE_MARKER && !Object.hasOwn(m.files, rel)) files.push({ file: rel, status: 'unlisted', detail: 'not listed in the marker (added after the save)' });
  }
  const bad = files.find((f) => f.status !== 'ok');
  return { dir, ok: !bad, step: m.step, hashed: m.version >= 2, files, ...(bad ? { reason: `file ${bad.file}: ${bad.detail}` } : {}) };
}

/** Warning for a checkpoint whose marker carries no hashes. */
export function unhashedWarning(dir: string): string {
  return `${dir} was written without file hashes (older lfm2-rl): sizes and values checked, contents not`;
}

/**
 * Fully verifies a folder about to be loaded as a model when it is a checkpoint (it has a completion marker): throws
 * naming the file on any mismatch, warns for a marker without hashes. Folders without a marker are plain model
 * folders and pass unchecked.
 */
export async function checkCheckpointBeforeUse(dir: string, warn: (msg: string) => void = console.warn): Promise<void> {
  if (!existsSync(join(dir, COMPLETE_MARKER))) return;
  const r = await inspectCheckpoint(dir, stepOfCheckpointDir(dir));
  if (!r.ok) throw new Error(`${dir} failed verification: ${r.reason}`);
  if (!r.hashed) warn(unhashedWarning(dir));
}

/** Every checkpoint-<step> folder of a run, ascending by step, with its validity. */
export function listCheckpoints(runDir: string): CheckpointEntry[] {
  if (!existsSync(runDir)) return [];
  const out: CheckpointEntry[] = [];
  for (const e of readdirSync(runDir, { withFileTypes: true })) {
    const m = DIR_RE.exec(e.name);
    if (!m || !e.isDirectory()) continue;
    const step = Number(m[1]);
    const dir = join(runDir, e.name);
    const v = verifyCheckpoint(dir, step);
    out.push(v.ok ? { step, dir, ok: true } : { step, dir, ok: false, reason: v.reason });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint, or null. Newer unusable ones are reported through `warn` and skipped. */
export function findLatestCheckpoint(runDir: string, warn: (msg: string) => void = console.warn): { step: number; dir: string } | null {
  const all = listCheckpoints(runDir);
  for (let i = all.length - 1; i >= 0; i--) {
    const c = all[i];
    if (c.ok) return { step: c.step, dir: c.dir };
    warn(`skipping ${c.dir}: ${c.reason}`);
  }
  return null;
}

/**
 * Resolves `resume_from_checkpoint` with full verification (inspectCheckpoint): 'latest' → the newest checkpoint of
 * the run that verifies, newer ones that do not are skipped with a warning naming the file (error if none is left);
 * otherwise a folder that must verify. Returns the folder and its step.
 */
export async function resolveResume(runDir: string, spec: string, warn: (msg: string) => void = console.warn): Promise<{ step: number; dir: string }> {
  if (spec === 'latest') {
    const all = listCheckpoints(runDir);
    for (let i = all.length - 1; i >= 0; i--) {
      const c = all[i];
      const r = c.ok ? await inspectCheckpoint(c.dir, c.step) : null;
      if (!r?.ok) {
        warn(`skipping ${c.dir}: ${r ? r.reason : c.reason}`);
        continue;
      }
      if (!r.hashed) warn(unhashedWarning(c.dir));
      return { step: c.step, dir: c.dir };
    }
    throw new Error(`no complete checkpoint to resume from in ${runDir}`);
  }
  const r = await inspectCheckpoint(spec, stepOfCheckpointDir(spec));
  if (!r.ok) throw new Error(`cannot resume from ${spec}: ${r.reason}`);
  if (!r.hashed) warn(unhashedWarning(spec));
  return { step: r.step!, dir: spec };
}

/**
 * save_total_limit: keeps the newest `limit` complete checkpoints (null = all) and deletes older complete ones, plus
 * unusable folders older than the newest complete checkpoint (leftovers of interrupted saves). The `keep` folders are
 * never deleted (the last checkpoint known to be good, lib/rl/divergence.ts; the end of the SFT stage). Returns
 * deleted folders.
 */
export function pruneCheckpoints(runDir: string, limit: number | null, warn: (msg: string) => void = console.warn, keep: string | readonly string[] | null = null): string[] {
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new Error(`save_total_limit must be an integer >= 1 or null, got ${limit}`);
  const all = listCheckpoints(runDir);
  const complete = all.filter((c) => c.ok);
  const newest = complete.at(-1)?.step ?? -1;
  const removed: string[] = [];
  const kept = new Set((keep === null ? [] : typeof keep === 'string' ? [keep] : keep).map((d) => resolve(d)));
  const drop = (limit === null ? [] : complete.slice(0, Math.max(0, complete.length - limit))).filter((c) => !kept.has(resolve(c.dir)));
  const stale = all.filter((c) => !c.ok && c.step < newest);
  for (const c of [...drop, ...stale]) {
    if (!c.ok) warn(`removing unusable ${c.dir}: ${c.reason}`);
    rmSync(c.dir, { recursive: true, force: true });
    removed.push(c.dir);
  }
  return removed.sort();
}
