// `lfm2-rl train --config FILE [--resume [DIR|latest]] [--key value ...]`: GRPO training. Every config key can be
// overridden on the command line (`--learning_rate 1e-5`, `--lora.r 16`); the merged config is validated before any
// work starts. `--resume` alone continues from the newest complete checkpoint of the run.
import { ConfigError, describeConfig, loadConfig } from '../io/config.ts';
import { DIVERGED_EXIT_CODE, TrainingDivergedError } from '../rl/divergence.ts';
import { trainRun } from '../rl/run.ts';

export const summary = 'train a model with GRPO on browser tasks (make run config=...)';

const usage = `usage: lfm2-rl train [--config FILE] [--resume [DIR|latest]] [--<key> <value> ...]

Reads the YAML config, applies --key value overrides, validates everything, then trains.
  --config FILE     training config (see configs/)
  --resume [DIR]    continue from checkpoint DIR, or from the newest complete checkpoint of the run when DIR is
                    omitted or 'latest' (same as --resume_from_checkpoint latest); the checkpoint's files must
                    match their SHA-256 hashes (with 'latest', one that does not is skipped with a warning)
  --help            this text and every config key

exit status:
  0     finished (max_steps reached)
  1     error (bad config, missing model, ...)
  ${DIVERGED_EXIT_CODE}     training diverged: the policy produced NaN/Inf; a checkpoint of the last finite state was
        written (the message names it) and --resume continues from it
  130   stopped by Ctrl-C after writing a checkpoint`;

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
  try {
    const r = await trainRun(config, { configPath: args.configPath });
    return r.stopped ? 130 : 0;
  } catch (e) {
    const code = exitCodeOf(e);
    if (code === null) throw e;
    console.error(`lfm2-rl: ${(e as Error).message}`);
    return code;
  }
}

/** The documented exit status of a run that ended with `e`, or null for errors that exit with 1. */
export function exitCodeOf(e: unknown): number | null {
  return e instanceof TrainingDivergedError ? DIVERGED_EXIT_CODE : null;
}
