// Runs that diverge end cleanly: a huge learning rate (through the real `lfm2-rl train` process) and weights that
// turn NaN mid-run both stop with `training diverged at step N`, exit status 3, and a checkpoint of the last finite
// state that `--resume` continues from. Steps whose loss cannot be computed on the way there are skipped and counted.
// A model that already holds a NaN is refused at load; forced to load, it diverges in its first round with nothing
// finite to save.
// The run's real checkpoints then serve for the hash checks: a flipped byte is named by verify-checkpoint, skipped
// by --resume and refused by eval.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as evalCli } from '../lib/cli/eval.ts';
import { exitCodeOf, run as trainCli } from '../lib/cli/train.ts';
import { run as verifyCli } from '../lib/cli/verify-checkpoint.ts';
import { inspectCheckpoint, listCheckpoints, resolveResume } from '../lib/io/checkpoint.ts';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { readSafetensors, writeSafetensors } from '../lib/io/safetensors.ts';
import { ALLOW_NONFINITE_ENV } from '../lib/engine/finite-weights.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { DIVERGED_EXIT_CODE, ROLLBACK_DIR, TrainingDivergedError } from '../lib/rl/divergence.ts';
import type { Policy } from '../lib/rl/engine-policy.ts';
import type { TrainEngine } from '../lib/rl/engine-types.ts';
import { trainRun } from '../lib/rl/run.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig, TINY_CONFIG } from './trainer-helpers.ts';

const repo = join(import.meta.dirname, '..');

/** Flips one bit in the middle of a file (same size: only the hashes can tell). */
function flipByte(path: string): void {
  const b = readFileSync(path);
  b[b.length >> 1] ^= 0x01;
  writeFileSync(path, b);
}

afterAll(removeTempRoots);

describe('lfm2-rl train --help', () => {
  it('documents the exit status of a diverged run', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await trainCli(['--help'])).toBe(0);
      expect(log.mock.calls.flat().join('\n')).toMatch(/exit status:[\s\S]*\n {2}3 {5}training diverged/);
    } finally {
      log.mockRestore();
    }
    expect(DIVERGED_EXIT_CODE).toBe(3);
    expect(exitCodeOf(new TrainingDivergedError(4, 'x', null, 'y'))).toBe(3);
    expect(exitCodeOf(new Error('other'))).toBeNull();
  });
});

describe('divergence', () => {
  it('learning rate 1e6: skipped steps, then exit 3 with checkpoint-0 to resume from', async () => {
    const root = tempRoot('diverge-lr');
    // Four updates of one group per round: the first update with a signal explodes the weights, the round's later
    // updates cannot score their tokens (skipped), the next round's rollouts are NaN.
    const args = ['--model', join(root, 'model'), '--output_dir', join(root, 'runs'), '--run_name', 'lr', '--warmup_steps', '0', '--max_steps', '8',
      '--save_steps', '1', '--save_total_limit', '1', '--eval_steps', '0', '--per_device_train_batch_size', '4', '--num_generations', '4', '--generation_batch_size', '16'];
    const r = spawnSync(process.execPath, [join(repo, 'bin', 'lfm2-rl.js'), 'train', '--config', TINY_CONFIG, ...args, '--learning_rate', '1e6'], { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr.slice(-2000)).toBe(DIVERGED_EXIT_CODE);
    const m = /lfm2-rl: training diverged at step (\d+): the policy's log-prob of completion token \d+ is NaN \(episode \d+, click-test seed \d+, env step \d+\)\. (\S+) holds step 0, the last state whose rollouts were finite/.exec(r.stderr);
    expect(m, r.stderr.slice(-2000)).not.toBeNull();
    const step = Number(m![1]);
    const runDir = join(root, 'runs', 'lr');
    expect(m![2]).toBe(join(runDir, 'checkpoint-0'));
    // Steps after the explosion could not be scored: skipped, counted, logged.
    const rows = readJsonl<MetricRow>(join(runDir, 'metrics.jsonl'));
    expect(rows.length).toBe(step);
    const skipped = rows.filter((x) => x['optimizer/skipped'] === 1).map((x) => x.step);
    expect(skipped.length).toBeGreaterThan(0);
    for (const s of skipped) expect(r.stderr).toMatch(new RegExp(`step ${s} skipped: non-finite loss \\(grpo_loss: non-finite logits`));
    // The checkpoint saved from the exploded weights is out of the way; the written one verifies; no snapshot left.
    expect(r.stderr).toMatch(new RegExp(`checkpoint-${step} renamed to .*checkpoint-${step}\\.diverged`));
    expect(existsSync(join(runDir, `checkpoint-${step}.diverged`))).toBe(true);
    expect(listCheckpoints(runDir).map((c) => [c.step, c.ok])).toEqual([[0, true]]);
    expect((await inspectCheckpoint(join(runDir, 'checkpoint-0'), 0)).ok).toBe(true);
    expect(existsSync(join(runDir, ROLLBACK_DIR))).toBe(false);

    // --resume with a sane learning rate continues from step 0.
    const out = new CaptureStream();
    const resumed = await trainRun(tinyConfig(root, [...args.slice(4), '--learning_rate', '2e-3', '--max_steps', '4', '--resume_from_checkpoint', 'latest']), { out, handleSignals: false });
    expect(out.text).toMatch(/resumed from .*checkpoint-0 at step 0/);
    expect(resumed.state.step).toBe(4);
    expect(resumed.state.skippedSteps).toBe(0);
  }, 300_000);

  it('a model that starts with a NaN weight: refused at load; forced, it diverges at step 0 with nothing to save', async () => {
    const root = tempRoot('diverge-start');
    const model = join(root, 'nan-model');
    writeRandomModel(model, presetConfig('tiny'), { seed: 0, dtype: 'f32' });
    const st = readSafetensors(join(model, 'model.safetensors'));
    const tensors = [...st.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data) }));
    tensors.find((t) => t.name === 'model.layers.3.feed_forward.w1.weight')!.data.writeFloatLE(NaN, 0);
    writeSafetensors(join(model, 'model.safetensors'), tensors, st.metadata);
    const config = tinyConfig(root, ['--model', model, '--init_model.preset', 'null', '--max_steps', '2', '--warmup_steps', '0', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4']);
    await expect(trainRun(config, { out: new CaptureStream(), handleSignals: false })).rejects.toThrow(
      /cannot load .*nan-model: model.safetensors: tensor model.layers.3.feed_forward.w1.weight has 1 NaN \/ 0 Inf values/,
    );
    process.env[ALLOW_NONFINITE_ENV] = '1';
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let err: unknown;
    try {
      err = await trainRun(config, { out: new CaptureStream(), handleSignals: false }).then(
        () => null,
        (e: unknown) => e,
      );
    } finally {
      delete process.env[ALLOW_NONFINITE_ENV];
      warn.mockRestore();
    }
    expect(exitCodeOf(err)).toBe(3);
    expect((err as Error).message).toMatch(/^training diverged at step 0: the policy's log-prob of completion token \d+ is NaN .*\. The starting model already gives non-finite values: no checkpoint was written\.$/);
    expect((err as TrainingDivergedError).checkpoint).toBeNull();
  }, 300_000);

  it('a NaN written into the weights: the checkpoint is refused, the run ends at the previous one, resume works', async () => {
    const root = tempRoot('diverge-nan');
    let steps = 0;
    // After the second optimizer step one master weight becomes NaN (what an overflowing update leaves behind),
    // injected through the engine's own state files.
    const poison = async (e: TrainEngine) => {
      const tmp = join(root, 'poison');
      await e.saveState(tmp, '{}');
      const file = join(tmp, 'optimizer.safetensors');
      const st = readSafetensors(file);
      const tensors = [...st.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data) }));
      tensors.find((t) => t.name === 'model.layers.0.operator_norm.weight')!.data.writeFloatLE(NaN, 4);
      writeSafetensors(file, tensors, st.metadata);
      await e.loadState(tmp);
    };
    const wrap = (p: Policy): Policy => {
      const e = p.engine;
      const engine: TrainEngine = {
        mode: e.mode,
        totalParameters: e.totalParameters,
        trainableParameters: e.trainableParameters,
        accumulate: (b, ref, l) => e.accumulate(b, ref, l),
        step: async () => {
          const r = await e.step();
          if (++steps === 2) await poison(e);
          return r;
        },
        zeroGrad: () => e.zeroGrad(),
        referenceLogprobs: (b, t) => e.referenceLogprobs(b, t),
        beginGeneration: () => e.beginGeneration(),
        endGeneration: () => e.endGeneration(),
        saveWeights: (d) => e.saveWeights(d),
        saveState: (d, x) => e.saveState(d, x),
        loadState: (d) => e.loadState(d),
      };
      return { ...p, engine };
    };
    const args = ['--warmup_steps', '0', '--save_steps', '1', '--save_total_limit', '1', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4', '--run_name', 'nan'];
    const err = await trainRun(tinyConfig(root, [...args, '--max_steps', '4']), { out: new CaptureStream(), handleSignals: false, wrapEngine: wrap }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(exitCodeOf(err)).toBe(3);
    const d = err as TrainingDivergedError;
    const runDir = join(root, 'runs', 'nan');
    expect(d.step).toBe(2);
    expect(d.message).toMatch(
      /^training diverged at step 2: the weights are no longer finite \(.*checkpoint-2 not written: model.safetensors: tensor model.layers.0.operator_norm.weight has 1 NaN \/ 0 Inf values\)\. .*checkpoint-1 holds step 1/,
    );
    expect(d.checkpoint).toBe(join(runDir, 'checkpoint-1'));
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([1]);
    expect(existsSync(join(runDir, 'checkpoint-2'))).toBe(false);
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toContain('<svg');

    const out = new CaptureStream();
    const resumed = await trainRun(tinyConfig(root, [...args, '--max_steps', '3', '--save_total_limit', 'null', '--resume_from_checkpoint', 'latest']), { out, handleSignals: false });
    expect(out.text).toMatch(/resumed from .*checkpoint-1 at step 1/);
    expect(resumed.state.step).toBe(3);
    expect((await inspectCheckpoint(join(runDir, 'checkpoint-3'), 3)).ok).toBe(true);

    // One flipped byte in a real checkpoint's weights, one in another's optimizer state: verify-checkpoint names
    // them, resume falls back past both, eval refuses both.
    flipByte(join(runDir, 'checkpoint-3', 'model.safetensors'));
    flipByte(join(runDir, 'checkpoint-2', 'optimizer.safetensors'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    let code: number;
    let text: string;
    try {
      code = await verifyCli([runDir]);
      expect(await verifyCli([join(runDir, 'checkpoint-1')])).toBe(0);
      text = log.mock.calls.flat().join('\n');
    } finally {
      log.mockRestore();
    }
    expect(code).toBe(1);
    expect(text).toMatch(/checkpoint-1: ok \(step 1\)/);
    expect(text).toMatch(/checkpoint-2: FAILED \(step 2\)[\s\S]*sha256 +optimizer.safetensors: SHA-256 [0-9a-f]{16}… does not match/);
    expect(text).toMatch(/checkpoint-3: FAILED \(step 3\)[\s\S]*sha256 +model.safetensors: SHA-256/);
    const warnings: string[] = [];
    expect(await resolveResume(runDir, 'latest', (w) => warnings.push(w))).toEqual({ step: 1, dir: join(runDir, 'checkpoint-1') });
    expect(warnings).toEqual([expect.stringMatching(/skipping .*checkpoint-3: file model.safetensors: SHA-256/), expect.stringMatching(/skipping .*checkpoint-2: file optimizer.safetensors: SHA-256/)]);
    await expect(evalCli(['--model', join(runDir, 'checkpoint-3')])).rejects.toThrow(/checkpoint-3 failed verification: file model.safetensors: SHA-256/);
    await expect(evalCli(['--model', join(runDir, 'checkpoint-2')])).rejects.toThrow(/checkpoint-2 failed verification: file optimizer.safetensors: SHA-256/);
  }, 300_000);
});
