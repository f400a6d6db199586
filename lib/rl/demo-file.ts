// Demonstrations files (JSON Lines): a header line naming the format, its version and the prompt settings the records
// were built with, then one line per env step of a successful episode: the [system, user] messages the policy would
// have been shown, the canonical action it should answer with, and the step's reward. `lfm2-rl demos` writes them
// (lib/rl/demos.ts); the SFT stage reads them (lib/rl/sft-stage.ts). Reading checks everything before any training:
// a file made for another prompt format, a cut-off or malformed line, an unknown task or an action the run cannot
// produce is an error naming the file and line.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ActionParseError, formatAction, parseAction } from '../env/actions/parser.ts';
import { MINIWOB_TASKS } from '../env/miniwob.ts';
import { builtinTaskNames } from '../env/tasks/index.ts';
import type { TrainConfig } from '../io/config.ts';
import { defaultSystemPrompt } from './prompt.ts';

export const DEMOS_FORMAT = 'lfm2-rl-demos';
export const DEMOS_VERSION = 1;

/** Everything that shapes a prompt: records are only valid for a run whose settings equal these. */
export interface DemoPromptSettings {
  action_set: string[];
  /** The system message text itself (the config's system_prompt, or the built-in prompt for action_set). */
  system_prompt: string;
  default_goal: string;
  axtree_max_tokens: number;
  history_length: number;
  /** Pruned-HTML bids on StaticText lines (prompt_text_bids). */
  prompt_text_bids: boolean;
  /** Compact page structure (prompt_axtree_compact). */
  prompt_axtree_compact: boolean;
  /** The goal after the page structure (prompt_goal_last). */
  prompt_goal_last: boolean;
  /** Fingerprint of the tokenizer that counted the accessibility tree's tokens (tokenizerFingerprint). */
  tokenizer: string;
}

export interface DemoHeader {
  format: typeof DEMOS_FORMAT;
  version: number;
  prompt: DemoPromptSettings;
  /** Every action was checked against allowedActions() of its page (constrained_actions). */
  constrained_actions: boolean;
  /** 'oracle' (scripted solvers) or 'episodes' (successful episodes of a training run). */
  source: 'oracle' | 'episodes';
  created: string;
}

export interface DemoMessage {
  role: 'system' | 'user';
  content: string;
}

/** One env step of a successful episode. */
export interface DemoRecord {
  task: string;
  /** Env seed of the episode (training range). */
  seed: number;
  /** Episode index within the file. */
  episode: number;
  /** Env step within the episode (0-based, as the prompt's "Step N" is 1-based). */
  step: number;
  messages: [DemoMessage, DemoMessage];
  /** Canonical action text: what the policy should answer (formatAction(parseAction(…))). */
  completion: string;
  /** Env reward of this step (1 on the step that solved the task). */
  reward: number;
  done: boolean;
}

export class DemoFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoFileError';
  }
}

/** sha256 of the model folder's tokenizer.json (16 hex digits): the same tokenizer cuts trees at the same lines. */
export function tokenizerFingerprint(modelDir: string): string {
  const p = join(modelDir, 'tokenizer.json');
  if (!existsSync(p)) throw new Error(`no tokenizer.json in ${modelDir}`);
  return createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
}

/** The prompt settings of a config, with the tokenizer fingerprint of its model. */
export function promptSettings(c: TrainConfig, tokenizer: string): DemoPromptSettings {
  return {
    action_set: [...c.action_set],
    system_prompt: c.system_prompt ?? defaultSystemPrompt(c.action_set),
    default_goal: c.default_goal,
    axtree_max_tokens: c.axtree_max_tokens,
    history_length: c.history_length,
    prompt_text_bids: c.prompt_text_bids,
    prompt_axtree_compact: c.prompt_axtree_compact,
    prompt_goal_last: c.prompt_goal_last,
    tokenizer,
  };
}

export function demoHeader(prompt: DemoPromptSettings, constrained: boolean, source: DemoHeader['source'], now: Date = new Date()): DemoHeader {
  return { format: DEMOS_FORMAT, version: DEMOS_VERSION, prompt, constrained_actions: constrained, source, created: now.toISOString() };
}

/** Writes header + records atomically (a temporary file renamed into place), so a cut-short write never looks whole. */
export function writeDemoFile(path: string, header: DemoHeader, records: readonly DemoRecord[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, [header, ...records].map((r) => JSON.stringify(r) + '\n').join(''));
  renameSync(tmp, path);
}

/** Names of the prompt settings that differ, with both values. */
export function promptDifferences(file: DemoPromptSettings, run: DemoPromptSettings): string[] {
  const out: string[] = [];
  for (const k of Object.keys(run) as Array<keyof DemoPromptSettings>) {
    // Files written before these options existed have full trees and the goal at the top.
    const optional = k === 'prompt_axtree_compact' || k === 'prompt_goal_last';
    const a = JSON.stringify(optional && file[k] === undefined ? false : file[k]);
    const b = JSON.stringify(run[k]);
    if (a === b) continue;
    const short = (s: string) => (s === undefined ? 'missing' : s.length > 60 ? `${s.slice(0, 57)}...` : s);
    out.push(k === 'tokenizer' ? `tokenizer ${short(a)} in the file, ${short(b)} here (another model's tokenizer)` : `${k} ${short(a)} in the file, ${short(b)} here`);
  }
  return out;
}

export interface DemoExpectations {
  /** The run's prompt settings (promptSettings). */
  prompt: DemoPromptSettings;
  /** The run samples constrained actions: records must have been checked against the allowed actions. */
  constrained: boolean;
  /** Task names the environment knows (records naming others are errors); null = any well-formed name. */
  knownTasks: readonly string[] | null;
}

/** Task names the run's environment knows: the built-in suite, MiniWoB++'s list, or any name for a remote server. */
export function knownTasks(c: TrainConfig): readonly string[] | null {
  if (c.env_url !== null) return null;
  return c.miniwob_url !== null ? MINIWOB_TASKS : builtinTaskNames();
}

/** What records must satisfy for config `c` with the model folder's tokenizer. */
export function demoExpectations(c: TrainConfig, modelDir: string): DemoExpectations {
  return { prompt: promptSettings(c, tokenizerFingerprint(modelDir)), constrained: c.constrained_actions, knownTasks: knownTasks(c) };
}

export interface DemoFile {
  path: string;
  header: DemoHeader;
  records: DemoRecord[];
  /** 1-based line number of each record. */
  lines: number[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkHeader(path: string, v: unknown, exp: DemoExpectations): DemoHeader {
  const at = `${path}:1`;
  if (!isObject(v) || v.format !== DEMOS_FORMAT) {
    throw new DemoFileError(`${at}: not a demonstrations file (the first line must be the {"format": "${DEMOS_FORMAT}", ...} header that lfm2-rl demos writes)`);
  }
  if (v.version !== DEMOS_VERSION) throw new DemoFileError(`${at}: format version ${JSON.stringify(v.version)} is not supported (this build reads version ${DEMOS_VERSION})`);
  if (!isObject(v.prompt)) throw new DemoFileError(`${at}: header has no 'prompt' settings`);
  const diff = promptDifferences(v.prompt as unknown as DemoPromptSettings, exp.prompt);
  if (diff.length > 0) {
    throw new DemoFileError(`${path}: made for another prompt format (${diff.join('; ')}); regenerate it with lfm2-rl demos --config <this config>`);
  }
  if (typeof v.constrained_actions !== 'boolean') throw new DemoFileError(`${at}: header 'constrained_actions' must be true or false`);
  if (exp.constrained && !v.constrained_actions) {
    throw new DemoFileError(`${path}: made without constrained_actions, but this run constrains sampling to the allowed actions of each page; regenerate it with this config`);
  }
  if (v.source !== 'oracle' && v.source !== 'episodes') throw new DemoFileError(`${at}: header 'source' must be 'oracle' or 'episodes'`);
  return v as unknown as DemoHeader;
}

function checkRecord(where: string, v: unknown, header: DemoHeader, exp: DemoExpectations): DemoRecord {
  const fail = (msg: string): never => {
    throw new DemoFileError(`${where}: ${msg}`);
  };
  if (!isObject(v)) fail('a record must be a JSON object');
  const r = v as Record<string, unknown>;
  if (typeof r.task !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(r.task)) fail(`'task' must be a MiniWoB task name (got ${JSON.stringify(r.task)})`);
  const task = r.task as string;
  if (exp.knownTasks && !exp.knownTasks.includes(task)) fail(`unknown task '${task}' (known: ${exp.knownTasks.join(', ')})`);
  for (const k of ['seed', 'episode', 'step'] as const) {
    if (typeof r[k] !== 'number' || !Number.isInteger(r[k]) || (r[k] as number) < 0) fail(`'${k}' must be a whole number >= 0 (got ${JSON.stringify(r[k])})`);
  }
  if (typeof r.reward !== 'number' || !Number.isFinite(r.reward)) fail(`'reward' must be a number (got ${JSON.stringify(r.reward)})`);
  if (typeof r.done !== 'boolean') fail(`'done' must be true or false (got ${JSON.stringify(r.done)})`);
  const m = r.messages;
  if (!Array.isArray(m) || m.length !== 2 || !m.every((x) => isObject(x) && typeof x.content === 'string') || m[0].role !== 'system' || m[1].role !== 'user') {
    fail("'messages' must be [{role: 'system', content}, {role: 'user', content}] with string contents");
  }
  const msgs = m as [DemoMessage, DemoMessage];
  if (msgs[0].content !== header.prompt.system_prompt) fail("the system message differs from the header's system_prompt");
  if (!msgs[1].content.startsWith(`Step ${(r.step as number) + 1}\n`)) fail(`the user message does not start with "Step ${(r.step as number) + 1}" (step ${r.step as number})`);
  if (typeof r.completion !== 'string' || r.completion === '') fail(`'completion' must be a non-empty string (got ${JSON.stringify(r.completion)})`);
  const completion = r.completion as string;
  let canonical = '';
  let name = '';
  try {
    const a = parseAction(completion);
    canonical = formatAction(a);
    name = a.name;
  } catch (e) {
    fail(`completion ${JSON.stringify(completion)} is not an action (${e instanceof ActionParseError ? e.errorText : String(e)})`);
  }
  if (canonical !== completion) fail(`completion ${JSON.stringify(completion)} is not in canonical form (${JSON.stringify(canonical)}: the form the policy samples)`);
  if (!exp.prompt.action_set.includes(name)) fail(`completion ${JSON.stringify(completion)} uses '${name}', which is not in action_set (${exp.prompt.action_set.join(', ')})`);
  return {
    task,
    seed: r.seed as number,
    episode: r.episode as number,
    step: r.step as number,
    messages: [{ role: 'system', content: msgs[0].content }, { role: 'user', content: msgs[1].content }],
    completion,
    reward: r.reward as number,
    done: r.done as boolean,
  };
}

/**
 * Reads and checks a demonstrations file against the run's expectations. Every problem is a DemoFileError naming the
 * file and, for a line's problem, its number: missing or empty file, no or foreign header, another prompt format, a
 * last line cut short, malformed lines, bad fields, unknown tasks, non-canonical or unavailable actions, no records.
 */
export function readDemoFile(path: string, exp: DemoExpectations): DemoFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DemoFileError(`cannot read demonstrations ${path}: ${(e as Error).message}`);
  }
  if (text.trim() === '') throw new DemoFileError(`${path}: empty file (expected a '${DEMOS_FORMAT}' header line, then one demonstration per line)`);
  const lines = text.split('\n');
  // Every line a writer produces ends with '\n': text after the last one is a line cut short.
  const cutLine = text.endsWith('\n') ? -1 : lines.length;
  if (text.endsWith('\n')) lines.pop();
  const parse = (i: number): unknown => {
    try {
      return JSON.parse(lines[i]);
    } catch (e) {
      if (i + 1 === cutLine) throw new DemoFileError(`${path}:${i + 1}: truncated last line (the file was cut off, e.g. while it was being written or copied)`);
      throw new DemoFileError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  };
  const header = checkHeader(path, parse(0), exp);
  const records: DemoRecord[] = [];
  const recordLines: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') {
      if (i + 1 === cutLine) continue;
      throw new DemoFileError(`${path}:${i + 1}: empty line`);
    }
    records.push(checkRecord(`${path}:${i + 1}`, parse(i), header, exp));
    recordLines.push(i + 1);
  }
  if (records.length === 0) throw new DemoFileError(`${path}: no demonstrations (only the header line)`);
  return { path, header, records, lines: recordLines };
}
