// The SFT stage of a run (config `sft:`): supervised fine-tuning on demonstrations before GRPO, in the same process
// and on the same model. prepareSft finds the demonstrations (sft.demos, else <run>/demos.jsonl; generated with the
// task oracles when missing and sft.demo_episodes is set), checks them against the run's prompt settings and tasks and
// tokenises them — every bad input fails there, before any training. runSftStage trains with its own trainer (its own
// learning rate and schedule over the stage's steps), evaluates when sft.eval is set, then creates the GRPO trainer
// on the updated weights with fresh AdamW moments (LoRA: the adapter carries over; full fine-tuning: the shared model's
// weights were updated in place). The KL reference (beta > 0) stays the starting model: the base without adapter for
// LoRA, the loaded weights for full fine-tuning.
//
// Checkpoints: the run writes checkpoint-0 right after the stage (GRPO trainer state with fresh moments, loop state
// with sftSteps), so a resumed run starts GRPO from there and never repeats the stage. A run interrupted during the
// stage writes no checkpoint (the stage's optimizer state is not kept): running the same command again starts the
// stage over, reusing the demonstrations file if it was already written.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerSettings } from '../engine/trainer-engine.ts';
import type { TrainConfig } from '../io/config.ts';
import type { ProgressStream } from '../io/progress.ts';
import { demoExpectations, readDemoFile, DemoFileError } from './demo-file.ts';
import { writeOracleDemos } from './demos.ts';
import { createTrainEngine, type PolicyModel } from './engine-policy.ts';
import type { TrainEngine } from './engine-types.ts';
import { evaluate, formatEvalLine, type EvalResult } from './evaluate.ts';
import { EpisodeSlots, type EpisodeFactory } from './rollout.ts';
import { actionTokens } from './action-trie.ts';
import { runSft, sftSample, sftStepCount, SFT_METRICS, type SftOutcome, type SftTokenizer } from './sft.ts';
import type { TrainingSample } from './samples.ts';
import { evalTaskMetrics } from './task-metrics.ts';
import { rolloutOptions } from './trainer.ts';

/** The run's demonstrations file: sft.demos, else demos.jsonl in the run folder. */
export function demosPath(c: TrainConfig, runDir: string): string {
  return c.sft.demos ?? join(runDir, 'demos.jsonl');
}

export interface SftPlan {
  path: string;
  samples: TrainingSample[];
  /** Samples per task (tasks of the run only). */
  perTask: Record<string, number>;
  totalSteps: number;
}

/**
 * Finds (or generates) the demonstrations, checks them and tokenises them. Errors name the file and line, or the
 * task of `tasks` left without demonstrations.
 */
export async function prepareSft(
  c: TrainConfig,
  d: { runDir: string; modelDir: string; tokenizer: SftTokenizer; envFactory: EpisodeFactory; log(message: string): void },
): Promise<SftPlan> {
  const path = demosPath(c, d.runDir);
  if (!existsSync(path)) {
    if (c.sft.demo_episodes === null) {
      throw new DemoFileError(`sft.demos: ${path} does not exist (create it with lfm2-rl demos, or set sft.demo_episodes to generate it at the start of the run)`);
    }
    const per = c.sft.demo_episodes_per_task;
    for (const t of Object.keys(per ?? {})) {
      if (!c.tasks.includes(t)) throw new Error(`sft.demo_episodes_per_task names '${t}', which is not in tasks (${c.tasks.join(', ')})`);
    }
    const counts = per ? c.tasks.map((t) => `${t} ${per[t] ?? c.sft.demo_episodes}`).join(', ') : `${c.sft.demo_episodes} per task of ${c.tasks.join(', ')}`;
    d.log(`generating demonstrations: oracle episodes, ${counts}`);
    await writeOracleDemos(c, { path, tasks: c.tasks, episodesPerTask: c.sft.demo_episodes, episodesOf: per, seed: c.seed, modelDir: d.modelDir, tokenizer: d.tokenizer, factory: d.envFactory, log: d.log });
  }
  const file = readDemoFile(path, demoExpectations(c, d.modelDir));
  const others = new Map<string, number>();
  const perTask: Record<string, number> = Object.fromEntries(c.tasks.map((t) => [t, 0]));
  const samples: TrainingSample[] = [];
  let tooLong = 0;
  let longest = 0;
  for (const r of file.records) {
    if (!(r.task in perTask)) {
      others.set(r.task, (others.get(r.task) ?? 0) + 1);
      continue;
    }
    // The sampler stops at max_completion_length: a longer answer is one the policy could never give.
    const action = actionTokens(d.tokenizer, r.completion, d.tokenizer.imEndId);
    if (action.length > c.max_completion_length) {
      tooLong++;
      longest = Math.max(longest, action.length);
      continue;
    }
    const s = sftSample(r, d.tokenizer, c.sft.completion_only_loss, action, c.sft.prompt_loss_weight);
    samples.push(s);
    perTask[r.task]++;
  }
  if (others.size > 0) d.log(`${path}: skipping demonstrations of tasks this run does not train (${[...others].map(([t, n]) => `${t}: ${n}`).join(', ')})`);
  if (tooLong > 0) d.log(`warning: ${path}: ${tooLong} demonstrations skipped, their actions take up to ${longest} tokens with the end of turn (max_completion_length ${c.max_completion_length})`);
  for (const t of c.tasks) {
    if (perTask[t] === 0) throw new DemoFileError(`${path}: no demonstrations for task '${t}' (listed in tasks); add some with lfm2-rl demos --tasks ${t}, or remove the task`);
  }
  const totalSteps = sftStepCount(samples.length, c.sft.batch_size, c.sft.epochs);
  if (c.sft.warmup_steps > totalSteps) {
    throw new Error(`sft.warmup_steps (${c.sft.warmup_steps}) exceeds the stage's ${totalSteps} optimizer steps (${samples.length} samples, batch_size ${c.sft.batch_size}, ${c.sft.epochs} epochs)`);
  }
  d.log(`sft: ${samples.length} demonstration steps from ${path} (${Object.entries(perTask).map(([t, n]) => `${t} ${n}`).join(', ')}), ${c.sft.epochs} epochs of ${Math.ceil(samples.length / c.sft.batch_size)} steps`);
  return { path, samples, perTask, totalSteps };
}

/** AdamW settings of the stage: its own rate and schedule, the config's AdamW constants and clipping. */
export function sftOptimizer(c: TrainConfig, totalSteps: number): OptimizerSettings {
  return {
    learningRate: c.sft.learning_rate,
    schedule: c.sft.lr_scheduler_type,
    warmupSteps: c.sft.warmup_steps,
    totalSteps,
    weightDecay: c.weight_decay,
    beta1: c.adam_beta1,
    beta2: c.adam_beta2,
    eps: c.adam_epsilon,
    maxGradNorm: c.max_grad_norm,
  };
}

export interface SftStageDeps {
  policy: PolicyModel;
  envFactory: EpisodeFactory;
  metrics: { logStep(step: number, metrics: Record<string, number | null>): unknown };
  log(message: string): void;
  progress?: ProgressStream | null;
  shouldStop?(): boolean;
  /** Wrap the stage's engine (tests). */
  wrapEngine?(engine: TrainEngine): TrainEngine;
}

export interface SftStageResult {
  outcome: SftOutcome;
  /** The GRPO engine on the updated weights (null when the stage was stopped). */
  engine: TrainEngine | null;
  evaluation: EvalResult | null;
}

/** The stage's own trainer on the shared model (create it before the GRPO one: see createTrainEngine). */
export function createSftEngine(pm: PolicyModel, c: TrainConfig, plan: SftPlan): Promise<TrainEngine> {
  return createTrainEngine(pm, c, { optimizer: sftOptimizer(c, plan.totalSteps), reference: false });
}

/**
 * Held-out evaluation of the stage's weights with GRPO's own settings (training temperature, eval seeds), so the
 * last one is GRPO's step 0. Logged as GRPO's evaluation metrics (eval/…, per task with Wilson bounds) under sft/,
 * at the stage's step, so the stage's own curve stays apart.
 */
async function evaluateStage(c: TrainConfig, engine: TrainEngine, d: SftStageDeps, steps: number, log: (m: string) => void, when: string): Promise<EvalResult> {
  const slots = new EpisodeSlots(d.envFactory);
  let evaluation: EvalResult;
  await engine.beginGeneration();
  try {
    evaluation = await evaluate(rolloutOptions(c, d.policy.tokenizer, d.policy.generator, log), slots, { tasks: c.tasks, episodesPerTask: c.eval_episodes, seed: c.seed });
  } finally {
    await engine.endGeneration();
    await slots.close();
  }
  const row: Record<string, number> = { [SFT_METRICS.step]: steps, [SFT_METRICS.evalSuccessRate]: evaluation.overall.successRate, 'sft/eval/seconds': evaluation.seconds };
  for (const [k, v] of Object.entries(evalTaskMetrics(evaluation))) row[`sft/${k}`] = v;
  d.metrics.logStep(0, row);
  log(`eval ${when}: ${formatEvalLine(evaluation)}`);
  return evaluation;
}

/** Trains the stage with `created` (createSftEngine), evaluates (sft.eval, sft.eval_epochs), and hands the weights to a fresh GRPO engine. */
export async function runSftStage(c: TrainConfig, plan: SftPlan, created: TrainEngine, d: SftStageDeps): Promise<SftStageResult> {
  const engine = d.wrapEngine ? d.wrapEngine(created) : created;
  const outcome = await runSft({
    engine,
    samples: plan.samples,
    epochs: c.sft.epochs,
    batchSize: c.sft.batch_size,
    microBatchTokens: c.micro_batch_tokens,
    seed: c.seed,
    loss: { epsilonLow: c.epsilon, epsilonHigh: c.epsilon_high ?? c.epsilon, maxCompletionLength: c.max_completion_length },
    metrics: d.metrics,
    log: d.log,
    progress: d.progress,
    shouldStop: d.shouldStop,
    afterEpoch: c.sft.eval_epochs > 0
      ? async (epoch, steps, log) => {
          if (epoch % c.sft.eval_epochs === 0) await evaluateStage(c, engine, d, steps, log, `after sft epoch ${epoch}`);
        }
      : undefined,
  });
  if (outcome.stopped) {
    d.log(`sft stage stopped at step ${outcome.steps}/${outcome.totalSteps}: no checkpoint written, run the same command again to redo the stage`);
    return { outcome, engine: null, evaluation: null };
  }
  const evaluation = c.sft.eval ? await evaluateStage(c, engine, d, outcome.steps, d.log, 'after sft') : null;
  const grpo = await createTrainEngine(d.policy, c, { startFrom: created });
  return { outcome, engine: grpo, evaluation };
}
