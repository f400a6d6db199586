// The GRPO training loop (docs/architecture.md §3, "Data flow of one training step"). One rollout round draws
// generation_batch_size / G groups (task + env seed each), runs them (lib/rl/rollout.ts), turns episode rewards into
// group advantages and per-step samples (lib/rl/grpo-batch.ts), then takes updatesPerGeneration × num_iterations
// optimizer steps on them (reusing the round's samples with importance ratios when num_iterations > 1). Each step packs
// its samples into token-budget micro-batches and accumulates their gradients before one AdamW step.
// Everything random is a pure function of (seed, counters) (lib/rl/seeds.ts), so a run resumed at a round boundary
// replays exactly what the uninterrupted run would have done.
// Each group's task follows task_sampling (lib/rl/task-sampler.ts); the curriculum's per-task history is part of
// LoopState, saved with every checkpoint, so resumed curriculum runs replay exactly too.
// record_episodes N: rounds feeding a multiple S of N record the first member of each group, and an evaluation at
// such a step records its episodes, into <replaysDir>/step-<S>/{rollout,eval}/ (lib/rl/replays.ts); recording only
// adds screenshots, so a recorded run trains exactly as an unrecorded one.
// async_rollouts: the next round is collected during the last step of the current one, with the weights before that
// step (lib/rl/async-rollouts.ts); its browser work overlaps the step's training. The loss's old log-probs are always
// the ones recorded at sampling, so the importance ratio corrects for the one step of staleness. A checkpoint carries
// the round collected ahead (lib/rl/collected-round.ts), so a resumed async run replays the uninterrupted one.
import { join } from 'node:path';
import { episodesPerUpdate, epsilonHigh, generationBatchSize, updatesPerGeneration, type TrainConfig } from '../io/config.ts';
import { completionMetrics, METRIC_NAMES, type EpisodeStepRow, type MetricsWriter } from '../io/metrics.ts';
import { ProgressBar, type ProgressStream } from '../io/progress.ts';
import type { ReplaySource } from '../io/replay-files.ts';
import { besselStd } from './advantages.ts';
import { isNonFiniteCompute, type DivergenceGuard } from './divergence.ts';
import type { LossSettings, TrainEngine } from './engine-types.ts';
import { evaluate, formatEvalLine, type EvalResult } from './evaluate.ts';
import type { Generator, GenerationSettings } from './generator.ts';
import { buildRoundBatch, type UpdateBatch } from './grpo-batch.ts';
import { overlapsNextRound, RoundPrefetch } from './async-rollouts.ts';
import type { CollectedRound } from './collected-round.ts';
import { ModelTurns } from './model-turns.ts';
import { promptBuilderFor } from './prompt.ts';
import { EpisodeSlots, runRollout, type EpisodeFactory, type RolloutEpisode, type RolloutOptions, type RolloutTokenizer } from './rollout.ts';
import { saveReplay } from './replays.ts';
import { packMicroBatches, packSamples } from './samples.ts';
import { generationSeed } from './seeds.ts';
import { evalTaskMetrics, trainTaskMetrics } from './task-metrics.ts';
import { drawRoundGroups, groupOutcomes, recordRound, taskSamplerSettings, type TaskHistory, type TaskSamplerSettings } from './task-sampler.ts';

/** State carried in every checkpoint (besides the engine's own) to continue a run exactly. */
export interface LoopState {
  /** Optimizer steps done. */
  step: number;
  /** Cumulative prompt + completion tokens of all rollouts (TRL num_tokens). */
  numTokens: number;
  /** Steps skipped because of a non-finite loss or gradient. */
  skippedSteps: number;
  /** Per-task record of the rounds so far: the curriculum's state and the end-of-run totals (absent = none yet). */
  taskHistory?: TaskHistory;
  /** Optimizer steps of the SFT stage that ran before GRPO (set once the stage is complete; lib/rl/sft-stage.ts). */
  sftSteps?: number;
  /** async_rollouts: the round after `step`, already collected with the weights before the last step. */
  nextRound?: CollectedRound;
}

export interface TrainerDeps {
  config: TrainConfig;
  engine: TrainEngine;
  generator: Generator;
  tokenizer: RolloutTokenizer;
  envFactory: EpisodeFactory;
  metrics: MetricsWriter;
  /** Where the run starts (a fresh run: step 0). */
  state: LoopState;
  /** Writes checkpoint-<state.step> with this loop state; returns its folder. */
  saveCheckpoint(state: LoopState): Promise<string>;
  /** Messages (warnings, checkpoints, evaluations). */
  log(message: string): void;
  /** Progress bar stream; null = no bar. */
  progress?: ProgressStream | null;
  /** Checked between optimizer steps (Ctrl-C): the loop then saves a checkpoint and returns. */
  shouldStop?(): boolean;
  /** Called after each checkpoint (e.g. to refresh report.html). */
  afterCheckpoint?(dir: string): void;
  /**
   * Stops the run with a checkpoint of the last finite state when the policy's numbers go non-finite
   * (lib/rl/divergence.ts); without one, such a run fails at its next rollout.
   */
  divergence?: DivergenceGuard | null;
  /** An evaluation of the starting weights already made (right after an SFT stage): logged at step 0, not rerun. */
  initialEval?: EvalResult | null;
  /** Folder of the run's recorded episodes (<run>/replays); record_episodes records nothing without it. */
  replaysDir?: string | null;
}

export interface TrainOutcome {
  state: LoopState;
  /** True when shouldStop() ended the run early. */
  stopped: boolean;
  lastEval: EvalResult | null;
  checkpoints: string[];
}

/** Optimizer steps that one rollout round feeds. */
export function stepsPerRound(c: TrainConfig): number {
  return updatesPerGeneration(c) * c.num_iterations;
}

export function samplingSettings(c: TrainConfig): Omit<GenerationSettings, 'seed' | 'stopIds'> {
  return {
    temperature: c.temperature,
    topK: c.top_k,
    topP: c.top_p,
    minP: c.min_p,
    repetitionPenalty: c.repetition_penalty,
    maxNewTokens: c.max_completion_length,
  };
}

export function rolloutOptions(c: TrainConfig, tokenizer: RolloutTokenizer & { readonly stopIds: readonly number[] }, generator: Generator, warn: (m: string) => void): RolloutOptions {
  return {
    tokenizer,
    prompts: promptBuilderFor(c, (s) => tokenizer.encode(s).length),
    generator,
    sampling: { ...samplingSettings(c), stopIds: tokenizer.stopIds },
    constrained: c.constrained_actions,
    actionSet: c.action_set,
    maxEnvSteps: c.max_env_steps,
    shaping: { invalidActionPenalty: c.invalid_action_penalty, stepPenalty: c.step_penalty },
    warn,
  };
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Steps in (from, to] at which something every `every` steps is due (0 = never). */
function dueIn(from: number, to: number, every: number): boolean {
  return every > 0 && Math.floor(to / every) > Math.floor(from / every);
}

/** The first step in (from, to] that is a multiple of `every`, or null (every 0 = never). */
function firstDue(from: number, to: number, every: number): number | null {
  if (!dueIn(from, to, every)) return null;
  return (Math.floor(from / every) + 1) * every;
}

export class GrpoTrainer {
  private readonly c: TrainConfig;
  private readonly rollout: RolloutOptions;
  private readonly slots: EpisodeSlots;
  private readonly loss: Omit<LossSettings, 'tokenNormalizer' | 'sequenceNormalizer'>;
  private readonly taskSampler: TaskSamplerSettings;

  constructor(private readonly d: TrainerDeps & { tokenizer: RolloutTokenizer & { readonly stopIds: readonly number[] } }) {
    this.c = d.config;
    const perRound = stepsPerRound(this.c);
    if (d.state.step % perRound !== 0) {
      throw new Error(`cannot start at step ${d.state.step}: runs resume at rollout-round boundaries (every ${perRound} steps)`);
    }
    this.rollout = rolloutOptions(this.c, d.tokenizer, d.generator, d.log);
    this.slots = new EpisodeSlots(d.envFactory);
    this.taskSampler = taskSamplerSettings(this.c);
    this.loss = {
      lossType: this.c.loss_type,
      epsilonLow: this.c.epsilon,
      epsilonHigh: epsilonHigh(this.c),
      beta: this.c.beta,
      temperature: this.c.temperature,
      maxCompletionLength: this.c.max_completion_length,
    };
  }

  /**
   * Held-out evaluation with the current weights, sampling with the training settings as TRL's evaluation does (so
   * the success rate is the policy's probability of solving a new page, not one greedy path; temperature 0 = greedy).
   */
  async evaluate(episodesPerTask = this.c.eval_episodes, temperature = this.c.temperature, record = false): Promise<EvalResult> {
    await this.d.engine.beginGeneration();
    try {
      const opts: RolloutOptions = { ...this.rollout, sampling: { ...this.rollout.sampling, temperature }, ...(record ? { record: () => true } : {}) };
      return await evaluate(opts, this.slots, { tasks: this.c.tasks, episodesPerTask, seed: this.c.seed });
    } finally {
      await this.d.engine.endGeneration();
    }
  }

  /** Whether record_episodes is on and the trainer has somewhere to write. */
  private get recording(): boolean {
    return this.c.record_episodes > 0 && typeof this.d.replaysDir === 'string';
  }

  /** Writes the recorded episodes of step `step` into <replaysDir>/step-<step>/<source>/; a failure is only logged. */
  private saveReplays(step: number, source: ReplaySource, episodes: readonly RolloutEpisode[], log: (m: string) => void): void {
    const dir = join(this.d.replaysDir!, `step-${step}`, source);
    try {
      // A resumed run records a step again: the new recording replaces the old.
      const index = saveReplay(dir, episodes, { source, step, replace: true });
      if (index) log(`replays @ step ${step}: ${index.episodes.length} ${source} episodes → ${dir}`);
    } catch (e) {
      log(`warning: could not write the replays of step ${step} to ${dir}: ${(e as Error).message}`);
    }
  }

  /**
   * Evaluates and logs: into `row` (the step's training metrics, logged by the caller) or as a row of its own. With
   * `record`, the episodes are recorded and saved as the step's evaluation replays.
   */
  private async evalAndLog(step: number, row: Record<string, number | null> | null, done: EvalResult | null = null, record = false): Promise<EvalResult> {
    const r = done ?? (await this.evaluate(this.c.eval_episodes, this.c.temperature, record));
    if (record && !done) this.saveReplays(step, 'eval', r.episodes, this.d.log);
    const m: Record<string, number> = { [METRIC_NAMES.evalSuccessRate]: r.overall.successRate, ...evalTaskMetrics(r) };
    m['eval/seconds'] = r.seconds;
    if (row) Object.assign(row, m);
    else this.d.metrics.logStep(step, m);
    this.d.log(`eval @ step ${step}: ${formatEvalLine(r)}`);
    return r;
  }

  async run(): Promise<TrainOutcome> {
    const c = this.c;
    const { nextRound, ...start } = this.d.state;
    const state: LoopState = start;
    const checkpoints: string[] = [];
    let lastEval: EvalResult | null = null;
    let stopped = false;
    const perRound = stepsPerRound(c);
    // async_rollouts: whose turn the shared model is, the round collected ahead, and its collection while in flight.
    const turns = c.async_rollouts ? new ModelTurns(this.d.engine) : null;
    let ahead: CollectedRound | null = nextRound ? this.usableAhead(nextRound, state.step / perRound) : null;
    let prefetch: RoundPrefetch<CollectedRound> | null = null;
    const bar = this.d.progress === null ? null : new ProgressBar({ total: c.max_steps, label: 'train', startAt: state.step, stream: this.d.progress });
    const save = async () => {
      const dir = await this.d.saveCheckpoint({ ...state, ...(ahead ? { nextRound: ahead } : {}) });
      this.d.divergence?.checkpointSaved(state.step, dir);
      checkpoints.push(dir);
      this.d.log(`checkpoint ${dir}`);
      this.d.afterCheckpoint?.(dir);
    };
    const log = (m: string) => (bar ? bar.log(m) : this.d.log(m));
    const live: Record<string, string | number> = {};
    try {
      if (state.step === 0 && c.eval_steps > 0) lastEval = await this.evalAndLog(0, null, this.d.initialEval ?? null, this.recording);
      bar?.update(state.step, live);
      while (state.step < c.max_steps) {
        if (this.d.shouldStop?.()) {
          stopped = true;
          break;
        }
        const before = state.step;
        const round = state.step / perRound;
        const stepStart = performance.now();
        // ---- rollouts with the current policy (async_rollouts: collected during the previous step, one step older)
        const collected = ahead ?? (await this.collectRound(round, state.taskHistory ?? {}, null, log));
        ahead = null;
        const { episodes, timings: rolloutTimings, probabilities, envMetrics } = collected;
        // A round collected ahead was sampled one step earlier: its finite log-probs vouch for those weights, and the
        // snapshot is still taken at this round boundary, where a resume can start.
        await this.d.divergence?.checkRollout(state, episodes);
        state.taskHistory = recordRound(state.taskHistory ?? {}, groupOutcomes(episodes), c.curriculum_window);
        const batch = buildRoundBatch(episodes, {
          groupSize: c.num_generations,
          scaleRewards: c.scale_rewards,
          lossType: c.loss_type,
          updates: updatesPerGeneration(c),
          beta: c.beta,
          maskTruncated: c.mask_truncated_completions,
        });
        this.logEpisodes(state.step + 1, episodes, batch.advantages.advantages);
        const roundTokens = episodes.reduce((a, e) => a + e.steps.reduce((b, s) => b + s.promptIds.length + s.completionIds.length, 0), 0);
        const rollMetrics = { ...this.roundMetrics(episodes, batch.advantages), ...trainTaskMetrics(episodes, c.tasks, probabilities) };
        let rolloutSeconds = (performance.now() - stepStart) / 1000;
        let pending: { step: number; row: Record<string, number | null> } | null = null;
        // ---- updates
        for (let it = 0; it < c.num_iterations && state.step < c.max_steps; it++) {
          for (let u = 0; u < batch.updates.length && state.step < c.max_steps; u++) {
            const tTrain = performance.now();
            let up;
            let asyncMetrics: Record<string, number> = {};
            if (turns) {
              asyncMetrics = { 'async/staleness': collected.staleness, 'async/overlap_s': 0, 'async/wait_s': 0 };
              if (overlapsNextRound(state.step, perRound, c.max_steps)) {
                // The next round draws its tasks from the history that includes this round, as it would after the step.
                const history = state.taskHistory;
                const p = new RoundPrefetch(() => this.collectRound(round + 1, history, turns, log));
                prefetch = p;
                up = await this.update(batch.updates[u], turns, async (trainDoneAt) => {
                  const j = await p.join(trainDoneAt);
                  ahead = j.value;
                  asyncMetrics['async/overlap_s'] = j.overlapSeconds;
                  asyncMetrics['async/wait_s'] = j.waitSeconds;
                });
                prefetch = null;
              } else up = await this.update(batch.updates[u], turns);
            } else up = await this.update(batch.updates[u]);
            const trainSeconds = (performance.now() - tTrain) / 1000;
            state.step++;
            if (it === 0 && u === 0) state.numTokens += roundTokens;
            if (up.skipped) {
              state.skippedSteps++;
              log(`step ${state.step} skipped: ${up.why}`);
            }
            if (state.step % c.logging_steps === 0 || state.step === c.max_steps) {
              // The round's last row waits for a possible evaluation so both land in one row (unbroken curves).
              if (pending) this.d.metrics.logStep(pending.step, pending.row);
              pending = { step: state.step, row: {
                ...rollMetrics,
                ...envMetrics,
                ...up.metrics,
                [METRIC_NAMES.numTokens]: state.numTokens,
                [METRIC_NAMES.stepTime]: rolloutSeconds + trainSeconds,
                [METRIC_NAMES.timeRollout]: rolloutSeconds,
                [METRIC_NAMES.timeEnv]: it === 0 && u === 0 ? rolloutTimings.env : 0,
                [METRIC_NAMES.timeGenerate]: it === 0 && u === 0 ? rolloutTimings.generate : 0,
                [METRIC_NAMES.timeTrain]: trainSeconds,
                'optimizer/skipped': up.skipped ? 1 : 0,
                'rollout/crash_retries': rolloutTimings.crashRetries,
                ...asyncMetrics,
              } };
            }
            rolloutSeconds = 0;
          }
        }
        if (c.log_completions && state.step % c.logging_steps < perRound) this.logCompletions(state.step, episodes, log);
        live.reward = Number(rollMetrics[METRIC_NAMES.reward].toFixed(3));
        live.success = `${(100 * rollMetrics[METRIC_NAMES.successRate]).toFixed(0)}%`;
        if (lastEval) live.eval = `${(100 * lastEval.overall.successRate).toFixed(0)}%`;
        bar?.update(state.step, live);
        if (dueIn(before, state.step, c.eval_steps) || (state.step === c.max_steps && c.eval_steps > 0 && state.step % c.eval_steps !== 0)) {
          lastEval = await this.evalAndLog(state.step, pending?.step === state.step ? pending.row : null, null, this.recording && dueIn(before, state.step, c.record_episodes));
          live.eval = `${(100 * lastEval.overall.successRate).toFixed(0)}%`;
        }
        if (pending) this.d.metrics.logStep(pending.step, pending.row);
        pending = null;
        if (state.step < c.max_steps && dueIn(before, state.step, c.save_steps)) await save();
      }
      bar?.finish(state.step, live);
      // Final checkpoint (also on a requested stop), unless this exact step was just saved.
      if (!checkpoints.at(-1)?.endsWith(`checkpoint-${state.step}`) && (state.step > this.d.state.step || stopped)) await save();
      this.d.divergence?.discardSnapshot();
      return { state, stopped, lastEval, checkpoints };
    } catch (e) {
      // A round still being collected beside the failed step ends first: nothing may use the model or the pages
      // behind the error handling.
      await prefetch?.settle();
      // NaN/Inf from the model (generation, evaluation) or in the weights (a refused checkpoint) ends the run as
      // diverged, with a checkpoint of the last finite state; anything else propagates as it is.
      throw this.d.divergence ? await this.d.divergence.classify({ ...state }, e) : e;
    } finally {
      await this.slots.close();
    }
  }

  /**
   * Collects rollout round `round`: its groups drawn from `history`, generation with the current weights. `turns`
   * (async_rollouts) shares the model with a training step running meanwhile; without it the round has the model.
   */
  private async collectRound(round: number, history: TaskHistory, turns: ModelTurns | null, log: (m: string) => void): Promise<CollectedRound> {
    const c = this.c;
    const perRound = stepsPerRound(c);
    const { draws: groups, probabilities } = drawRoundGroups(this.taskSampler, c.seed, round, generationBatchSize(c) / c.num_generations, history);
    // record_episodes: the round feeding step S (a multiple of it) records the first member of each group.
    const first = round * perRound;
    const recordStep = this.recording ? firstDue(first, Math.min(first + perRound, c.max_steps), c.record_episodes) : null;
    const rollout: RolloutOptions = recordStep === null ? this.rollout : { ...this.rollout, record: (_g, member) => member === 0 };
    // Environment metrics cover this round only (not the evaluation before it).
    this.d.envFactory.envMetrics?.();
    const seedFor = (t: number) => generationSeed(c.seed, 'train', round, t);
    let result;
    if (turns) {
      result = await turns.round(rollout.generator, (generator) => runRollout({ ...rollout, generator }, this.slots, groups, c.num_generations, seedFor));
    } else {
      await this.d.engine.beginGeneration();
      try {
        result = await runRollout(rollout, this.slots, groups, c.num_generations, seedFor);
      } finally {
        await this.d.engine.endGeneration();
      }
    }
    if (recordStep !== null) this.saveReplays(recordStep, 'rollout', result.episodes, log);
    return {
      round,
      staleness: turns ? 1 : 0,
      probabilities,
      episodes: result.episodes,
      timings: result.timings,
      envMetrics: this.d.envFactory.envMetrics?.() ?? {},
    };
  }

  /**
   * The round a checkpoint collected ahead, when this run can train on it: async_rollouts is on and it is the round
   * this step starts with, of this config's size; otherwise it is dropped (collected again with the current weights).
   */
  private usableAhead(r: CollectedRound, round: number): CollectedRound | null {
    const why = !this.c.async_rollouts
      ? 'async_rollouts is off'
      : r.round !== round
        ? `it is round ${r.round}, not round ${round}`
        : r.episodes.length !== generationBatchSize(this.c)
          ? `it has ${r.episodes.length} episodes, not ${generationBatchSize(this.c)}`
          : '';
    if (why === '') return r;
    this.d.log(`warning: the checkpoint's round collected ahead is not used (${why}); collecting round ${round} with the current weights`);
    return null;
  }

  /**
   * One optimizer step over one update's samples. With `turns` (async_rollouts) every engine call takes its turn on the
   * model, and `beforeStep` (the next round's collection) is awaited after the gradients and before the weights change.
   */
  private async update(
    ub: UpdateBatch,
    turns: ModelTurns | null = null,
    beforeStep?: (trainDoneAt: number) => Promise<void>,
  ): Promise<{ skipped: boolean; why: string; metrics: Record<string, number | null> }> {
    const engine = this.d.engine;
    const call = <T>(fn: () => Promise<T>): Promise<T> => (turns ? turns.train(fn) : fn());
    const loss: LossSettings = { ...this.loss, tokenNormalizer: ub.tokenNormalizer, sequenceNormalizer: ub.sequenceNormalizer };
    const micro = ub.samples.length > 0 ? packMicroBatches(ub.samples, this.c.micro_batch_tokens) : [];
    let lossSum = 0;
    let tokens = 0;
    let klSum = 0;
    let entSum = 0;
    const clip = { low: 0, high: 0, region: 0, lowMin: Infinity, highMax: 0 };
    let nonFinite = '';
    for (const mb of micro) {
      const packed = packSamples(mb);
      let s;
      try {
        const ref = this.c.beta > 0 ? await call(() => engine.referenceLogprobs(packed, this.c.temperature)) : null;
        s = await call(() => engine.accumulate(packed, ref, loss));
      } catch (e) {
        // The engine refuses to score NaN/Inf logits: the same as a non-finite loss for this step.
        if (!isNonFiniteCompute(e)) throw e;
        nonFinite = `non-finite loss (${(e as Error).message})`;
        lossSum = NaN;
        break;
      }
      if (!Number.isFinite(s.loss)) nonFinite = `non-finite loss (${s.loss})`;
      lossSum += s.loss;
      tokens += s.tokens;
      klSum += s.klSum;
      entSum += s.entropySum;
      clip.low += s.clipLow;
      clip.high += s.clipHigh;
      clip.region += s.clipRegion;
      if (s.tokens > 0) {
        clip.lowMin = Math.min(clip.lowMin, s.clipLow / s.tokens);
        clip.highMax = Math.max(clip.highMax, s.clipHigh / s.tokens);
      }
    }
    let skipped = false;
    let why = '';
    let gradNorm: number | null = null;
    let lr: number | null = null;
    await beforeStep?.(performance.now());
    if (nonFinite) {
      // The gradients of a NaN loss are meaningless: drop them and leave the weights and optimizer state untouched
      // (the step is counted in skippedSteps and logged as optimizer/skipped = 1).
      await call(() => engine.zeroGrad());
      skipped = true;
      why = nonFinite;
    } else {
      const r = await call(() => engine.step());
      gradNorm = r.gradNorm;
      lr = r.lr;
      if (r.skipped) {
        skipped = true;
        why = `non-finite gradient${r.badTensor ? ` in ${r.badTensor}` : ''}`;
      }
    }
    const per = (x: number) => (tokens > 0 ? x / tokens : null);
    return {
      skipped,
      why,
      metrics: {
        [METRIC_NAMES.loss]: micro.length > 0 ? lossSum : 0,
        [METRIC_NAMES.gradNorm]: gradNorm,
        [METRIC_NAMES.learningRate]: lr,
        [METRIC_NAMES.kl]: this.c.beta > 0 ? per(klSum) : null,
        [METRIC_NAMES.entropy]: per(entSum),
        [METRIC_NAMES.clipRegionMean]: per(clip.region),
        [METRIC_NAMES.clipLowMean]: per(clip.low),
        [METRIC_NAMES.clipLowMin]: tokens > 0 ? clip.lowMin : null,
        [METRIC_NAMES.clipHighMean]: per(clip.high),
        [METRIC_NAMES.clipHighMax]: tokens > 0 ? clip.highMax : null,
        'train/scored_tokens': tokens,
        'train/micro_batches': micro.length,
      },
    };
  }

  private roundMetrics(episodes: readonly RolloutEpisode[], adv: ReturnType<typeof buildRoundBatch>['advantages']): Record<string, number> {
    const rewards = episodes.map((e) => e.reward.reward);
    const steps = episodes.flatMap((e) => e.steps);
    const totalSteps = steps.length;
    return {
      [METRIC_NAMES.reward]: adv.rewardMean,
      [METRIC_NAMES.rewardStd]: adv.rewardStd,
      [METRIC_NAMES.fracRewardZeroStd]: adv.fracRewardZeroStd,
      [METRIC_NAMES.rewardFnMean]: mean(rewards),
      [METRIC_NAMES.rewardFnStd]: besselStd(rewards),
      [METRIC_NAMES.successRate]: mean(episodes.map((e) => (e.reward.success ? 1 : 0))),
      [METRIC_NAMES.episodeSteps]: totalSteps / episodes.length,
      [METRIC_NAMES.invalidActionRate]: totalSteps > 0 ? episodes.reduce((a, e) => a + e.reward.invalidActions, 0) / totalSteps : 0,
      ...(completionMetrics(steps.map((s) => ({ length: s.completionIds.length, truncated: s.truncated }))) as Record<string, number>),
    };
  }

  /** log_completions: the first member of each group, every env step: completion → action (error) and reward. */
  private logCompletions(step: number, episodes: readonly RolloutEpisode[], log: (m: string) => void): void {
    const lines = [`completions @ step ${step}:`];
    for (const e of episodes.filter((x) => x.member === 0)) {
      const steps = e.steps.map((s) => `${JSON.stringify(s.completionText.slice(0, 60))}${s.error ? ` [${s.error.split('\n')[0].slice(0, 50)}]` : ''}`);
      lines.push(`  ${e.task} seed ${e.seed}: ${steps.join(' → ')} ⇒ reward ${e.reward.reward}`);
    }
    log(lines.join('\n'));
  }

  private logEpisodes(step: number, episodes: readonly RolloutEpisode[], advantages: readonly number[]): void {
    const rows: EpisodeStepRow[] = [];
    episodes.forEach((e, i) => {
      e.steps.forEach((s, t) => {
        const last = t === e.steps.length - 1;
        rows.push({
          step,
          group: e.group,
          member: e.member,
          task: e.task,
          seed: e.seed,
          envStep: t,
          prompt: s.promptText,
          completion: s.completionText,
          action: s.action,
          error: s.error,
          reward: s.reward,
          done: s.done,
          ...(last ? { episodeReward: e.reward.reward, advantage: advantages[i] } : {}),
        });
      });
    });
    this.d.metrics.logEpisodeSteps(rows);
  }
}

/** Episodes consumed per optimizer step, for banners. */
export function describeLayout(c: TrainConfig): string {
  return `${generationBatchSize(c) / c.num_generations} group(s) × G=${c.num_generations} per round, ${episodesPerUpdate(c)} episodes per step, ${stepsPerRound(c)} step(s) per round`;
}
