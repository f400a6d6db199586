// One training run end to end: model folder (created from a preset for offline configs, else a local folder or a
// Hugging Face id), engine, browser environment, start banner, the SFT stage when the config has one
// (lib/rl/sft-stage.ts, ending with checkpoint-0), the GRPO loop, checkpoints, report.html, a clean stop on Ctrl-C
// (checkpoint first), and on divergence a checkpoint of the last finite state (lib/rl/divergence.ts) before
// TrainingDivergedError. `lfm2-rl train` and `lfm2-rl sft` (lib/cli/) are thin wrappers over trainRun.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveResume } from '../io/checkpoint.ts';
import { configToYaml, resolveRunName, sftEnabled, type TrainConfig } from '../io/config.ts';
import { resolveModel } from '../io/hub.ts';
import { MetricsWriter } from '../io/metrics.ts';
import { startBanner, type ProgressStream } from '../io/progress.ts';
import { REPLAYS_DIR, writeReport } from '../io/report.ts';
import { presetConfig } from '../engine/presets.ts';
import { writeRandomModel } from '../engine/init-weights.ts';
import { openEnvironment, type EnvironmentHandle } from './environment.ts';
import { DivergenceGuard, TrainingDivergedError } from './divergence.ts';
import { createTrainEngine, loadPolicyModel, policyOf, type Policy } from './engine-policy.ts';
import type { TrainEngine } from './engine-types.ts';
import type { EvalResult } from './evaluate.ts';
import { createSftEngine, prepareSft, runSftStage, type SftPlan } from './sft-stage.ts';
import { loadRunCheckpoint, readRunConfig, resumeConfigChanges, saveRunCheckpoint } from './run-checkpoint.ts';
import { formatTaskTable } from '../io/task-table.ts';
import { trainSummaryRows } from './task-metrics.ts';
import { describeTasks } from './task-sampler.ts';
import { describeLayout, GrpoTrainer, type LoopState, type TrainOutcome } from './trainer.ts';

export interface TrainRunOptions {
  /** Shown in the banner and report. */
  configPath?: string | null;
  /** Banner, messages and progress bar (default stderr). */
  out?: ProgressStream;
  /** Install SIGINT/SIGTERM handlers that stop at the next step boundary with a checkpoint (default true). */
  handleSignals?: boolean;
  /** Extra stop condition (tests). */
  shouldStop?: () => boolean;
  /** Wrap the engine (tests inject faults). */
  wrapEngine?: (p: Policy) => Policy;
  /** Run only the SFT stage (lfm2-rl sft): it ends with checkpoint-0, which `train --resume` continues with GRPO. */
  sftOnly?: boolean;
}

export interface TrainRunResult extends TrainOutcome {
  runDir: string;
  reportPath: string;
}

/**
 * The model folder of a config: an existing folder, a folder created from `init_model.preset` when missing, or a
 * Hugging Face id resolved through the local cache / a download (clear offline message otherwise).
 */
export async function prepareModel(c: TrainConfig, log: (m: string) => void): Promise<string> {
  if (c.init_model.preset !== null && !existsSync(c.model)) {
    const t0 = performance.now();
    writeRandomModel(c.model, presetConfig(c.init_model.preset), { seed: c.init_model.seed, dtype: c.init_model.dtype });
    log(`created a random-weight '${c.init_model.preset}' model in ${c.model} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return (await resolveModel(c.model)).dir;
}

export async function trainRun(config: TrainConfig, opts: TrainRunOptions = {}): Promise<TrainRunResult> {
  const out = opts.out ?? process.stderr;
  const log = (m: string) => out.write(m + '\n');
  const runDir = join(config.output_dir, resolveRunName(config));
  // Resume target first: a bad --resume fails before anything is loaded.
  const resumeFrom = config.resume_from_checkpoint === null ? null : await resolveResume(runDir, config.resume_from_checkpoint, (m) => log(`warning: ${m}`));
  // A fresh run with an sft section runs the stage first; a resumed one continues after it (checkpoint-0 or later).
  const sftPending = resumeFrom === null && sftEnabled(config);
  if (opts.sftOnly && !sftEnabled(config)) throw new Error('the config has no SFT stage: set sft.demos or sft.demo_episodes');
  if (opts.sftOnly && resumeFrom) throw new Error('the SFT stage runs only at the start of a run (checkpoints come after it): drop --resume');
  if (resumeFrom) {
    const saved = readRunConfig(resumeFrom.dir);
    const changed = saved ? resumeConfigChanges(saved, config) : [];
    if (changed.length > 0) log(`warning: resuming with settings that differ from the checkpoint's: ${changed.join(', ')} (the run will not match an uninterrupted one)`);
  }
  const modelDir = await prepareModel(config, log);
  let env: EnvironmentHandle | null = null;
  let policy: Policy | null = null;
  let guard: DivergenceGuard | null = null;
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) {
      log('second interrupt: exiting without a checkpoint');
      process.exit(130);
    }
    stopRequested = true;
    log('interrupt: finishing the current step, then writing a checkpoint (press Ctrl-C again to quit at once)');
  };
  const signals = opts.handleSignals ?? true;
  try {
    const pm = await loadPolicyModel(modelDir, config);
    // With an SFT stage, its trainer comes first and GRPO's is created after the stage, on the updated weights.
    if (!sftPending) {
      policy = policyOf(pm, await createTrainEngine(pm, config));
      if (opts.wrapEngine) policy = opts.wrapEngine(policy);
    }
    env = await openEnvironment(config, log);
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'train_config.yaml'), configToYaml(config));
    // Demonstrations are found (or generated), checked and tokenised before any training.
    let sft: { plan: SftPlan; engine: TrainEngine } | null = null;
    if (sftPending) {
      const plan = await prepareSft(config, { runDir, modelDir, tokenizer: pm.tokenizer, envFactory: env.factory, log });
      sft = { plan, engine: await createSftEngine(pm, config, plan) };
    }

    let state: LoopState = { step: 0, numTokens: 0, skippedSteps: 0 };
    if (resumeFrom) {
      state = await loadRunCheckpoint(resumeFrom.dir, policy!.engine);
      log(`resumed from ${resumeFrom.dir} at step ${state.step}${state.sftSteps !== undefined ? ` (after ${state.sftSteps} sft steps)` : ''}`);
      if (sftEnabled(config) && state.sftSteps === undefined) {
        throw new Error(`${resumeFrom.dir} was written by a run without an SFT stage: remove the sft section to resume it, or start a new run`);
      }
    }
    const metrics = new MetricsWriter(runDir, resumeFrom ? { resumeStep: state.step } : {});
    // Until the SFT stage hands over, its engine has the run's mode and so the same parameter counts.
    let counts: TrainEngine | null = policy?.engine ?? sft!.engine;
    out.write(
      startBanner({
        model: `${config.model}${resolve(modelDir) !== resolve(config.model) ? ` (${modelDir})` : ''}`,
        parameters: counts.totalParameters,
        trainable: counts.trainableParameters,
        device: pm.device,
        configPath: opts.configPath ?? null,
        runDir,
        extra: {
          mode: config.use_peft ? `LoRA r=${config.lora.r} alpha=${config.lora.lora_alpha} on ${config.lora.target_modules.join(', ')}` : 'full fine-tuning',
          tasks: describeTasks(config),
          environment: env.description,
          ...(sft
            ? { sft: `${sft.plan.samples.length} demonstration steps × ${config.sft.epochs} epochs = ${sft.plan.totalSteps} steps, lr ${config.sft.learning_rate}` }
            : state.sftSteps !== undefined
              ? { sft: `done (${state.sftSteps} steps)` }
              : {}),
          layout: describeLayout(config),
          steps: opts.sftOnly ? 'sft stage only' : `${config.max_steps}${resumeFrom ? ` (resuming at ${state.step})` : ''}`,
        },
      }) + '\n',
    );
    counts = null;
    const reportMeta = {
      title: `lfm2-rl: ${resolveRunName(config)}`,
      details: [`model ${config.model}`, `config ${opts.configPath ?? '(defaults)'}`, `tasks ${describeTasks(config)}`, `device ${pm.device}`],
      configYaml: configToYaml(config),
    };
    if (signals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    // checkpoint-0 of a run with an SFT stage is the stage's result (what GRPO started from): never pruned.
    const stageEnd = sftEnabled(config) ? [join(runDir, 'checkpoint-0')] : [];
    const saveCheckpoint = (s: LoopState) =>
      saveRunCheckpoint(s, { runDir, engine: policy!.engine, modelDir, config, limit: config.save_total_limit, keep: [...stageEnd, guard?.keepDir() ?? null].filter((d): d is string => d !== null), warn: log });
    const stop = () => stopRequested || (opts.shouldStop?.() ?? false);
    let initialEval: EvalResult | null = null;
    let sftCheckpoint: string | null = null;
    if (sft) {
      const r = await runSftStage(config, sft.plan, sft.engine, { policy: pm, envFactory: env.factory, metrics, log, progress: out, shouldStop: stop });
      sft = null; // nothing keeps the stage's trainer (its gradients and moments) alive during GRPO
      if (!r.engine) {
        const reportPath = writeReport(runDir, reportMeta);
        return { state, stopped: true, lastEval: null, checkpoints: [], runDir, reportPath };
      }
      policy = policyOf(pm, r.engine);
      if (opts.wrapEngine) policy = opts.wrapEngine(policy);
      state = { ...state, sftSteps: r.outcome.steps };
      sftCheckpoint = await saveCheckpoint(state);
      log(`checkpoint ${sftCheckpoint} (end of the sft stage)`);
      initialEval = r.evaluation;
      if (opts.sftOnly) {
        const reportPath = writeReport(runDir, reportMeta);
        log(`sft stage finished; report ${reportPath}`);
        return { state, stopped: false, lastEval: r.evaluation, checkpoints: [sftCheckpoint], runDir, reportPath };
      }
    }
    const p = policy!;
    const engine = p.engine;
    guard = new DivergenceGuard({ runDir, engine, saveCheckpoint, rollback: config.divergence_rollback, resumedFrom: resumeFrom, log });
    if (sftCheckpoint) guard.checkpointSaved(0, sftCheckpoint); // GRPO's starting state is already on disk
    const trainer = new GrpoTrainer({
      config,
      engine,
      generator: p.generator,
      tokenizer: p.tokenizer,
      envFactory: env.factory,
      metrics,
      state,
      saveCheckpoint,
      afterCheckpoint: () => writeReport(runDir, reportMeta),
      log,
      progress: out,
      shouldStop: stop,
      divergence: guard,
      initialEval,
      replaysDir: join(runDir, REPLAYS_DIR),
    });
    let outcome: TrainOutcome;
    try {
      outcome = await trainer.run();
    } catch (e) {
      if (e instanceof TrainingDivergedError) writeReport(runDir, reportMeta); // the curves up to the divergence
      throw e;
    }
    const reportPath = writeReport(runDir, reportMeta);
    const evalNote = outcome.lastEval ? 'last held-out evaluation' : 'no held-out evaluation';
    log(`per task (training: all rounds of the run; ${evalNote}):\n${formatTaskTable(trainSummaryRows(config.tasks, outcome.state.taskHistory ?? {}, outcome.lastEval))}`);
    log(`${outcome.stopped ? 'stopped' : 'finished'} at step ${outcome.state.step}; report ${reportPath}`);
    return { ...outcome, runDir, reportPath };
  } finally {
    guard?.discardSnapshot();
    if (signals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await env?.close();
    policy?.close();
  }
}
