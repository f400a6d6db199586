// `lfm2-rl train --config FILE [--resume [DIR|latest]] [--key value ...]`: GRPO training. Every config key can be
// overridden on the command line (`--learning_rate 1e-5`, `--lora.r 16`); the merged config is validated before any
// work starts. `--resume` alone continues from the newest complete checkpoint of the run.
import { ConfigError, describeConfig, loadConfig } from '../io/config.ts';
import { trainRun } from '../rl/run.ts';

export const summary = 'train a model with GRPO on browser tasks (make run config=...)';

const usage = `usage: lfm2-rl train [--config FILE] [--resume [DIR|latest]] [--<key> <value> ...]

Reads the YAML config, applies --key value overrides, validates everything, then trains.
  --config FILE     training config (see configs/)
  --resume [DIR]    continue from checkpoint DIR, or from the newest complete checkpoint of the run when DIR is
                    omitted or 'latest' (same as --resume_from_checkpoint latest)
  --help            this text and every config key`;

/** Splits train's own flags from config overrides. */
export function parseTrainArgs(argv: readonly string[]): { configPath: string | null; resume: string | null; overrides: string[]; help: boolean } {
  let configPath: string | null = null;
  let resume: string | null = null;
  let help = false;
  const overrides: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--config' || a.startsWith('--config=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v || v.startsWith('--')) throw new ConfigError('command line: --config needs a file');
      configPath = v;
    } else if (a === '--resume' || a.startsWith('--resume=')) {
      if (a.includes('=')) resume = a.slice(a.indexOf('=') + 1);
      else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) resume = argv[++i];
      else resume = 'latest';
    } else overrides.push(a);
  }
  return { configPath, resume, overrides, help };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args.help) {
    console.log(`${usage}\n\nconfig keys:\n${describeConfig()}`);
    return 0;
  }
  const overrides = [...args.overrides];
  if (args.resume !== null) overrides.push('--resume_from_checkpoint', args.resume);
  const config = loadConfig(args.configPath, overrides);
  const r = await trainRun(config, { configPath: args.configPath });
  return r.stopped ? 130 : 0;
}
