// Scheduling of asynchronous rollouts, without a model or a browser: which step collects the next round, the turns on
// the shared model (generation never beside a training call, CPU-LoRA merge state switched, the prefix cache kept
// through the round), the checkpoint form of a collected round, and the training loop on a scripted engine, generator
// and environment: round k+1 is sampled with the weights before step k, never older (staleness ≤ 1), and with
// weight-independent samples the async run trains on exactly the sync run's batches.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Episode, Observation, ResetOptions, StepResult } from '../lib/env/types.ts';
import type { ChatMessage } from '../lib/engine/tokenizer.ts';
import { loadConfig } from '../lib/io/config.ts';
import { MetricsWriter, readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { overlapsNextRound, RoundPrefetch } from '../lib/rl/async-rollouts.ts';
import { parseRound, serializeRound, type CollectedRound } from '../lib/rl/collected-round.ts';
import type { AccumulateStats, LossSettings, OptimizerStepResult, TrainEngine } from '../lib/rl/engine-types.ts';
import type { GeneratedSample, GenerationRequest, GenerationSettings, Generator } from '../lib/rl/generator.ts';
import { ModelTurns } from '../lib/rl/model-turns.ts';
import type { PackedBatch } from '../lib/engine/packed-batch.ts';
import { generationSeed } from '../lib/rl/seeds.ts';
import { GrpoTrainer, type LoopState } from '../lib/rl/trainer.ts';
import { TINY_CONFIG } from './trainer-helpers.ts';
import { tempDir } from './util/temp-dir.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('overlapsNextRound', () => {
  it('is the last step of each round, unless no step consumes the next round', () => {
    const steps = (perRound: number, max: number) => Array.from({ length: max }, (_, s) => s).filter((s) => overlapsNextRound(s, perRound, max));
    expect(steps(1, 5)).toEqual([0, 1, 2, 3]);
    expect(steps(2, 6)).toEqual([1, 3]);
    expect(steps(2, 5)).toEqual([1, 3]); // round 2 feeds step 5 alone: its last step collects nothing
    expect(steps(3, 3)).toEqual([]);
    expect(() => overlapsNextRound(0, 0, 5)).toThrow(/stepsPerRound must be a positive integer/);
  });
});

describe('RoundPrefetch', () => {
  it('measures the overlap and the wait; holds a failure until joined', async () => {
    const p = new RoundPrefetch(async () => {
      await sleep(40);
      return 7;
    });
    const trainDone = performance.now() + 10;
    const j = await p.join(trainDone);
    expect(j.value).toBe(7);
    expect(j.overlapSeconds).toBeGreaterThan(0.005);
    expect(j.overlapSeconds).toBeLessThan(0.03);
    expect(j.waitSeconds).toBeGreaterThan(0.01);
    const bad = new RoundPrefetch<number>(async () => {
      throw new Error('env gone');
    });
    await sleep(5); // no unhandled rejection meanwhile
    await bad.settle();
    await expect(bad.join(performance.now())).rejects.toThrow('env gone');
  });
});

/** An engine that counts optimizer steps (the weight version) and models CPU LoRA's merge state. */
class ScriptedEngine implements TrainEngine {
  readonly mode = 'lora' as const;
  readonly totalParameters = 1;
  readonly trainableParameters = 1;
  version = 0;
  merged = false;
  inTraining = 0;
  begins = 0;
  switches = 0;
  /** Weight version seen by each accumulate call. */
  accumulated: number[] = [];

  constructor(private readonly trainMs: number) {}

  async accumulate(batch: PackedBatch, _ref: Float32Array | null, _l: LossSettings): Promise<AccumulateStats> {
    if (this.merged) throw new Error('accumulate on merged weights');
    this.inTraining++;
    await sleep(this.trainMs);
    this.inTraining--;
    this.accumulated.push(this.version);
    const tokens = batch.completionMask.reduce((a, b) => a + b, 0);
    return { loss: 0.01 * this.version + tokens * 1e-3, tokens, klSum: 0, entropySum: tokens, clipLow: 0, clipHigh: 0, clipRegion: 0, correct: 0 };
  }
  async step(): Promise<OptimizerStepResult> {
    if (this.merged) throw new Error('step on merged weights');
    this.version++;
    return { gradNorm: 1, skipped: false, lr: 1e-3, badTensor: null };
  }
  async zeroGrad(): Promise<void> {}
  async referenceLogprobs(batch: PackedBatch): Promise<Float32Array> {
    return new Float32Array(batch.tokens.length);
  }
  async beginGeneration(): Promise<void> {
    this.begins++;
    this.merged = true;
  }
  async endGeneration(): Promise<void> {
    this.merged = false;
  }
  async suspendGeneration(): Promise<void> {
    this.switches++;
    this.merged = false;
  }
  async resumeGeneration(): Promise<void> {
    this.merged = true;
  }
  async saveWeights(): Promise<void> {}
  async saveState(): Promise<void> {}
  async loadState(): Promise<string> {
    return '{}';
  }
}

// Byte-level tokenizer: ids 0..255 are UTF-8 bytes, 256 ends a turn.
const IM_END = 256;
const tokenizer = {
  vocabSize: 257,
  imEndId: IM_END,
  stopIds: [IM_END],
  encode: (text: string) => [...Buffer.from(text, 'utf8')],
  decode: (ids: readonly number[]) => Buffer.from(ids.filter((i) => i < 256)).toString('utf8'),
  applyChatTemplate: (messages: readonly ChatMessage[]) => [...Buffer.from(messages.map((m) => `<${m.role}>${String(m.content)}`).join('') + '<assistant>', 'utf8')],
};

/** Samples chosen by (seed, sample index) only; records the weight version and merge state at each call. */
class ScriptedGenerator implements Generator {
  calls: Array<{ seed: number; version: number; merged: boolean; inTraining: number }> = [];
  constructor(private readonly engine: ScriptedEngine) {}
  async generate(requests: readonly GenerationRequest[], s: GenerationSettings) {
    this.calls.push({ seed: s.seed, version: this.engine.version, merged: this.engine.merged, inTraining: this.engine.inTraining });
    await sleep(2);
    let k = 0;
    const samples = requests.map((r) =>
      Array.from({ length: r.n }, (): GeneratedSample => {
        const text = (s.seed + k++) % 3 === 0 ? "click('1')" : "click('2')";
        const tokens = [...tokenizer.encode(text), IM_END];
        return { tokens, logprobs: tokens.map((_, i) => -0.1 * (i + 1)), finish: 'stop' };
      }),
    );
    return { samples, timings: { seconds: 0 } };
  }
}

/** Click [1] to win; slow enough that the page work overlaps the trainer's calls. */
class SlowEpisode implements Episode {
  private obs(): Observation {
    return { goal: 'Click One.', axtree_txt: "RootWebArea 'Task'\n\t[1] button 'One'\n\t[2] button 'Two'", pruned_html: '', url: 'http://task', focused_element_bid: '', last_action: '', last_action_error: '' };
  }
  async reset(_o: ResetOptions): Promise<Observation> {
    await sleep(4);
    return this.obs();
  }
  async step(action: string): Promise<StepResult> {
    await sleep(6);
    const win = action === "click('1')";
    return { observation: this.obs(), reward: win ? 1 : 0, done: win, truncated: false, info: {} };
  }
  async observe(): Promise<Observation> {
    return this.obs();
  }
  async close(): Promise<void> {}
}

interface Scripted {
  rows: MetricRow[];
  engine: ScriptedEngine;
  generator: ScriptedGenerator;
  saved: LoopState[];
}

async function scriptedRun(dir: string, overrides: string[], trainMs = 8): Promise<Scripted> {
  const config = loadConfig(TINY_CONFIG, [
    '--output_dir', dir, '--constrained_actions', 'false', '--action_set', 'click', '--max_env_steps', '2', '--eval_steps', '0',
    '--save_steps', '2', '--num_generations', '2', '--per_device_train_batch_size', '4', '--micro_batch_tokens', '64', ...overrides,
  ]);
  const engine = new ScriptedEngine(trainMs);
  const generator = new ScriptedGenerator(engine);
  const saved: LoopState[] = [];
  const trainer = new GrpoTrainer({
    config,
    engine,
    generator,
    tokenizer,
    envFactory: { newEpisode: async () => new SlowEpisode() },
    metrics: new MetricsWriter(dir),
    state: { step: 0, numTokens: 0, skippedSteps: 0 },
    saveCheckpoint: async (s) => {
      saved.push(s);
      return join(dir, `checkpoint-${s.step}`);
    },
    log: () => {},
    progress: null,
  });
  const out = await trainer.run();
  expect(out.state.step).toBe(config.max_steps);
  return { rows: readJsonl<MetricRow>(join(dir, 'metrics.jsonl')), engine, generator, saved };
}

/** Rollout round of each generator call, from its seed. */
function roundsOf(calls: ReadonlyArray<{ seed: number }>, runSeed: number, maxRound: number): number[] {
  const bySeed = new Map<number, number>();
  for (let r = 0; r <= maxRound; r++) for (let t = 0; t < 2; t++) bySeed.set(generationSeed(runSeed, 'train', r, t), r);
  return calls.map((c) => bySeed.get(c.seed) ?? -1);
}

/** Values that do not depend on scheduling (no wall-clock times, no async/* metrics). */
const scheduleFree = (rows: MetricRow[]) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && k !== 'step_time' && !k.startsWith('timing/') && !k.startsWith('async/'))));

describe('training loop with async_rollouts', () => {
  it('round k+1 is sampled with the weights before step k; the round runs beside the step; staleness 0 then 1', async () => {
    const dir = tempDir('lfm2-async-unit-');
    const a = await scriptedRun(join(dir, 'a'), ['--max_steps', '5', '--async_rollouts', 'true']);
    const rounds = roundsOf(a.generator.calls, 1, 5);
    expect(new Set(rounds)).toEqual(new Set([0, 1, 2, 3, 4])); // no round collected past the last step
    a.generator.calls.forEach((c, i) => {
      // Round 0 with the initial weights; round r ≥ 1 with the weights after r - 1 steps (before step r - 1's update).
      expect(c.version, `call ${i} (round ${rounds[i]})`).toBe(Math.max(0, rounds[i] - 1));
      expect(c.merged).toBe(true);
      expect(c.inTraining).toBe(0);
    });
    // Each step trained on weights that had taken every earlier step.
    expect(a.engine.accumulated.every((v, i, xs) => i === 0 || v >= xs[i - 1])).toBe(true);
    expect(a.rows.map((r) => r['async/staleness'])).toEqual([0, 1, 1, 1, 1]);
    // Training calls ran between the round's generation calls (the model switched hands), yet one cache clear per round.
    expect(a.engine.switches).toBeGreaterThan(0);
    expect(a.engine.begins).toBe(5);
    expect(a.rows.slice(0, 4).every((r) => (r['async/overlap_s'] as number) > 0)).toBe(true);
    expect(a.rows[4]['async/overlap_s']).toBe(0);
    // A checkpoint between rounds carries the round collected ahead.
    expect(a.saved.map((s) => [s.step, s.nextRound?.round, s.nextRound?.staleness])).toEqual([[2, 2, 1], [4, 4, 1], [5, undefined, undefined]]);

    // The samples here do not depend on the weights: the sync run sees the same episodes and batches.
    const s = await scriptedRun(join(dir, 's'), ['--max_steps', '5']);
    expect(s.rows.some((r) => 'async/staleness' in r)).toBe(false);
    expect(s.generator.calls.map((c, i) => c.version - roundsOf(s.generator.calls, 1, 5)[i])).toEqual(s.generator.calls.map(() => 0));
    expect(s.engine.switches).toBe(0);
    expect(scheduleFree(a.rows)).toEqual(scheduleFree(s.rows));
    expect(a.generator.calls.map((c) => c.seed)).toEqual(s.generator.calls.map((c) => c.seed));
  }, 30_000);

  it('several steps per round: the next round runs beside the last one, so it is one step stale', async () => {
    const dir = tempDir('lfm2-async-unit2-');
    // Rounds of 8 episodes, 4 per update: 2 steps per round.
    const a = await scriptedRun(dir, ['--max_steps', '6', '--generation_batch_size', '8', '--async_rollouts', 'true']);
    const rounds = roundsOf(a.generator.calls, 1, 3);
    a.generator.calls.forEach((c, i) => expect(c.version).toBe(rounds[i] === 0 ? 0 : 2 * rounds[i] - 1));
    expect(a.rows.map((r) => r['async/staleness'])).toEqual([0, 0, 1, 1, 1, 1]);
    expect(a.rows.map((r) => (r['async/overlap_s'] as number) > 0)).toEqual([false, true, false, true, false, false]);
  }, 30_000);
});

describe('ModelTurns', () => {
  it('one call at a time, first come first served; generation merged, training unmerged; errors do not block', async () => {
    const e = new ScriptedEngine(0);
    const turns = new ModelTurns(e);
    const order: string[] = [];
    let running = 0;
    const gen: Generator = {
      generate: async () => {
        expect(e.merged).toBe(true);
        expect(running++).toBe(0);
        order.push('g');
        await sleep(3);
        running--;
        return { samples: [], timings: { seconds: 0 } };
      },
    };
    const train = (tag: string, fail = false) =>
      turns.train(async () => {
        expect(e.merged).toBe(false);
        expect(running++).toBe(0);
        order.push(tag);
        await sleep(3);
        running--;
        if (fail) throw new Error(`${tag} failed`);
        return tag;
      });
    const round = turns.round(gen, async (g) => {
      await g.generate([], {} as GenerationSettings);
      await sleep(1);
      await g.generate([], {} as GenerationSettings);
      return 'round';
    });
    const t = [train('t1'), train('t2', true), train('t3')];
    expect(await round).toBe('round');
    expect(await t[0]).toBe('t1');
    await expect(t[1]).rejects.toThrow('t2 failed');
    expect(await t[2]).toBe('t3');
    expect(order.filter((x) => x === 'g')).toHaveLength(2);
    expect(e.begins).toBe(1);
    expect(e.merged).toBe(false);
    await expect(turns.round(gen, async () => turns.round(gen, async () => 0))).rejects.toThrow(/already running/);
  });
});

describe('collected round in a checkpoint', () => {
  const round: CollectedRound = {
    round: 3,
    staleness: 1,
    probabilities: [0.25, 0.75],
    timings: { total: 1.5, env: 1, generate: 0.25, generatedTokens: 12, crashRetries: 0 },
    envMetrics: { 'env/server/0/up': 1, 'env/server/0/reset_p50_ms': null },
    episodes: [
      {
        group: 0,
        member: 1,
        task: 'click-test',
        seed: 4_000_000_000,
        reward: { reward: 1, envReward: 1, success: true, invalidActions: 0, steps: 1 },
        steps: [
          {
            promptIds: [1, 2, 3],
            completionIds: [7, 8],
            oldLogprobs: [Math.fround(-0.123456789), NaN],
            truncated: false,
            promptText: 'user: "hi"',
            completionText: "click('1')",
            action: "click('1')",
            error: '',
            reward: 1,
            done: true,
            screenshot: null,
          },
        ],
      },
    ],
  };

  it('round-trips exactly (log-probs bit for bit, a NaN kept); screenshots are left out', () => {
    const back = parseRound(serializeRound(round), 'f');
    const { screenshot: _, ...step } = round.episodes[0].steps[0];
    expect(back).toEqual({ ...round, episodes: [{ ...round.episodes[0], steps: [step] }] });
    expect(Object.is(back.episodes[0].steps[0].oldLogprobs[0], round.episodes[0].steps[0].oldLogprobs[0])).toBe(true);
  });

  it('bad files are named with the field at fault', () => {
    const doc = JSON.parse(serializeRound(round));
    expect(() => parseRound('{', 'next_round.json')).toThrow(/next_round\.json: not valid JSON/);
    expect(() => parseRound(JSON.stringify({ ...doc, format: 'x' }), 'f')).toThrow(/f: not a round collected ahead/);
    doc.episodes[0].steps[0].oldLogprobs = [0];
    expect(() => parseRound(JSON.stringify(doc), 'f')).toThrow(/f: episodes\[0\]\.steps\[0\]: 2 completion tokens but 1 log-probs/);
    doc.episodes[0].steps[0].completionIds = [7, -1];
    expect(() => parseRound(JSON.stringify(doc), 'f')).toThrow(/episodes\[0\]\.steps\[0\]\.completionIds\[1\] must be a whole number >= 0/);
    expect(() => parseRound(JSON.stringify({ ...doc, episodes: [] }), 'f')).toThrow(/episodes must not be empty/);
  });
});

describe('config', () => {
  it('async_rollouts is off by default and must be a boolean', () => {
    expect(loadConfig(TINY_CONFIG).async_rollouts).toBe(false);
    expect(loadConfig(TINY_CONFIG, ['--async_rollouts']).async_rollouts).toBe(true);
    expect(() => loadConfig(TINY_CONFIG, ['--async_rollouts', 'maybe'])).toThrow(/'async_rollouts' must be true or false/);
  });
});
