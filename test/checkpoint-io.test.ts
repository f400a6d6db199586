import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointDir,
  COMPLETE_MARKER,
  findLatestCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  resolveResume,
  verifyCheckpoint,
  writeCheckpoint,
} from '../lib/io/checkpoint.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'lfm2-ckpt-'));
// Random bytes so a size or content mix-up cannot pass by accident.
const payload = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));

async function save(run: string, step: number) {
  return writeCheckpoint(run, step, (dir) => {
    writeFileSync(join(dir, 'model.safetensors'), payload(100 + step));
    mkdirSync(join(dir, 'optimizer'));
    writeFileSync(join(dir, 'optimizer', 'state.safetensors'), payload(50));
    writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ global_step: step }));
  });
}

describe('checkpoint layout and marker', () => {
  it('writes checkpoint-<step> with the marker last, listing every file and size', async () => {
    const run = fresh();
    const dir = await save(run, 20);
    expect(dir).toBe(join(run, 'checkpoint-20'));
    const marker = JSON.parse(readFileSync(join(dir, COMPLETE_MARKER), 'utf8'));
    expect(marker.step).toBe(20);
    // trainer_state.json holds {"global_step":20}: 18 bytes.
    expect(marker.files).toEqual({ 'model.safetensors': 120, 'optimizer/state.safetensors': 50, 'trainer_state.json': 18 });
    expect(verifyCheckpoint(dir)).toEqual({ ok: true, step: 20 });
  });

  it('a writer that throws leaves no marker, and the folder is never used', async () => {
    const run = fresh();
    await save(run, 5);
    await expect(
      writeCheckpoint(run, 10, (dir) => {
        writeFileSync(join(dir, 'model.safetensors'), payload(10));
        throw new Error('disk full');
      }),
    ).rejects.toThrow(/disk full/);
    expect(existsSync(join(run, 'checkpoint-10', 'model.safetensors'))).toBe(true);
    const warnings: string[] = [];
    expect(findLatestCheckpoint(run, (m) => warnings.push(m))).toEqual({ step: 5, dir: join(run, 'checkpoint-5') });
    expect(warnings).toEqual([`skipping ${join(run, 'checkpoint-10')}: incomplete (no completion marker: the save was interrupted)`]);
  });

  it('detects truncated, missing and corrupt-marker checkpoints', async () => {
    const run = fresh();
    for (const s of [1, 2, 3, 4]) await save(run, s);
    truncateSync(join(run, 'checkpoint-4', 'model.safetensors'), 7);
    rmSync(join(run, 'checkpoint-3', 'trainer_state.json'));
    writeFileSync(join(run, 'checkpoint-2', COMPLETE_MARKER), '{"format": "lfm2-rl-checkp');
    const list = listCheckpoints(run);
    expect(list.map((c) => [c.step, c.ok])).toEqual([[1, true], [2, false], [3, false], [4, false]]);
    expect(list[3].reason).toBe('file model.safetensors has 7 bytes, expected 104 (truncated or modified)');
    expect(list[2].reason).toBe('missing file trainer_state.json');
    expect(list[1].reason).toBe('corrupt completion marker');
    const warnings: string[] = [];
    expect(findLatestCheckpoint(run, (m) => warnings.push(m))?.step).toBe(1);
    expect(warnings.length).toBe(3);
  });

  it('orders by step number, not by name', async () => {
    const run = fresh();
    for (const s of [9, 10, 100]) await save(run, s);
    expect(listCheckpoints(run).map((c) => c.step)).toEqual([9, 10, 100]);
    expect(findLatestCheckpoint(run)?.step).toBe(100);
  });

  it('rewriting a step replaces the old folder', async () => {
    const run = fresh();
    await save(run, 3);
    writeFileSync(join(run, 'checkpoint-3', 'stale.bin'), 'x');
    await save(run, 3);
    expect(existsSync(join(run, 'checkpoint-3', 'stale.bin'))).toBe(false);
  });

  it('rejects a bad step and an empty checkpoint', async () => {
    expect(() => checkpointDir('r', -1)).toThrow(/step must be an integer >= 0/);
    await expect(writeCheckpoint(fresh(), 1, () => {})).rejects.toThrow(/nothing was written/);
  });
});

describe('save_total_limit pruning', () => {
  it('keeps the newest N complete checkpoints and removes stale half-written ones', async () => {
    const run = fresh();
    for (const s of [10, 20, 30, 40]) await save(run, s);
    mkdirSync(join(run, 'checkpoint-25'));
    writeFileSync(join(run, 'checkpoint-25', 'model.safetensors'), 'half');
    mkdirSync(join(run, 'checkpoint-50')); // newer than every complete one: an in-progress save, left alone
    const warnings: string[] = [];
    const removed = pruneCheckpoints(run, 2, (m) => warnings.push(m));
    expect(removed).toEqual([join(run, 'checkpoint-10'), join(run, 'checkpoint-20'), join(run, 'checkpoint-25')]);
    expect(listCheckpoints(run).map((c) => c.step)).toEqual([30, 40, 50]);
    expect(warnings.length).toBe(1);
  });

  it('null keeps everything; invalid limits are rejected', async () => {
    const run = fresh();
    for (const s of [1, 2, 3]) await save(run, s);
    expect(pruneCheckpoints(run, null)).toEqual([]);
    expect(() => pruneCheckpoints(run, 0)).toThrow(/save_total_limit must be/);
  });
});

describe('resume resolution', () => {
  it("'latest' finds the newest complete checkpoint; an explicit folder must verify", async () => {
    const run = fresh();
    await save(run, 7);
    expect(resolveResume(run, 'latest')).toEqual({ step: 7, dir: join(run, 'checkpoint-7') });
    expect(resolveResume(run, join(run, 'checkpoint-7'))).toEqual({ step: 7, dir: join(run, 'checkpoint-7') });
    rmSync(join(run, 'checkpoint-7', COMPLETE_MARKER));
    expect(() => resolveResume(run, join(run, 'checkpoint-7'))).toThrow(/cannot resume from .*checkpoint-7: incomplete/);
    expect(() => resolveResume(run, 'latest', () => {})).toThrow(/no complete checkpoint to resume from/);
  });
});
