// The SFT stage of the real-weight configs on LFM2-350M shapes: configs/lfm2_350m_lora.yaml with its sft block turned
// on (--sft.demo_episodes) runs `lfm2-rl sft` end to end on random weights with the real widths, vocabulary and
// tokenizer size (two of the sixteen layers, one of them attention, to keep the test short): oracle demonstrations in
// the browser, supervised LoRA steps, and checkpoint-0 holding the trained PEFT adapter.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { derivedConfig } from '../lib/engine/presets.ts';
import { loadConfig } from '../lib/io/config.ts';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { trainRun } from '../lib/rl/run.ts';
import { SFT_METRICS } from '../lib/rl/sft.ts';
import { CaptureStream, removeTempRoots, tempRoot } from './trainer-helpers.ts';

afterAll(removeTempRoots);

describe('SFT stage of lfm2_350m_lora.yaml on 350M shapes', () => {
  it('demonstrations, LoRA steps that lower the loss, checkpoint-0 with the adapter', async () => {
    const root = tempRoot('sft-350m');
    const modelDir = join(root, 'model');
    writeRandomModel(modelDir, derivedConfig('lfm2-350m', { layers: 2, attention: [1] }), { seed: 0, dtype: 'bf16' });
    const config = loadConfig('configs/lfm2_350m_lora.yaml', [
      '--model', modelDir, '--output_dir', join(root, 'runs'), '--run_name', 'sft', '--device', 'cpu',
      '--sft.demo_episodes', '2', '--sft.epochs', '2', '--sft.batch_size', '2', '--sft.warmup_steps', '0',
      '--sft.learning_rate', '1e-3', '--sft.eval', 'false', '--eval_steps', '0',
    ]);
    const out = new CaptureStream();
    const r = await trainRun(config, { out, handleSignals: false, sftOnly: true });
    const ckpt = join(r.runDir, 'checkpoint-0');
    expect(existsSync(join(ckpt, 'adapter_model.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(ckpt, 'adapter_config.json'), 'utf8')).r).toBe(8);
    const sft = readJsonl<MetricRow>(join(r.runDir, 'metrics.jsonl')).filter((row) => typeof row[SFT_METRICS.loss] === 'number');
    expect(sft).toHaveLength(2);
    // Two click-test demonstrations (one step each): the second pass over the same two samples has a lower loss.
    expect(sft[1][SFT_METRICS.loss] as number).toBeLessThan(sft[0][SFT_METRICS.loss] as number);
  }, 300_000);
});
