// The divergence guard's choices, on a stand-in engine whose whole state is one number: which state counts as the
// last finite one (a snapshot of the newest good round, or a checkpoint of that step), what is written on
// divergence, what is moved out of the way of --resume, what pruning must keep, and which errors mean divergence.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listCheckpoints, writeCheckpoint } from '../lib/io/checkpoint.ts';
import { NonFiniteTensorsError } from '../lib/io/nonfinite.ts';
import { DivergenceGuard, findNonFiniteLogprob, isNonFiniteCompute, ROLLBACK_DIR, TrainingDivergedError, type GuardedState } from '../lib/rl/divergence.ts';
import type { TrainEngine } from '../lib/rl/engine-types.ts';
import type { RolloutEpisode } from '../lib/rl/rollout.ts';
import { tempDir } from './util/temp-dir.ts';

const root = tempDir('lfm2-guard-');
let runs = 0;

/** An engine whose state is `weight`; saveState/loadState round-trip it through a file like the real one. */
function fakeEngine() {
  const e = {
    weight: 0,
    saveState: async (dir: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ weight: e.weight }));
    },
    loadState: async (dir: string) => {
      e.weight = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).weight;
      return '{}';
    },
  };
  return e;
}

function setup(opts: { rollback?: boolean; resumedFrom?: { step: number; dir: string } | null } = {}) {
  const runDir = join(root, `run${runs++}`);
  mkdirSync(runDir, { recursive: true });
  const engine = fakeEngine();
  const logs: string[] = [];
  const save = (s: GuardedState) => writeCheckpoint(runDir, s.step, (d) => writeFileSync(join(d, 'weights.json'), JSON.stringify({ weight: engine.weight })));
  const guard = new DivergenceGuard({
    runDir,
    engine: engine as unknown as TrainEngine,
    saveCheckpoint: save,
    rollback: opts.rollback ?? true,
    resumedFrom: opts.resumedFrom ?? null,
    log: (m) => logs.push(m),
  });
  return { runDir, engine, guard, save, logs };
}

const state = (step: number): GuardedState => ({ step, numTokens: 10 * step, skippedSteps: 0 });
const episodes = (lp: number): RolloutEpisode[] =>
  [0, 1].map((member) => ({
    group: 0,
    member,
    task: 'click-test',
    seed: 7,
    reward: { reward: 1, success: true, invalidActions: 0 } as RolloutEpisode['reward'],
    steps: [
      {
        promptIds: [1],
        completionIds: [2, 3],
        oldLogprobs: member === 1 ? [-0.5, lp] : [-0.1, -0.2],
        truncated: false,
        promptText: 'p',
        completionText: 'c',
        action: '',
        error: '',
        reward: 0,
        done: true,
      },
    ],
  }));
const weightIn = (dir: string) => JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')).weight;

async function divergence(p: Promise<unknown>): Promise<TrainingDivergedError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(TrainingDivergedError);
  return e as TrainingDivergedError;
}

describe('finding non-finite numbers', () => {
  it('names the first non-finite log-prob; finite rounds pass', () => {
    expect(findNonFiniteLogprob(episodes(-1))).toBeNull();
    expect(findNonFiniteLogprob(episodes(NaN))).toBe("the policy's log-prob of completion token 1 is NaN (episode 1, click-test seed 7, env step 0)");
    expect(findNonFiniteLogprob(episodes(-Infinity))).toMatch(/is -Infinity/);
  });

  it('only the engine errors that mean NaN/Inf computations count', () => {
    expect(isNonFiniteCompute(new Error('grpo_loss: non-finite logits at row 3 (NaN or Inf in the hidden states or the head)'))).toBe(true);
    expect(isNonFiniteCompute(new Error('sampler: logits give no finite probability mass'))).toBe(true);
    expect(isNonFiniteCompute(new Error('accumulate: old log-prob at completion token 4 is not finite'))).toBe(false);
    expect(isNonFiniteCompute('non-finite logits')).toBe(false);
  });
});

describe('divergence guard', () => {
  it('restores the snapshot of the newest good round and writes it as a checkpoint', async () => {
    const { runDir, engine, guard } = setup();
    engine.weight = 1;
    await guard.checkRollout(state(0), episodes(-1));
    expect(existsSync(join(runDir, ROLLBACK_DIR))).toBe(true);
    engine.weight = 2; // the round's updates
    await guard.checkRollout(state(4), episodes(-1));
    engine.weight = 999; // updates that broke the policy
    const e = await divergence(guard.checkRollout(state(8), episodes(NaN)));
    expect(e.step).toBe(8);
    expect(e.checkpoint).toBe(join(runDir, 'checkpoint-4'));
    expect(e.message).toMatch(/^training diverged at step 8: the policy's log-prob of completion token 1 is NaN .*\. .*checkpoint-4 holds step 4, the last state whose rollouts were finite: lower learning_rate/);
    expect(weightIn(e.checkpoint!)).toBe(2);
    expect(engine.weight).toBe(2);
    expect(existsSync(join(runDir, ROLLBACK_DIR))).toBe(false);
  });

  it('a good state that is already a checkpoint needs no snapshot; newer checkpoints are moved aside and pruning keeps it', async () => {
    const { runDir, engine, guard, save } = setup();
    engine.weight = 3;
    guard.checkpointSaved(2, await save(state(2)));
    await guard.checkRollout(state(2), episodes(-1));
    expect(existsSync(join(runDir, ROLLBACK_DIR))).toBe(false);
    expect(guard.keepDir()).toBe(join(runDir, 'checkpoint-2'));
    engine.weight = 1e30;
    guard.checkpointSaved(3, await save(state(3))); // saved after the updates, before anything checked them
    const e = await divergence(guard.checkRollout(state(3), episodes(Infinity)));
    expect(e.checkpoint).toBe(join(runDir, 'checkpoint-2'));
    expect(e.message).toMatch(/checkpoint-3 renamed to .*checkpoint-3\.diverged/);
    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([2]);
    expect(weightIn(join(runDir, 'checkpoint-3.diverged'))).toBe(1e30);
  });

  it('divergence_rollback off: no snapshot, the newest earlier checkpoint is the fallback (kept from pruning)', async () => {
    const { runDir, engine, guard, save } = setup({ rollback: false });
    guard.checkpointSaved(1, await save(state(1)));
    await guard.checkRollout(state(1), episodes(-1));
    await guard.checkRollout(state(2), episodes(-1));
    expect(existsSync(join(runDir, ROLLBACK_DIR))).toBe(false);
    expect(guard.keepDir()).toBe(join(runDir, 'checkpoint-1'));
    engine.weight = NaN;
    const e = await divergence(guard.checkRollout(state(3), episodes(NaN)));
    expect(e.checkpoint).toBe(join(runDir, 'checkpoint-1'));
    expect(e.message).toMatch(/No checkpoint of step 2 was written \(divergence_rollback is off\); the newest earlier one is .*checkpoint-1/);
  });

  it('a run whose first round already diverges writes nothing and says why', async () => {
    const fresh = setup();
    const e = await divergence(fresh.guard.checkRollout(state(0), episodes(NaN)));
    expect(e.checkpoint).toBeNull();
    expect(e.message).toMatch(/The starting model already gives non-finite values: no checkpoint was written\.$/);
    expect(listCheckpoints(fresh.runDir)).toEqual([]);
    const resumed = setup({ resumedFrom: { step: 6, dir: '/runs/x/checkpoint-6' } });
    const r = await divergence(resumed.guard.checkRollout(state(6), episodes(NaN)));
    expect(r.checkpoint).toBe('/runs/x/checkpoint-6');
    expect(r.message).toMatch(/resumed from \(\/runs\/x\/checkpoint-6\) already gives non-finite values/);
  });

  it('classifies errors: NaN weights and NaN logits diverge, anything else is left alone', async () => {
    const { guard } = setup();
    await guard.checkRollout(state(0), episodes(-1));
    const nanWeights = new NonFiniteTensorsError('/r/checkpoint-2/model.safetensors', [{ name: 'w', nan: 1, inf: 0 }], 'checkpoint-2 not written: model.safetensors: tensor w has 1 NaN / 0 Inf values');
    const a = await guard.classify(state(2), nanWeights);
    expect(a).toBeInstanceOf(TrainingDivergedError);
    expect((a as Error).message).toMatch(/^training diverged at step 2: the weights are no longer finite \(checkpoint-2 not written: model.safetensors: tensor w has 1 NaN/);
    const b = await guard.classify(state(2), new Error('sampler: logits give no finite probability mass'));
    expect((b as Error).message).toMatch(/^training diverged at step 2: the model computed non-finite values \(sampler: logits give no finite probability mass\)/);
    const other = new Error('browser crashed');
    expect(await guard.classify(state(2), other)).toBe(other);
    expect(await guard.classify(state(2), b)).toBe(b);
  });
});
