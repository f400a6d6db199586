// The SFT loop on a recording engine: epochs visit every demonstration once in a seeded order, batch_size samples per
// optimizer step packed into token-budget micro-batches, the 'sft' loss at temperature 1 without KL normalised by
// the step's completion tokens, one metrics row per step (at step 0, before GRPO) with loss, token accuracy, epoch,
// learning rate; non-finite losses skip the step; a stop request ends the stage between steps.
import { describe, expect, it } from 'vitest';
import type { AccumulateStats, LossSettings, OptimizerStepResult } from '../lib/rl/engine-types.ts';
import type { DemoRecord } from '../lib/rl/demo-file.ts';
import type { PackedBatch } from '../lib/engine/packed-batch.ts';
import { completionWeight, packSamples, type TrainingSample } from '../lib/rl/samples.ts';
import { epochOrder, runSft, sftSample, sftStepCount, SFT_METRICS, type SftLoopDeps, type SftTokenizer } from '../lib/rl/sft.ts';

/** Sample i: prompt [1000 + i] + (i % 3 + 2) filler tokens, completion of i % 4 + 2 tokens. */
function samples(n: number): TrainingSample[] {
  return Array.from({ length: n }, (_, i) => {
    const completionIds = Array.from({ length: (i % 4) + 2 }, (_, j) => 10 + j);
    return { episode: i, step: 0, promptIds: [1000 + i, ...new Array<number>((i % 3) + 2).fill(5)], completionIds, oldLogprobs: completionIds.map(() => 0), advantage: 1, truncated: false };
  });
}

/** Loss per completion token 0.5 (so a step's loss is 0.5); the first token of each completion counts as correct. */
class RecordingEngine {
  calls: Array<{ ids: number[]; tokens: number; loss: LossSettings; ref: Float32Array | null }> = [];
  steps = 0;
  zeroGrads = 0;
  nanAtCall = -1;
  async accumulate(b: PackedBatch, ref: Float32Array | null, loss: LossSettings): Promise<AccumulateStats & { correct: number }> {
    const ids = Array.from(b.cuSeqlens.subarray(0, -1), (start) => b.tokens[start] - 1000);
    const n = b.completionMask.filter((m) => m !== 0).length;
    expect(Array.from(b.advantages!)).toEqual(ids.map(() => 1));
    expect(b.oldLogprobs!.every((x) => x === 0)).toBe(true);
    this.calls.push({ ids, tokens: b.tokens.length, loss, ref });
    const loss0 = this.calls.length - 1 === this.nanAtCall ? NaN : (0.5 * n) / loss.tokenNormalizer;
    return { loss: loss0, tokens: n, correct: ids.length, klSum: 0, entropySum: 0, clipLow: 0, clipHigh: 0, clipRegion: 0 };
  }
  async step(): Promise<OptimizerStepResult> {
    this.steps++;
    return { gradNorm: 2, skipped: false, lr: 1e-3 / this.steps, badTensor: null };
  }
  async zeroGrad(): Promise<void> {
    this.zeroGrads++;
  }
}

function deps(engine: RecordingEngine, over: Partial<SftLoopDeps> = {}): SftLoopDeps & { rows: Array<{ step: number; m: Record<string, number | null> }>; logs: string[] } {
  const rows: Array<{ step: number; m: Record<string, number | null> }> = [];
  const logs: string[] = [];
  return {
    engine,
    samples: samples(10),
    epochs: 3,
    batchSize: 4,
    microBatchTokens: 20,
    seed: 3,
    loss: { epsilonLow: 0.2, epsilonHigh: 0.2, maxCompletionLength: 32 },
    metrics: { logStep: (step, m) => rows.push({ step, m }) },
    log: (m) => logs.push(m),
    progress: null,
    rows,
    logs,
    ...over,
  };
}

describe('SFT loop', () => {
  it('visits every sample once per epoch in seeded batches, with the sft loss normalised per step', async () => {
    const e = new RecordingEngine();
    const d = deps(e);
    const out = await runSft(d);
    expect(out).toMatchObject({ steps: 9, totalSteps: 9, stopped: false, skippedSteps: 0 });
    expect(sftStepCount(10, 4, 3)).toBe(9);
    expect(e.steps).toBe(9);
    // Group the micro-batches by optimizer step through their tokenNormalizer-bearing loss objects.
    const byStep = new Map<LossSettings, number[]>();
    for (const c of e.calls) byStep.set(c.loss, [...(byStep.get(c.loss) ?? []), ...c.ids]);
    const steps = [...byStep.entries()];
    expect(steps.map(([, ids]) => ids.length)).toEqual([4, 4, 2, 4, 4, 2, 4, 4, 2]);
    for (let ep = 0; ep < 3; ep++) {
      const visited = steps.slice(ep * 3, ep * 3 + 3).flatMap(([, ids]) => ids).sort((a, b) => a - b);
      expect(visited).toEqual([...Array(10).keys()]);
      // Step b of the epoch holds the b-th batch of the epoch's seeded order.
      const order = epochOrder(10, 3, ep);
      for (let b = 0; b < 3; b++) expect([...steps[ep * 3 + b][1]].sort((x, y) => x - y)).toEqual(order.slice(b * 4, b * 4 + 4).sort((x, y) => x - y));
    }
    for (const [loss, ids] of steps) {
      expect(loss).toMatchObject({ lossType: 'sft', temperature: 1, beta: 0, sequenceNormalizer: ids.length, maxCompletionLength: 32 });
      expect(loss.tokenNormalizer).toBe(ids.reduce((a, i) => a + (i % 4) + 2, 0));
    }
    // Micro-batches stay within the token budget (a longer single sample gets its own).
    for (const c of e.calls) expect(c.tokens <= 20 || c.ids.length === 1).toBe(true);
    expect(e.calls.every((c) => c.ref === null)).toBe(true);
    // One row per step, at step 0, with the stage's metrics.
    expect(d.rows.map((r) => r.step)).toEqual(new Array(9).fill(0));
    expect(d.rows.map((r) => r.m[SFT_METRICS.step])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(d.rows.map((r) => Number((r.m[SFT_METRICS.epoch] as number).toFixed(4)))).toEqual([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2, 7 / 3, 8 / 3, 3].map((x) => Number(x.toFixed(4))));
    steps.forEach(([loss, ids], i) => {
      const m = d.rows[i].m;
      expect(m[SFT_METRICS.loss]).toBeCloseTo(0.5, 12);
      expect(m[SFT_METRICS.tokenAccuracy]).toBeCloseTo(ids.length / loss.tokenNormalizer, 12);
      expect(m[SFT_METRICS.tokens]).toBe(loss.tokenNormalizer);
      expect(m[SFT_METRICS.learningRate]).toBeCloseTo(1e-3 / (i + 1), 15);
      expect(m[SFT_METRICS.gradNorm]).toBe(2);
      expect(m[SFT_METRICS.skipped]).toBe(0);
    });
    expect(out.epochs.map((x) => x.loss)).toEqual([0.5, 0.5, 0.5]);
    expect(out.epochs[0].tokenAccuracy).toBeCloseTo(10 / samples(10).reduce((a, s) => a + s.completionIds.length, 0), 12);
    expect(d.logs.filter((l) => /^sft epoch \d\/3: loss 0\.5000, token accuracy/.test(l))).toHaveLength(3);
  });

  it('afterEpoch runs after every epoch but the last, with the steps done, and not after a stop', async () => {
    const seen: Array<[number, number]> = [];
    const after = async (epoch: number, steps: number) => void seen.push([epoch, steps]);
    await runSft(deps(new RecordingEngine(), { afterEpoch: after }));
    expect(seen).toEqual([[1, 3], [2, 6]]);  // 10 samples in batches of 4: 3 steps per epoch, 3 epochs
    seen.length = 0;
    let asked = 0;
    await runSft(deps(new RecordingEngine(), { afterEpoch: after, shouldStop: () => asked++ >= 4 }));
    expect(seen).toEqual([[1, 3]]);
  });

  it('orders are deterministic per seed and differ between epochs', () => {
    expect(epochOrder(50, 3, 0)).toEqual(epochOrder(50, 3, 0));
    expect(epochOrder(50, 3, 0)).not.toEqual(epochOrder(50, 3, 1));
    expect(epochOrder(50, 3, 0)).not.toEqual(epochOrder(50, 4, 0));
    expect([...epochOrder(50, 3, 1)].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });

  it('skips a step with a non-finite loss and stops between steps when asked', async () => {
    const e = new RecordingEngine();
    e.nanAtCall = 0;
    let asked = 0;
    const d = deps(e, { shouldStop: () => asked++ >= 4 });
    const out = await runSft(d);
    expect(out).toMatchObject({ steps: 4, stopped: true, skippedSteps: 1 });
    expect(e.zeroGrads).toBe(1);
    expect(e.steps).toBe(3);
    expect(d.rows[0].m).toMatchObject({ [SFT_METRICS.skipped]: 1, [SFT_METRICS.gradNorm]: null, [SFT_METRICS.learningRate]: null });
    expect(d.logs[0]).toMatch(/^sft step 1 skipped: non-finite loss/);
    expect(d.rows).toHaveLength(4);
  });

  it('prompt_loss_weight: prompt tokens weigh w and action tokens 1; the packed mask and the step normaliser carry it', async () => {
    // A template of 6 ids (BOS first) and an action of 3.
    const tok: SftTokenizer = { applyChatTemplate: () => [1, 20, 21, 22, 23, 24], encode: () => [], imEndId: 7, vocabSize: 64 };
    const r = { task: 't', seed: 0, episode: 4, step: 1, messages: [{ role: 'system', content: '' }, { role: 'user', content: '' }], completion: 'x', reward: 0, done: false } as unknown as DemoRecord;
    const action = [30, 31, 7];
    const whole = sftSample(r, tok, false, action, 0.25);
    expect(whole.promptIds).toEqual([1]);
    expect(whole.completionIds).toEqual([20, 21, 22, 23, 24, 30, 31, 7]);
    expect(whole.weights).toEqual([0.25, 0.25, 0.25, 0.25, 0.25, 1, 1, 1]);
    // Weight 1 scores every token alike (no weights carried); completion-only ignores the weight.
    expect(sftSample(r, tok, false, action, 1).weights).toBeUndefined();
    expect(sftSample(r, tok, true, action, 0.25)).toMatchObject({ promptIds: [1, 20, 21, 22, 23, 24], completionIds: action });
    expect(sftSample(r, tok, true, action, 0.25).weights).toBeUndefined();
    expect(() => sftSample(r, tok, false, action, 1.5)).toThrow(/promptWeight must be in \[0, 1\]/);
    const plain = sftSample(r, tok, true, action);
    const packed = packSamples([whole, plain]);
    expect(Array.from(packed.completionMask)).toEqual([0, 0.25, 0.25, 0.25, 0.25, 0.25, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect(completionWeight([whole, plain])).toBe(5 * 0.25 + 3 + 3);
    // A weight that FP32 cannot hold (0.1) counts as the mask's FP32 value, as the engine sums it.
    const tenth = sftSample(r, tok, false, action, 0.1);
    const mask = packSamples([tenth]).completionMask;
    expect(completionWeight([tenth])).toBe(Array.from(mask).reduce((a, b) => a + b, 0));
    expect(completionWeight([tenth])).not.toBe(5 * 0.1 + 3);
    const e = new RecordingEngine();
    await runSft(deps(e, { samples: [whole, plain], epochs: 1, batchSize: 2, microBatchTokens: 100 }));
    expect(e.calls[0].loss.tokenNormalizer).toBe(7.25);
  });

  it('rejects an empty stage and bad sizes', async () => {
    await expect(runSft(deps(new RecordingEngine(), { samples: [] }))).rejects.toThrow(/no demonstrations/);
    await expect(runSft(deps(new RecordingEngine(), { batchSize: 0 }))).rejects.toThrow(/batchSize must be a positive integer/);
  });
});
