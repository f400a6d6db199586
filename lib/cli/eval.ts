// `lfm2-rl eval --model <model folder | checkpoint> --tasks click-test,click-button --episodes N`: success rate per
// task with a 95% Wilson interval, over env seeds never used in training (lib/rl/seeds.ts EVAL_SEED_RANGE). Prompt,
// action set and env settings come from --config, else from the checkpoint's train_config.yaml, else the defaults;
// any config key can be overridden (--max_env_steps 5). Prints a table, then the JSON summary (or writes it to --json).
// --record DIR also saves every episode (per-step screenshots with the action's target outlined, prompts, actions,
// errors, rewards; lib/io/replay-files.ts) and DIR/report.html, whose viewer steps through them.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkCheckpointBeforeUse } from '../io/checkpoint.ts';
import { checkReplayDir } from '../io/replay-files.ts';
import { writeReport } from '../io/report.ts';
import { defaultConfig, loadConfig, parseSeed, validateConfig, type TrainConfig } from '../io/config.ts';
import { resolveModel } from '../io/hub.ts';
import { configOverrides } from './config-overrides.ts';
import { parseTaskList } from '../io/task-list.ts';
import { loadEvalPolicy } from '../rl/engine-policy.ts';
import { openEnvironment } from '../rl/environment.ts';
import { evalSummary, evaluate, formatEvalTable } from '../rl/evaluate.ts';
import { EpisodeSlots } from '../rl/rollout.ts';
import { saveReplay } from '../rl/replays.ts';
import { readRunConfig, RUN_CONFIG_FILE } from '../rl/run-checkpoint.ts';
import { rolloutOptions } from '../rl/trainer.ts';

export const summary = 'held-out success rate per task (95% Wilson interval) of a model folder or checkpoint';

const usage = `usage: lfm2-rl eval --model <dir|checkpoint> [--tasks a,b] [--episodes N] [--config FILE] [--base DIR]
                    [--temperature T] [--seed N] [--json FILE] [--record DIR] [--<config key> <value> ...]
  --model      HF model folder, Hugging Face id, or a checkpoint folder (full model or PEFT adapter; a
               checkpoint must match the SHA-256 hashes of its completion marker)
  --tasks      comma-separated task names (default: the config's tasks; weights, if written, are ignored)
  --episodes   episodes per task (default: the config's eval_episodes)
  --base       base model folder for a PEFT adapter (default: its base_model_name_or_path)
  --temperature  sampling temperature (default 0 = greedy)
  --seed       picks the held-out seeds (default: the config's seed, as evaluation during training)
  --json FILE  write the JSON summary there instead of printing it
  --record DIR save every episode there (a new or empty folder): DIR/<task>/episode-<k>/step-<n>.png (the page
               before action n, its target outlined), final.png, episode.json (prompts, actions, errors, rewards),
               DIR/index.json, and DIR/report.html with a viewer that steps through them. Recording does not change
               the results (same seeds, same actions); a screenshot that fails is logged and the step kept without it`;

export async function run(argv: string[]): Promise<number> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      tasks: { type: 'string' },
      episodes: { type: 'string' },
      config: { type: 'string' },
      base: { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: false,
    tokens: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (typeof values.model !== 'string') throw new Error(`--model is required\n${usage}`);
  const known = new Set(['model', 'tasks', 'episodes', 'config', 'base', 'temperature', 'seed', 'json', 'record', 'help']);
  // Everything else is a config override, passed through in order.
  const overrides = configOverrides(tokens, known);
  const num = (v: unknown, name: string, int: boolean): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n))) throw new Error(`--${name} must be a${int ? 'n integer' : ' number'}, got '${String(v)}'`);
    return n;
  };
  const episodes = num(values.episodes, 'episodes', true);
  if (episodes !== undefined && episodes < 1) throw new Error('--episodes must be at least 1');
  const temperature = num(values.temperature, 'temperature', false) ?? 0;
  if (temperature < 0) throw new Error('--temperature must be >= 0');
  // The replay folder is checked before anything is loaded: a bad one fails at once, not after the evaluation.
  if (values.record !== undefined && (typeof values.record !== 'string' || values.record === '')) throw new Error(`--record needs a folder\n${usage}`);
  const recordDir = typeof values.record === 'string' ? values.record : null;
  if (recordDir !== null) checkReplayDir(recordDir, '--record');

  // A checkpoint (it has a completion marker) must match its recorded hashes before anything in it is read.
  if (existsSync(values.model)) await checkCheckpointBeforeUse(values.model, (m) => console.error(`warning: ${m}`));

  // Settings: --config, else the checkpoint's own, else defaults; then overrides.
  let base: TrainConfig;
  if (typeof values.config === 'string') base = loadConfig(values.config, overrides);
  else {
    const saved = existsSync(join(values.model, RUN_CONFIG_FILE)) ? readRunConfig(values.model) : null;
    base = saved ? { ...saved } : defaultConfig();
    if (overrides.length > 0) {
      const o = loadConfig(null, overrides);
      // Apply only the keys given on the command line.
      for (let i = 0; i < overrides.length; i++) {
        if (!overrides[i].startsWith('--')) continue;
        const key = overrides[i].slice(2).split('=')[0].replace(/-/g, '_');
        const [g, sub] = key.split('.');
        if (sub) (base as unknown as Record<string, Record<string, unknown>>)[g][sub] = (o as unknown as Record<string, Record<string, unknown>>)[g][sub];
        else (base as unknown as Record<string, unknown>)[key] = (o as unknown as Record<string, unknown>)[key];
      }
    }
  }
  // --tasks replaces the task list (written like the config key); weights and task sampling only steer training
  // (every task gets the same held-out episodes), so they are dropped with the saved list.
  let taskSettings: Partial<TrainConfig> = {};
  if (typeof values.tasks === 'string') {
    const parsed = parseTaskList(values.tasks);
    if (typeof parsed === 'string') throw new Error(`--tasks ${parsed}`);
    taskSettings = { tasks: parsed.names, task_weights: null, task_sampling: null };
  }
  const config = validateConfig({ ...base, ...taskSettings, resume_from_checkpoint: null }, 'eval settings');
  const seed = values.seed === undefined ? config.seed : parseSeed(String(values.seed));

  const modelDir = existsSync(values.model) ? values.model : (await resolveModel(values.model)).dir;
  const policy = await loadEvalPolicy(modelDir, {
    baseDir: typeof values.base === 'string' ? values.base : undefined,
    device: config.device,
    threads: config.threads,
    precision: config.precision,
  });
  const env = await openEnvironment(config, (m) => console.error(m));
  const slots = new EpisodeSlots(env.factory);
  try {
    const opts = rolloutOptions(config, policy.tokenizer, policy.generator, (m) => console.error(`warning: ${m}`));
    opts.sampling = { ...opts.sampling, temperature };
    if (recordDir !== null) opts.record = () => true;
    const r = await evaluate(opts, slots, { tasks: config.tasks, episodesPerTask: episodes ?? config.eval_episodes, seed });
    const heading = `model ${values.model} · ${policy.device} · ${temperature === 0 ? 'greedy' : `temperature ${temperature}`} · held-out seeds (seed ${seed})`;
    console.log(`${heading} · ${r.seconds.toFixed(1)} s`);
    if (recordDir !== null) {
      const index = saveReplay(recordDir, r.episodes, { source: 'eval', step: null, note: heading });
      const report = writeReport(recordDir, { title: `lfm2-rl eval: ${values.model}`, details: [heading, `tasks ${config.tasks.join(', ')}`] }, { replayRoot: recordDir, warn: (m) => console.error(`warning: ${m}`) });
      console.error(`recorded ${index?.episodes.length ?? 0} episodes in ${recordDir}; viewer: ${report}`);
    }
    console.log(formatEvalTable(r));
    const json = JSON.stringify({ model: values.model, temperature, seed, ...evalSummary(r) }, null, 2);
    if (typeof values.json === 'string') writeFileSync(values.json, json + '\n');
    else console.log(json);
    return 0;
  } finally {
    await slots.close();
    await env.close();
    policy.close();
  }
}
