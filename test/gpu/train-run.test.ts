// `lfm2-rl train` with `device: cuda`: the whole product on the GPU engine — browser episodes, batched generation by
// the CUDA sampler (graph decode), GRPO micro-steps and AdamW by the CUDA trainer on the same device weights, metrics,
// checkpoints — for full fine-tuning and for LoRA (whose adapter takes part in generation without merging). Real GPU
// only: on the CUDA emulator one such run takes several minutes (every CUDA thread is a fiber on one CPU core), so CI
// covers the same engine pieces through train.test.ts and generate.test.ts instead.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, type MetricRow } from '../../lib/io/metrics.ts';
import { COMPLETE_MARKER } from '../../lib/io/checkpoint.ts';
import { trainRun } from '../../lib/rl/run.ts';
import { loadEvalPolicy } from '../../lib/rl/engine-policy.ts';
import { LfmModel } from '../../lib/engine/model.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig } from '../trainer-helpers.ts';
import { emulated, gpu, skipReason } from './gpu-available.ts';

afterAll(removeTempRoots);

// Two optimizer steps of 2 groups × 4 episodes: enough to take every path (generation, several micro-steps,
// optimizer, a checkpoint) while staying in the emulator's budget.
const SMALL = ['--device', 'cuda', '--max_steps', '2', '--num_generations', '4', '--per_device_train_batch_size', '8', '--save_steps', '2', '--eval_steps', '0', '--warmup_steps', '1'];

const why = !gpu ? skipReason : emulated ? 'skipped on the CUDA emulator (too slow for a whole run)' : '';
describe.skipIf(!gpu || emulated)(`lfm2-rl train on device cuda${why ? ` (${why})` : ''}`, () => {
  it('full fine-tuning: trains, logs TRL metrics and writes a checkpoint the CPU engine loads', async () => {
    const root = tempRoot('gpu-full');
    const out = new CaptureStream();
    const r = await trainRun(tinyConfig(root, SMALL), { out, handleSignals: false });
    expect(r.state.step).toBe(2);
    expect(out.text).toMatch(/device\s+cuda \(/);
    const rows = readJsonl<MetricRow>(join(r.runDir, 'metrics.jsonl')).filter((x) => typeof x.reward === 'number');
    expect(rows.map((x) => x.step)).toEqual([1, 2]);
    for (const x of rows) {
      expect(Number.isFinite(x.loss as number)).toBe(true);
      expect(x.grad_norm as number).toBeGreaterThan(0);
    }
    const ckpt = join(r.runDir, 'checkpoint-2');
    expect(existsSync(join(ckpt, COMPLETE_MARKER))).toBe(true);
    // The trained weights differ from the starting ones and load on the CPU.
    const start = await LfmModel.load(join(root, 'model'));
    const trained = await LfmModel.load(ckpt);
    const prompt = Int32Array.from([1, 5, 9, 13, 17]);
    const a = await start.logits(prompt);
    const b = await trained.logits(prompt);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-4);
  });

  it('LoRA: the adapter trains on the GPU, is saved as PEFT and evaluates on the GPU without merging', async () => {
    const root = tempRoot('gpu-lora');
    const out = new CaptureStream();
    const r = await trainRun(tinyConfig(root, [...SMALL, '--use_peft', 'true', '--lora.r', '4', '--learning_rate', '1e-2']), { out, handleSignals: false });
    expect(r.state.step).toBe(2);
    const ckpt = join(r.runDir, 'checkpoint-2');
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', COMPLETE_MARKER]) expect(existsSync(join(ckpt, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(ckpt, 'adapter_config.json'), 'utf8')).r).toBe(4);
    // Evaluation policy on the GPU: the adapter is live in generation (log-probs differ from the bare base).
    const policy = await loadEvalPolicy(ckpt, { baseDir: join(root, 'model'), device: 'cuda', threads: 0, precision: 'fast' });
    const base = await loadEvalPolicy(join(root, 'model'), { device: 'cuda', threads: 0, precision: 'fast' });
    expect(policy.device).toMatch(/^cuda/);
    const req = [{ prompt: [1, 5, 9, 13, 17], n: 1 }];
    const settings = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 4, stopIds: [], seed: 1 };
    const withAdapter = await policy.generator.generate(req, settings);
    const bare = await base.generator.generate(req, settings);
    const lp = (g: typeof bare) => g.samples[0][0].logprobs;
    const same = lp(withAdapter).every((x, i) => Math.abs(x - lp(bare)[i]) < 1e-6) && withAdapter.samples[0][0].tokens.join() === bare.samples[0][0].tokens.join();
    expect(same).toBe(false);
    policy.close();
    base.close();
  });
});
