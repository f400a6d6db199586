// Divergence: the policy stops producing finite numbers (too high a learning rate, no warm-up, an overflow that put
// NaN into the weights). A single bad optimizer step is survivable and handled where it happens (a non-finite loss
// or gradient skips the step, lib/rl/trainer.ts). A policy whose own log-probs are NaN is not: every later round
// would be garbage. The run then stops with `training diverged at step N: …` (exit code DIVERGED_EXIT_CODE) after
// leaving a checkpoint of the last finite state to resume from.
//
// What is the last finite state? Not necessarily the weights in memory: the optimizer steps since the last good
// rollout round may have made them NaN (a checkpoint refuses those, lib/io/checkpoint.ts scanFinite), or finite but so
// large that every forward overflows, which no scan can tell from good weights. The one state known to be good is
// the start of the newest round whose rollouts were finite: the guard snapshots the trainer state (weights, AdamW
// moments, step) right after those rollouts, before the round's updates, unless a checkpoint of that step already
// exists. On divergence the snapshot is restored and written as checkpoint-<that step>, and checkpoints newer than it
// (written from the broken weights) are renamed checkpoint-<step>.diverged, so `--resume` continues from the good
// state. The snapshot costs one trainer-state write per round (12 bytes per trainable parameter);
// `divergence_rollback: false` skips it and falls back to the newest earlier checkpoint instead.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints } from '../io/checkpoint.ts';
import { NonFiniteTensorsError } from '../io/nonfinite.ts';
import type { TrainEngine } from './engine-types.ts';
import type { RolloutEpisode } from './rollout.ts';

/** Exit status of `lfm2-rl train` when training diverged (documented in its --help). */
export const DIVERGED_EXIT_CODE = 3;

/** Folder of a run holding the snapshot of the newest good round (deleted when the run ends). */
export const ROLLBACK_DIR = 'rollback-state';

/** The loop counters a snapshot must restore along with the engine (lib/rl/trainer.ts LoopState). */
export interface GuardedState {
  step: number;
  numTokens: number;
  skippedSteps: number;
}

export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    readonly reason: string,
    /** Checkpoint to resume from (null: none exists). */
    readonly checkpoint: string | null,
    outcome: string,
  ) {
    super(`training diverged at step ${step}: ${reason}. ${outcome}`);
    this.name = 'TrainingDivergedError';
  }
}

// Native errors raised when the model itself computed NaN/Inf (native/model/grpo_loss.cpp, sampler.cpp and their CUDA
// twins), as opposed to bad inputs.
const NON_FINITE_COMPUTE_RE = /non-finite logits|no finite probability mass/;

/** True for an engine error that means the forward produced NaN/Inf. */
export function isNonFiniteCompute(e: unknown): boolean {
  return e instanceof Error && NON_FINITE_COMPUTE_RE.test(e.message);
}

/** Where the first non-finite sampling log-prob of a round is, or null when all are finite. */
export function findNonFiniteLogprob(episodes: readonly RolloutEpisode[]): string | null {
  for (const [e, ep] of episodes.entries()) {
    for (const [t, st] of ep.steps.entries()) {
      const i = st.oldLogprobs.findIndex((lp) => !Number.isFinite(lp));
      if (i >= 0) return `the policy's log-prob of completion token ${i} is ${st.oldLogprobs[i]} (episode ${e}, ${ep.task} seed ${ep.seed}, env step ${t})`;
    }
  }
  return null;
}

export interface DivergenceGuardOptions {
  runDir: string;
  engine: TrainEngine;
  /** Writes checkpoint-<state.step> from the engine's current state; returns its folder. */
  saveCheckpoint(state: GuardedState): Promise<string>;
  /** Keep a snapshot of the newest good round (divergence_rollback). */
  rollback: boolean;
  /** The checkpoint the run resumed from (null: a fresh run). */
  resumedFrom: { step: number; dir: string } | null;
  /** Progress messages (the restore before a checkpoint can take a while on a large model). */
  log(message: string): void;
}

export class DivergenceGuard {
  /** Newest state whose rollouts were finite, and where it is kept. */
  private good: { state: GuardedState; checkpoint: string | null; snapshot: boolean } | null = null;
  /** Complete checkpoints this run wrote or resumed from, by step. */
  private readonly saved = new Map<number, string>();
  private readonly rollbackDir: string;

  constructor(private readonly o: DivergenceGuardOptions) {
    this.rollbackDir = join(o.runDir, ROLLBACK_DIR);
    if (o.resumedFrom) this.saved.set(o.resumedFrom.step, o.resumedFrom.dir);
    this.discardSnapshot(); // a leftover of an earlier process describes another state
  }

  /** Records a checkpoint written by the run (a good state at its step needs no snapshot). */
  checkpointSaved(step: number, dir: string): void {
    this.saved.set(step, dir);
  }

  /**
   * After a round's rollouts, before its updates: a non-finite log-prob means divergence (throws
   * TrainingDivergedError); otherwise `state` becomes the newest good state (snapshotted unless checkpointed).
   */
  async checkRollout(state: GuardedState, episodes: readonly RolloutEpisode[]): Promise<void> {
    const bad = findNonFiniteLogprob(episodes);
    if (bad) throw await this.diverged(state, bad);
    const checkpoint = this.saved.get(state.step) ?? null;
    const snapshot = checkpoint === null && this.o.rollback;
    if (snapshot) {
      const tmp = `${this.rollbackDir}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      await this.o.engine.saveState(tmp, '{}');
      this.discardSnapshot();
      renameSync(tmp, this.rollbackDir);
    }
    this.good = { state: { ...state }, checkpoint, snapshot };
  }

  /**
   * An error from generation, evaluation, an update or a save: TrainingDivergedError when it means the numbers went
   * non-finite (NaN/Inf logits, a checkpoint refused for NaN/Inf weights), else the error unchanged.
   */
  async classify(state: GuardedState, e: unknown): Promise<unknown> {
    if (e instanceof TrainingDivergedError) return e;
    if (e instanceof NonFiniteTensorsError) return this.diverged(state, `the weights are no longer finite (${e.message})`);
    if (isNonFiniteCompute(e)) return this.diverged(state, `the model computed non-finite values (${(e as Error).message})`);
    return e;
  }

  /**
   * The checkpoint a divergence would fall back to without a snapshot: save_total_limit must not prune it while the
   * newer checkpoints are not yet known to be good. Null when nothing needs keeping.
   */
  keepDir(): string | null {
    const good = this.good;
    if (!good || good.snapshot) return null;
    if (good.checkpoint !== null) return good.checkpoint;
    const earlier = [...this.saved.entries()].filter(([step]) => step <= good.state.step).sort((a, b) => a[0] - b[0]).at(-1);
    return earlier?.[1] ?? null;
  }

  /** Deletes the snapshot (the run ended, or the snapshot was turned into a checkpoint). */
  discardSnapshot(): void {
    rmSync(this.rollbackDir, { recursive: true, force: true });
  }

  /** Leaves the last finite state as a checkpoint and returns the error that stops the run. */
  async diverged(state: GuardedState, reason: string): Promise<TrainingDivergedError> {
    const good = this.good;
    if (!good) {
      const outcome = this.o.resumedFrom
        ? `The checkpoint this run resumed from (${this.o.resumedFrom.dir}) already gives non-finite values with these settings; resume from an earlier checkpoint.`
        : 'The starting model already gives non-finite values: no checkpoint was written.';
      return new TrainingDivergedError(state.step, reason, this.o.resumedFrom?.dir ?? null, outcome);
    }
    const notes: string[] = [];
    // Checkpoints after the good state hold the weights that broke (or belong to an abandoned later run): out of
    // the way of --resume, kept for inspection.
    for (const c of listCheckpoints(this.o.runDir)) {
      if (c.step <= good.state.step) continue;
      const aside = `${c.dir}.diverged`;
      rmSync(aside, { recursive: true, force: true });
      renameSync(c.dir, aside);
      notes.push(`${c.dir} renamed to ${aside}`);
    }
    let checkpoint: string | null = null;
    if (good.checkpoint !== null && existsSync(good.checkpoint)) checkpoint = good.checkpoint;
    else if (good.snapshot) {
      this.o.log(`non-finite values at step ${state.step}: restoring the state of step ${good.state.step} to checkpoint it`);
      try {
        await this.o.engine.loadState(this.rollbackDir);
        checkpoint = await this.o.saveCheckpoint(good.state);
        this.saved.set(good.state.step, checkpoint);
        this.good = { ...good, checkpoint, snapshot: false };
        this.discardSnapshot();
      } catch (e) {
        notes.push(`the state of step ${good.state.step} could not be written (${(e as Error).message})`);
      }
    }
    let outcome: string;
    if (checkpoint !== null) {
      outcome = `${checkpoint} holds step ${good.state.step}, the last state whose rollouts were finite: lower learning_rate (or raise warmup_steps) and resume with --resume`;
    } else {
      const earlier = listCheckpoints(this.o.runDir).filter((c) => c.ok && c.step <= good.state.step).at(-1);
      checkpoint = earlier?.dir ?? null;
      const why = good.snapshot ? '' : ' (divergence_rollback is off)';
      outcome = earlier
        ? `No checkpoint of step ${good.state.step} was written${why}; the newest earlier one is ${earlier.dir}: lower learning_rate and resume with --resume`
        : `No checkpoint of step ${good.state.step} was written${why} and none exists before it`;
    }
    if (notes.length > 0) outcome += ` (${notes.join('; ')})`;
    return new TrainingDivergedError(state.step, reason, checkpoint, outcome + '.');
  }
}
