// Training checkpoints: runs/<name>/checkpoint-<step>/ holding the weights (HF model folder in full fine-tuning, PEFT
// adapter folder with LoRA), the tokenizer files, the engine's optimizer state (trainer_state.json +
// optimizer.safetensors), the loop state, the run's config (train_config.yaml) and, with async_rollouts, the round
// already collected for the next step (next_round.json, lib/rl/collected-round.ts). lib/io/checkpoint.ts writes the
// completion marker last, so a folder cut short by a crash is never resumed from.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { pruneCheckpoints, writeCheckpoint } from '../io/checkpoint.ts';
import { configToYaml, validateConfig, type TrainConfig } from '../io/config.ts';
import { NEXT_ROUND_FILE, parseRound, serializeRound } from './collected-round.ts';
import type { TrainEngine } from './engine-types.ts';
import { parseTaskHistory } from './task-sampler.ts';
import type { LoopState } from './trainer.ts';

/** Tokenizer and generation files copied from the model folder, so a checkpoint loads on its own. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json'] as const;
export const RUN_CONFIG_FILE = 'train_config.yaml';
const LOOP_FORMAT = 'lfm2-rl-loop';

export interface RunCheckpointOptions {
  runDir: string;
  engine: TrainEngine;
  /** Model folder the run started from (tokenizer files are copied from it). */
  modelDir: string;
  config: TrainConfig;
  /** save_total_limit. */
  limit: number | null;
  /** Checkpoints pruning must keep (the last one known to be good, the end of the SFT stage). */
  keep?: readonly string[];
  warn?: (msg: string) => void;
}

/**
 * Writes checkpoint-<state.step>. Weights or optimizer state holding NaN/Inf are refused (NonFiniteTensorsError, no
 * folder left behind): a complete checkpoint is always finite.
 */
export async function saveRunCheckpoint(state: LoopState, o: RunCheckpointOptions): Promise<string> {
  const dir = await writeCheckpoint(
    o.runDir,
    state.step,
    async (d) => {
      await o.engine.saveWeights(d);
      for (const f of TOKENIZER_FILES) if (existsSync(join(o.modelDir, f))) copyFileSync(join(o.modelDir, f), join(d, f));
      writeFileSync(join(d, RUN_CONFIG_FILE), configToYaml(o.config));
      const { nextRound, ...loop } = state;
      if (nextRound) writeFileSync(join(d, NEXT_ROUND_FILE), serializeRound(nextRound));
      await o.engine.saveState(d, JSON.stringify({ format: LOOP_FORMAT, version: 1, loop }));
    },
    { scanFinite: true },
  );
  pruneCheckpoints(o.runDir, o.limit, o.warn, o.keep ?? null);
  return dir;
}

/** Restores the engine from a checkpoint folder (already verified) and returns the loop state saved with it. */
export async function loadRunCheckpoint(dir: string, engine: TrainEngine): Promise<LoopState> {
  const extra = await engine.loadState(dir);
  let parsed: { format?: string; loop?: LoopState };
  try {
    parsed = JSON.parse(extra) as typeof parsed;
  } catch {
    throw new Error(`${dir}: trainer state carries no loop state (not an lfm2-rl training checkpoint)`);
  }
  const loop = parsed.loop;
  if (parsed.format !== LOOP_FORMAT || !loop || !Number.isInteger(loop.step) || loop.step < 0) {
    throw new Error(`${dir}: trainer state carries no valid loop state`);
  }
  const state: LoopState = { step: loop.step, numTokens: loop.numTokens ?? 0, skippedSteps: loop.skippedSteps ?? 0 };
  // Checkpoints written before per-task records existed have none: the run continues as if no task had been drawn.
  if (loop.taskHistory !== undefined) state.taskHistory = parseTaskHistory(loop.taskHistory, `${dir}: trainer state`);
  if (Number.isInteger(loop.sftSteps)) state.sftSteps = loop.sftSteps;
  const next = join(dir, NEXT_ROUND_FILE);
  if (existsSync(next)) state.nextRound = parseRound(readFileSync(next, 'utf8'), next);
  return state;
}

/** The config saved with a checkpoint, or null when the folder has none. */
export function readRunConfig(dir: string): TrainConfig | null {
  const p = join(dir, RUN_CONFIG_FILE);
  if (!existsSync(p)) return null;
  return validateConfig(parseYaml(readFileSync(p, 'utf8')) as TrainConfig, p);
}

/**
 * Keys whose change keeps a resumed run the same run (where it stops, how it logs and saves, which hosts serve the
 * pages: a task and seed give the same page on any server).
 */
const RESUME_FREE_KEYS = new Set(['max_steps', 'logging_steps', 'save_steps', 'save_total_limit', 'eval_steps', 'eval_episodes', 'log_completions', 'record_episodes', 'resume_from_checkpoint', 'threads', 'output_dir', 'divergence_rollback', 'env_url', 'env_server_timeout_s']);

/** Keys that differ between the checkpoint's config and the current one (other than RESUME_FREE_KEYS). */
export function resumeConfigChanges(saved: TrainConfig, current: TrainConfig): string[] {
  const flat = (c: TrainConfig) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(c)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [s, sv] of Object.entries(v)) out[`${k}.${s}`] = JSON.stringify(sv);
      else out[k] = JSON.stringify(v);
    }
    return out;
  };
  const a = flat(saved);
  const b = flat(current);
  return Object.keys({ ...a, ...b }).filter((k) => !RESUME_FREE_KEYS.has(k) && a[k] !== b[k]).sort();
}
