// One training run end to end: model folder (created from a preset for offline configs, else a local folder or a
// Hugging Face id), engine, browser environment, start banner, the GRPO loop, checkpoints, report.html, a clean
// stop on Ctrl-C (checkpoint first), and on divergence a checkpoint of the last finite state (lib/rl/divergence.ts)
// before TrainingDivergedError. `lfm2-rl train` (lib/cli/train.ts) is a thin wrapper over trainRun.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveResume } from '../io/checkpoint.ts';
import { configToYaml, resolveRunName, type TrainConfig } from '../io/config.ts';
import { resolveModel } from '../io/hub.ts';
import { MetricsWriter } from '../io/metrics.ts';
import { startBanner, type ProgressStream } from '../io/progress.ts';
import { writeReport } from '../io/report.ts';
import { presetConfig } from '../engine/presets.ts';
import { writeRandomModel } from '../engine/init-weights.ts';
import { openEnvironment, type EnvironmentHandle } from './environment.ts';
import { DivergenceGuard, TrainingDivergedError } from './divergence.ts';
import { loadPolicy, type Policy } from './engine-policy.ts';
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
    policy = await loadPolicy(modelDir, config);
    if (opts.wrapEngine) policy = opts.wrapEngine(policy);
    env = await openEnvironment(config);
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'train_config.yaml'), configToYaml(config));

    let state: LoopState = { step: 0, numTokens: 0, skippedSteps: 0 };
    if (resumeFrom) {
      state = await loadRunCheckpoint(resumeFrom.dir, policy.engine);
      log(`resumed from ${resumeFrom.dir} at step ${state.step}`);
    }
    const metrics = new MetricsWriter(runDir, resumeFrom ? { resumeStep: state.step } : {});
    const engine = policy.engine;
    out.write(
      startBanner({
        model: `${config.model}${resolve(modelDir) !== resolve(config.model) ? ` (${modelDir})` : ''}`,
        parameters: engine.totalParameters,
        trainable: engine.trainableParameters,
        device: policy.device,
        configPath: opts.configPath ?? null,
        runDir,
        extra: {
          mode: config.use_peft ? `LoRA r=${config.lora.r} alpha=${config.lora.lora_alpha} on ${config.lora.target_modules.join(', ')}` : 'full fine-tuning',
          tasks: describeTasks(config),
          environment: env.description,
          layout: describeLayout(config),
          steps: `${config.max_steps}${resumeFrom ? ` (resuming at ${state.step})` : ''}`,
        },
      }) + '\n',
    );
    const reportMeta = {
      title: `lfm2-rl: ${resolveRunName(config)}`,
      details: [`model ${config.model}`, `config ${opts.configPath ?? '(defaults)'}`, `tasks ${describeTasks(config)}`, `device ${policy.device}`],
      configYaml: configToYaml(config),
    };
    if (signals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const p = policy;
    const saveCheckpoint = (s: LoopState) => saveRunCheckpoint(s, { runDir, engine, modelDir, config, limit: config.save_total_limit, keep: guard?.keepDir(), warn: log });
    guard = new DivergenceGuard({ runDir, engine, saveCheckpoint, rollback: config.divergence_rollback, resumedFrom: resumeFrom, log });
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
      shouldStop: () => stopRequested || (opts.shouldStop?.() ?? false),
      divergence: guard,
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
