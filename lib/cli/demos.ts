// `lfm2-rl demos`: demonstrations for the SFT stage (lib/rl/demos.ts, format in lib/rl/demo-file.ts).
//   --config FILE --out FILE [--tasks a,b] [--episodes N] [--seed S] [--miniwob-url URL]: runs the task oracles in
//     the browser environment on training-range seeds and writes the solved episodes' steps with the config's prompts.
//   --from-episodes RUN/episodes.jsonl --out FILE [--config FILE]: the solved episodes a training run logged, with the
//     prompt settings of its train_config.yaml (or --config).
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type TrainConfig } from '../io/config.ts';
import { configOverrides } from './config-overrides.ts';
import { Tokenizer } from '../engine/tokenizer.ts';
import { demoHeader, promptSettings, tokenizerFingerprint, writeDemoFile } from '../rl/demo-file.ts';
import { demosFromEpisodes, formatDemoStats, readEpisodeRows, writeOracleDemos } from '../rl/demos.ts';
import { openEnvironment } from '../rl/environment.ts';
import { prepareModel } from '../rl/run.ts';
import { readRunConfig, RUN_CONFIG_FILE } from '../rl/run-checkpoint.ts';


export const summary = 'demonstrations for SFT: task oracles in the browser, or the solved episodes of a run';

const usage = `usage: lfm2-rl demos --config FILE --out FILE [--tasks a,b] [--episodes N] [--seed S] [--miniwob-url URL]
                     [--<config key> <value> ...]
       lfm2-rl demos --from-episodes RUN/episodes.jsonl --out FILE [--config FILE]

Writes one JSON line per env step of every solved episode (after a header naming the format and the prompt settings),
with the prompts the config's runs build and the canonical action as the completion. A run uses the file through its
sft section (sft.demos).
  --config FILE    training config: prompt settings, model tokenizer, action set, constrained_actions, max_env_steps
  --out FILE       demonstrations file to write
  --tasks a,b      tasks to demonstrate (default: the config's tasks)
  --episodes N     oracle episodes of every task (default: the config's sft.demo_episodes, with its
                   sft.demo_episodes_per_task overrides); failures are dropped
  --seed S         picks the env seeds, from the training range (default: the config's seed)
  --miniwob-url U  real MiniWoB++ pages instead of the built-in suite (same as --miniwob_url)
  --from-episodes F  convert a run's episodes.jsonl instead (its train_config.yaml gives the settings)`;

export async function run(argv: string[]): Promise<number> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      out: { type: 'string' },
      tasks: { type: 'string' },
      episodes: { type: 'string' },
      seed: { type: 'string' },
      'miniwob-url': { type: 'string' },
      'from-episodes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: false,
    tokens: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (typeof values.out !== 'string') throw new Error(`--out is required\n${usage}`);
  const log = (m: string) => console.error(m);
  const known = new Set(['config', 'out', 'tasks', 'episodes', 'seed', 'miniwob-url', 'from-episodes', 'help']);
  // Everything else is a config override, passed through in order (--tasks, --seed and --miniwob-url are config keys too).
  const overrides = configOverrides(tokens, known, ['tasks', 'seed', 'miniwob-url']);

  if (typeof values['from-episodes'] === 'string') {
    const path = values['from-episodes'];
    let config: TrainConfig;
    if (typeof values.config === 'string') config = loadConfig(values.config, overrides);
    else {
      const saved = readRunConfig(dirname(path));
      if (!saved) throw new Error(`no ${RUN_CONFIG_FILE} next to ${path}: pass --config with the run's config`);
      if (overrides.length > 0) throw new Error('config overrides need --config with --from-episodes');
      config = saved;
    }
    const modelDir = await prepareModel(config, log);
    const rows = readEpisodeRows(path, (m) => log(`warning: ${m}`));
    const prompt = promptSettings(config, tokenizerFingerprint(modelDir));
    const { records, stats } = demosFromEpisodes(rows, { system: prompt.system_prompt, actionSet: config.action_set, path });
    if (records.length === 0) throw new Error(`${path}: no solved episode to keep, nothing written\n${formatDemoStats(stats)}`);
    writeDemoFile(values.out, demoHeader(prompt, config.constrained_actions, 'episodes'), records);
    log(`demonstrations: ${records.length} steps from ${path} → ${values.out}\n${formatDemoStats(stats)}`);
    return 0;
  }

  if (typeof values.config !== 'string') throw new Error(`--config is required (or --from-episodes)\n${usage}`);
  const config = loadConfig(values.config, overrides);
  let episodes = config.sft.demo_episodes;
  if (values.episodes !== undefined) {
    const n = Number(values.episodes);
    if (typeof values.episodes !== 'string' || !Number.isInteger(n) || n < 1) throw new Error(`--episodes must be a whole number >= 1, got '${String(values.episodes)}'`);
    episodes = n;
  }
  // --episodes gives every task the same count; otherwise the config's per-task overrides apply.
  const episodesOf = values.episodes === undefined ? config.sft.demo_episodes_per_task : null;
  if (episodes === null) throw new Error(`--episodes is required (the config sets no sft.demo_episodes)\n${usage}`);
  const modelDir = await prepareModel(config, log);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const env = await openEnvironment(config, log);
  try {
    await writeOracleDemos(config, { path: values.out, tasks: config.tasks, episodesPerTask: episodes, episodesOf, seed: config.seed, modelDir, tokenizer, factory: env.factory, log });
  } finally {
    await env.close();
  }
  return 0;
}
