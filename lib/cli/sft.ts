// `lfm2-rl sft --config FILE [--key value ...]`: only the SFT stage of a run (the config's sft section): demonstrations
// found or generated, supervised fine-tuning, evaluation, and checkpoint-0 in the run folder. That checkpoint is a
// model folder (full fine-tuning) or PEFT adapter that `lfm2-rl eval --model` reads, and `lfm2-rl train --resume`
// continues it with GRPO exactly as an uninterrupted `train` run would.
import { join } from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../io/config.ts';
import { trainRun } from '../rl/run.ts';
import { parseTrainArgs } from './train.ts';

export const summary = 'supervised fine-tuning on demonstrations only (the sft stage of a train config)';

const usage = `usage: lfm2-rl sft --config FILE [--<key> <value> ...]

Runs the config's sft stage (sft.demos / sft.demo_episodes, sft.epochs, sft.learning_rate, ...) and writes
checkpoint-0 into the run folder; continue with GRPO with lfm2-rl train --config FILE --resume (same run_name).
  --config FILE     training config with an sft section (see configs/)
  --help            this text and every config key`;

export async function run(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args.help) {
    console.log(`${usage}\n\nconfig keys:\n${describeConfig()}`);
    return 0;
  }
  if (args.resume !== null) throw new ConfigError('command line: lfm2-rl sft does not resume (the stage always starts a run)');
  const config = loadConfig(args.configPath, args.overrides);
  const r = await trainRun(config, { configPath: args.configPath, sftOnly: true });
  if (r.stopped) return 130;
  const ckpt = r.checkpoints[0] ?? join(r.runDir, 'checkpoint-0');
  console.error(`next: lfm2-rl eval --model ${ckpt}\n      lfm2-rl train --config ${args.configPath ?? '<config>'} --resume ${ckpt}   (GRPO from the end of the stage)`);
  return 0;
}
