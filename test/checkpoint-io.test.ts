import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkCheckpointBeforeUse,
  checkpointDir,
  COMPLETE_MARKER,
  findLatestCheckpoint,
  inspectCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  resolveResume,
  verifyCheckpoint,
  writeCheckpoint,
} from '../lib/io/checkpoint.ts';
import { NonFiniteTensorsError } from '../lib/io/nonfinite.ts';
import { writeSafetensors } from '../lib/io/safetensors.ts';
import { freshRandom } from './util/random.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'lfm2-ckpt-'));
// Random values so a size or content mix-up cannot pass by accident; the seed is in the suite names and
// LFM2_TEST_SEED=<seed> replays it.
const { rand, seed } = freshRandom();
const randomF32 = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

async function save(run: string, step: number) {
  return writeCheckpoint(run, step, (dir) => {
    writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'w', dtype: 'F32', shape: [25 + step], data: randomF32(25 + step) }]);
    mkdirSync(join(dir, 'optimizer'));
    writeSafetensors(join(dir, 'optimizer', 'state.safetensors'), [{ name: 'w.exp_avg', dtype: 'F32', shape: [12], data: randomF32(12) }]);
    writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ global_step: step }));
  });
}

/** Flips one bit in the middle of a file (same size: only the hashes can tell). */
function flipByte(path: string): void {
  const b = readFileSync(path);
  b[b.length >> 1] ^= 0x01;
  writeFileSync(path, b);
}

describe(`checkpoint layout and marker (seed ${seed})`, () => {
  it('writes checkpoint-<step> with the marker last, listing every file and size', async () => {
    const run = fresh();
    const dir = await save(run, 20);
    expect(dir).toBe(join(run, 'checkpoint-20'));
    const marker = JSON.parse(readFileSync(join(dir, COMPLETE_MARKER), 'utf8'));
    expect(marker.step).toBe(20);
    const rec = (rel: string) => ({ size: statSync(join(dir, rel)).size, sha256: sha256(join(dir, rel)) });
    expect(marker.version).toBe(2);
    expect(marker.files).toEqual({ 'model.safetensors': rec('model.safetensors'), 'optimizer/state.safetensors': rec('optimizer/state.safetensors'), 'trainer_state.json': rec('trainer_state.json') });
    // trainer_state.json holds {"global_step":20}: 18 bytes.
    expect(marker.files['trainer_state.json'].size).toBe(18);
    expect(verifyCheckpoint(dir)).toEqual({ ok: true, step: 20 });
    const report = await inspectCheckpoint(dir, 20);
    expect(report.ok).toBe(true);
    expect(report.hashed).toBe(true);
    expect(report.files.map((f) => [f.file, f.status])).toEqual([['model.safetensors', 'ok'], ['optimizer/state.safetensors', 'ok'], ['trainer_state.json', 'ok']]);
  });

  it('a writer that throws leaves no marker, and the folder is never used', async () => {
    const run = fresh();
    await save(run, 5);
    await expect(
      writeCheckpoint(run, 10, (dir) => {
        writeFileSync(join(dir, 'model.safetensors'), 'half a file');
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
    const size4 = statSync(join(run, 'checkpoint-4', 'model.safetensors')).size;
    truncateSync(join(run, 'checkpoint-4', 'model.safetensors'), 7);
    rmSync(join(run, 'checkpoint-3', 'trainer_state.json'));
    writeFileSync(join(run, 'checkpoint-2', COMPLETE_MARKER), '{"format": "lfm2-rl-checkp');
    const list = listCheckpoints(run);
    expect(list.map((c) => [c.step, c.ok])).toEqual([[1, true], [2, false], [3, false], [4, false]]);
    expect(list[3].reason).toBe(`file model.safetensors has 7 bytes, expected ${size4} (truncated or modified)`);
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

describe(`save_total_limit pruning (seed ${seed})`, () => {
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

describe(`resume resolution (seed ${seed})`, () => {
  it("'latest' finds the newest complete checkpoint; an explicit folder must verify", async () => {
    const run = fresh();
    await save(run, 7);
    expect(await resolveResume(run, 'latest')).toEqual({ step: 7, dir: join(run, 'checkpoint-7') });
    expect(await resolveResume(run, join(run, 'checkpoint-7'))).toEqual({ step: 7, dir: join(run, 'checkpoint-7') });
    rmSync(join(run, 'checkpoint-7', COMPLETE_MARKER));
    await expect(resolveResume(run, join(run, 'checkpoint-7'))).rejects.toThrow(/cannot resume from .*checkpoint-7: incomplete/);
    await expect(resolveResume(run, 'latest', () => {})).rejects.toThrow(/no complete checkpoint to resume from/);
  });
});

describe(`checkpoint hashes (seed ${seed})`, () => {
  for (const file of ['model.safetensors', 'optimizer/state.safetensors']) {
    it(`one flipped byte in ${file}: full check fails naming it, resume falls back, an explicit resume and use refuse`, async () => {
      const run = fresh();
      for (const s of [1, 2]) await save(run, s);
      const dir = join(run, 'checkpoint-2');
      flipByte(join(dir, file));
      // Same size: the cheap check cannot see it, the hashes do.
      expect(verifyCheckpoint(dir, 2).ok).toBe(true);
      const r = await inspectCheckpoint(dir, 2);
      expect(r.ok).toBe(false);
      expect(r.files.find((f) => f.file === file)?.status).toBe('sha256');
      expect(r.files.filter((f) => f.status !== 'ok').length).toBe(1);
      expect(r.reason).toMatch(new RegExp(`^file ${file.replace('/', '\\/')}: SHA-256 [0-9a-f]{16}… does not match the recorded [0-9a-f]{16}…`));
      const warnings: string[] = [];
      expect(await resolveResume(run, 'latest', (m) => warnings.push(m))).toEqual({ step: 1, dir: join(run, 'checkpoint-1') });
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`skipping .*checkpoint-2: file ${file.replace('/', '\\/')}: SHA-256`))]);
      await expect(resolveResume(run, dir)).rejects.toThrow(new RegExp(`cannot resume from .*checkpoint-2: file ${file.replace('/', '\\/')}: SHA-256`));
      await expect(checkCheckpointBeforeUse(dir)).rejects.toThrow(/checkpoint-2 failed verification: file .*SHA-256/);
      await checkCheckpointBeforeUse(join(run, 'checkpoint-1'));
    });
  }

  it('a flipped byte in a header is a hash mismatch too; an added file fails the full check', async () => {
    const run = fresh();
    const dir = await save(run, 3);
    const p = join(dir, 'model.safetensors');
    const b = readFileSync(p);
    b[12] ^= 0x20; // inside the JSON header: the file no longer parses
    writeFileSync(p, b);
    expect((await inspectCheckpoint(dir)).files.find((f) => f.file === 'model.safetensors')?.status).toBe('sha256');
    const other = await save(fresh(), 4);
    writeFileSync(join(other, 'adapter_config.json'), '{}');
    const r = await inspectCheckpoint(other);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('file adapter_config.json: not listed in the marker (added after the save)');
  });

  it('old markers without hashes are accepted with a warning', async () => {
    const run = fresh();
    const dir = await save(run, 5);
    const m = JSON.parse(readFileSync(join(dir, COMPLETE_MARKER), 'utf8'));
    m.version = 1;
    for (const k of Object.keys(m.files)) m.files[k] = m.files[k].size;
    writeFileSync(join(dir, COMPLETE_MARKER), JSON.stringify(m));
    const r = await inspectCheckpoint(dir, 5);
    expect(r.ok).toBe(true);
    expect(r.hashed).toBe(false);
    const warnings: string[] = [];
    expect(await resolveResume(run, 'latest', (w) => warnings.push(w))).toEqual({ step: 5, dir });
    expect(warnings).toEqual([expect.stringMatching(/checkpoint-5 was written without file hashes/)]);
    await checkCheckpointBeforeUse(dir, (w) => warnings.push(w));
    expect(warnings.length).toBe(2);
    // Values are still checked without hashes.
    writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'w', dtype: 'F32', shape: [30], data: new Float32Array(30).fill(NaN) }]);
    expect((await inspectCheckpoint(dir)).reason).toBe('file model.safetensors: tensor w has 30 NaN / 0 Inf values');
  });

  it('a marker naming files outside the folder is corrupt', async () => {
    const run = fresh();
    const dir = await save(run, 6);
    const m = JSON.parse(readFileSync(join(dir, COMPLETE_MARKER), 'utf8'));
    m.files['../escape'] = m.files['trainer_state.json'];
    writeFileSync(join(dir, COMPLETE_MARKER), JSON.stringify(m));
    expect(verifyCheckpoint(dir)).toEqual({ ok: false, reason: 'corrupt completion marker' });
  });

  it('with scanFinite, a checkpoint holding NaN/Inf is not completed and its folder is removed', async () => {
    const run = fresh();
    await save(run, 1);
    const bad = writeCheckpoint(
      run,
      2,
      (dir) => {
        const w = randomF32(40);
        w[3] = NaN;
        w[7] = -Infinity;
        writeSafetensors(join(dir, 'optimizer.safetensors'), [{ name: 'model.layers.3.w1.weight', dtype: 'F32', shape: [40], data: w }]);
      },
      { scanFinite: true },
    );
    await expect(bad).rejects.toThrow(NonFiniteTensorsError);
    await expect(bad).rejects.toThrow(/checkpoint-2 not written: optimizer.safetensors: tensor model.layers.3.w1.weight has 1 NaN \/ 1 Inf values/);
    expect(existsSync(join(run, 'checkpoint-2'))).toBe(false);
    expect(findLatestCheckpoint(run)?.step).toBe(1);
  });
});

describe(`pruning keeps the checkpoint a divergence would fall back to (seed ${seed})`, () => {
  it('keep survives save_total_limit', async () => {
    const run = fresh();
    for (const s of [1, 2, 3]) await save(run, s);
    expect(pruneCheckpoints(run, 1, () => {}, join(run, 'checkpoint-1'))).toEqual([join(run, 'checkpoint-2')]);
    expect(listCheckpoints(run).map((c) => c.step)).toEqual([1, 3]);
    renameSync(join(run, 'checkpoint-1'), join(run, 'checkpoint-1.diverged'));
    expect(listCheckpoints(run).map((c) => c.step)).toEqual([3]);
    // Several kept folders (the SFT stage's checkpoint-0 and a fallback) both survive.
    const run2 = fresh();
    for (const s of [0, 1, 2, 3, 4]) await save(run2, s);
    expect(pruneCheckpoints(run2, 1, () => {}, [join(run2, 'checkpoint-0'), join(run2, 'checkpoint-2')])).toEqual([join(run2, 'checkpoint-1'), join(run2, 'checkpoint-3')]);
    expect(listCheckpoints(run2).map((c) => c.step)).toEqual([0, 2, 4]);
  });
});
