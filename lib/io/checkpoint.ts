// Checkpoint folders: <runDir>/checkpoint-<step>/ (HF trainer layout, docs/architecture.md §6.4). The caller writes the contents
// (model or adapter, tokenizer, trainer state); this module makes the folder trustworthy: files are flushed to disk,
// then a completion marker listing every file and its size is written LAST (atomically, by rename). A folder without
// a valid marker, or whose files no longer match it, is half-written or corrupt and is skipped with a warning.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const COMPLETE_MARKER = 'checkpoint_complete.json';
const MARKER_FORMAT = 'lfm2-rl-checkpoint';
const DIR_RE = /^checkpoint-(\d+)$/;

export interface CheckpointEntry {
  step: number;
  dir: string;
  ok: boolean;
  /** Why the checkpoint is unusable (ok = false). */
  reason?: string;
}

interface Marker {
  format: string;
  version: number;
  step: number;
  time: string;
  /** Relative path → size in bytes. */
  files: Record<string, number>;
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

/**
 * Writes checkpoint-<step>: removes any previous folder of that step, lets `write(dir)` fill it, flushes every file,
 * then writes the completion marker. If `write` throws, the folder is left without a marker (and so never used).
 */
export async function writeCheckpoint(runDir: string, step: number, write: (dir: string) => Promise<void> | void, now: Date = new Date()): Promise<string> {
  const dir = checkpointDir(runDir, step);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await write(dir);
  const files: Record<string, number> = {};
  for (const p of listFiles(dir)) {
    const rel = relative(dir, p).split('\\').join('/');
    if (rel === COMPLETE_MARKER) throw new Error(`writeCheckpoint: the writer must not create ${COMPLETE_MARKER}`);
    fsyncPath(p);
    files[rel] = statSync(p).size;
  }
  if (Object.keys(files).length === 0) throw new Error(`writeCheckpoint: nothing was written to ${dir}`);
  const marker: Marker = { format: MARKER_FORMAT, version: 1, step, time: now.toISOString(), files };
  const tmp = join(dir, `${COMPLETE_MARKER}.tmp`);
  writeFileSync(tmp, JSON.stringify(marker, null, 2) + '\n');
  fsyncPath(tmp);
  renameSync(tmp, join(dir, COMPLETE_MARKER));
  return dir;
}

/** Checks a checkpoint folder against its marker (presence, format, step, every file present with its size). */
export function verifyCheckpoint(dir: string, expectedStep?: number): { ok: true; step: number } | { ok: false; reason: string } {
  const markerPath = join(dir, COMPLETE_MARKER);
  if (!existsSync(markerPath)) return { ok: false, reason: 'incomplete (no completion marker: the save was interrupted)' };
  let m: Marker;
  try {
    m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
  } catch {
    return { ok: false, reason: 'corrupt completion marker' };
  }
  if (m.format !== MARKER_FORMAT || typeof m.step !== 'number' || typeof m.files !== 'object' || m.files === null) {
    return { ok: false, reason: 'corrupt completion marker' };
  }
  if (expectedStep !== undefined && m.step !== expectedStep) return { ok: false, reason: `marker says step ${m.step}, folder says ${expectedStep}` };
  for (const [rel, size] of Object.entries(m.files)) {
    const p = join(dir, rel);
    if (!existsSync(p)) return { ok: false, reason: `missing file ${rel}` };
    const actual = statSync(p).size;
    if (actual !== size) return { ok: false, reason: `file ${rel} has ${actual} bytes, expected ${size} (truncated or modified)` };
  }
  return { ok: true, step: m.step };
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
 * Resolves `resume_from_checkpoint`: 'latest' → newest complete checkpoint of the run (error if none); otherwise a
 * folder that must verify. Returns the folder and its step.
 */
export function resolveResume(runDir: string, spec: string, warn: (msg: string) => void = console.warn): { step: number; dir: string } {
  if (spec === 'latest') {
    const c = findLatestCheckpoint(runDir, warn);
    if (!c) throw new Error(`no complete checkpoint to resume from in ${runDir}`);
    return c;
  }
  const m = DIR_RE.exec(spec.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '');
  const v = verifyCheckpoint(spec, m ? Number(m[1]) : undefined);
  if (!v.ok) throw new Error(`cannot resume from ${spec}: ${v.reason}`);
  return { step: v.step, dir: spec };
}

/**
 * save_total_limit: keeps the newest `limit` complete checkpoints (null = all) and deletes older complete ones, plus
 * unusable folders older than the newest complete checkpoint (leftovers of interrupted saves). Returns deleted folders.
 */
export function pruneCheckpoints(runDir: string, limit: number | null, warn: (msg: string) => void = console.warn): string[] {
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new Error(`save_total_limit must be an integer >= 1 or null, got ${limit}`);
  const all = listCheckpoints(runDir);
  const complete = all.filter((c) => c.ok);
  const newest = complete.at(-1)?.step ?? -1;
  const removed: string[] = [];
  const drop = limit === null ? [] : complete.slice(0, Math.max(0, complete.length - limit));
  const stale = all.filter((c) => !c.ok && c.step < newest);
  for (const c of [...drop, ...stale]) {
    if (!c.ok) warn(`removing unusable ${c.dir}: ${c.reason}`);
    rmSync(c.dir, { recursive: true, force: true });
    removed.push(c.dir);
  }
  return removed.sort();
}
