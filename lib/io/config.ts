// Training configuration: one flat schema with TRL GRPOConfig / HF TrainingArguments names where they exist, plus the
// environment, model, `lora.*` (PEFT names) and `init_model.*` keys. Every key has a type, a default and help text.
// YAML files are read with `yaml`; command-line overrides (`--key value`, `--lora.r 16`) are applied on top, and the
// result is validated as a whole before any work starts. Errors name the key and where it came from.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ACTION_SIGNATURES } from '../env/actions/signatures.ts';
import { builtinTaskNames } from '../env/tasks/index.ts';
import { PRESET_NAMES, type PresetName } from '../engine/presets.ts';
import { parseServerList, ServerListError } from './server-list.ts';
import { joinTaskWeights, parseTaskList, type TaskList } from './task-list.ts';

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export type ScaleRewards = 'group' | 'batch' | 'none';
export type LrSchedulerType = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
export type TaskSampling = 'uniform' | 'weighted' | 'curriculum';

export interface LoraConfig {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  use_rslora: boolean;
}

export interface InitModelConfig {
  preset: PresetName | null;
  seed: number;
  dtype: 'bf16' | 'f32';
}

/** Supervised fine-tuning on demonstrations before GRPO (lib/rl/sft-stage.ts); off while demos and demo_episodes are null. */
export interface SftConfig {
  demos: string | null;
  demo_episodes: number | null;
  /** Overrides of demo_episodes for some tasks (task → episodes). */
  demo_episodes_per_task: Record<string, number> | null;
  epochs: number;
  learning_rate: number;
  lr_scheduler_type: LrSchedulerType;
  warmup_steps: number;
  batch_size: number;
  completion_only_loss: boolean;
  prompt_loss_weight: number;
  eval: boolean;
  eval_epochs: number;
}

export interface TrainConfig {
  // model
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  precision: 'exact' | 'fast';
  weights_dtype: 'auto' | 'bf16' | 'f32';
  threads: number;
  gradient_checkpointing: boolean;
  use_peft: boolean;
  lora: LoraConfig;
  init_model: InitModelConfig;
  sft: SftConfig;
  // run
  output_dir: string;
  run_name: string | null;
  seed: number;
  resume_from_checkpoint: string | null;
  logging_steps: number;
  save_steps: number;
  save_total_limit: number | null;
  eval_steps: number;
  eval_episodes: number;
  log_completions: boolean;
  record_episodes: number;
  divergence_rollback: boolean;
  // optimisation
  learning_rate: number;
  lr_scheduler_type: LrSchedulerType;
  warmup_steps: number;
  max_steps: number;
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  max_grad_norm: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  generation_batch_size: number | null;
  micro_batch_tokens: number;
  // GRPO
  num_generations: number;
  max_completion_length: number;
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  repetition_penalty: number;
  beta: number;
  epsilon: number;
  epsilon_high: number | null;
  num_iterations: number;
  scale_rewards: ScaleRewards;
  loss_type: LossType;
  mask_truncated_completions: boolean;
  async_rollouts: boolean;
  // environment
  /** Task names in the order written (the `tasks` key; its weights, if any, are in task_weights). */
  tasks: string[];
  /** name → relative weight from the mapping form of `tasks`; null when the tasks carry no weights. */
  task_weights: Record<string, number> | null;
  task_sampling: TaskSampling | null;
  curriculum_window: number;
  curriculum_floor: number;
  max_env_steps: number;
  miniwob_url: string | null;
  /** Remote OpenEnv servers, as written (a file given as '@FILE' is read when the config loads); null = local browser. */
  env_url: string[] | null;
  env_server_timeout_s: number;
  env_step_timeout_s: number;
  action_set: string[];
  constrained_actions: boolean;
  system_prompt: string | null;
  default_goal: string;
  axtree_max_tokens: number;
  history_length: number;
  prompt_text_bids: boolean;
  prompt_axtree_compact: boolean;
  prompt_goal_last: boolean;
  invalid_action_penalty: number;
  step_penalty: number;
}

type Kind = 'int' | 'float' | 'bool' | 'string' | 'string[]' | 'enum' | 'tasks' | 'servers' | 'task-counts';

interface FieldSpec {
  kind: Kind;
  default: unknown;
  help: string;
  nullable?: boolean;
  choices?: readonly string[];
  /** Smallest / largest allowed value (numbers). */
  min?: number;
  max?: number;
  /** Strict bounds: value must be > min / < max. */
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

/** LFM2's real linear module names (docs/lfm2.md §2): attention q/k/v/out, short-conv in/out, SwiGLU w1/w2/w3. */
export const LFM2_LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'] as const;
/** Llama names users copy from other configs → what they mean in LFM2. */
const LLAMA_MODULE_HINTS: Record<string, string> = {
  o_proj: 'out_proj (attention: self_attn.out_proj)',
  gate_proj: 'w1',
  up_proj: 'w3',
  down_proj: 'w2',
};

/**
 * Seeds are integers in [0, 2^32): the seed functions (lib/rl/seeds.ts mixSeed, the weight initialiser, the native
 * LoRA init) take them as 32-bit words, so a larger or negative one would silently equal another seed.
 */
export const SEED_LIMIT = 2 ** 32;

// The schema. Order = the order `describeConfig` prints.
export const CONFIG_SCHEMA: Readonly<Record<string, FieldSpec>> = {
  model: { kind: 'string', default: 'LiquidAI/LFM2-350M', help: 'model folder (HF layout) or Hugging Face id, e.g. LiquidAI/LFM2-350M' },
  device: { kind: 'enum', choices: ['auto', 'cpu', 'cuda'], default: 'auto', help: 'compute device; auto = cuda when available, else cpu' },
  precision: { kind: 'enum', choices: ['exact', 'fast'], default: 'exact', help: "activation precision: exact = FP32 activations; fast = BF16 rounding in GEMMs (sampling and scoring always use the same mode)" },
  weights_dtype: { kind: 'enum', choices: ['auto', 'bf16', 'f32'], default: 'auto', help: "storage dtype of the weights: auto = the checkpoint's" },
  threads: { kind: 'int', min: 0, default: 0, help: 'CPU threads; 0 = all cores' },
  gradient_checkpointing: { kind: 'bool', default: true, help: 'recompute activations in backward to save memory (TRL default true)' },
  use_peft: { kind: 'bool', default: false, help: 'train a LoRA adapter (lora.*) instead of all weights; the frozen base is the KL reference' },
  'lora.r': { kind: 'int', min: 1, default: 8, help: 'LoRA rank' },
  'lora.lora_alpha': { kind: 'float', min: 0, minExclusive: true, default: 16, help: 'LoRA scaling numerator: scale = lora_alpha / r (or / sqrt(r) with use_rslora)' },
  'lora.lora_dropout': { kind: 'float', min: 0, max: 1, maxExclusive: true, default: 0, help: 'dropout on the LoRA input path' },
  'lora.target_modules': {
    kind: 'string[]',
    default: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'],
    help: "LFM2 linear modules to adapt (suffix match like PEFT): q_proj k_proj v_proj out_proj in_proj w1 w2 w3; 'out_proj' hits attention AND conv, use 'self_attn.out_proj' or 'conv.out_proj' for one",
  },
  'lora.use_rslora': { kind: 'bool', default: false, help: 'rank-stabilised scaling lora_alpha / sqrt(r)' },
  'init_model.preset': { kind: 'enum', choices: [...PRESET_NAMES], nullable: true, default: null, help: 'when set and `model` is a missing folder, create a random-weight model there from this preset (offline runs)' },
  'init_model.seed': { kind: 'int', min: 0, max: SEED_LIMIT, maxExclusive: true, default: 0, help: 'weight seed of the created model, in [0, 2^32)' },
  'init_model.dtype': { kind: 'enum', choices: ['bf16', 'f32'], default: 'f32', help: 'weight dtype of the created model' },
  'sft.demos': { kind: 'string', nullable: true, default: null, help: 'demonstrations file (lfm2-rl demos) for a supervised stage before GRPO; when the file is missing and sft.demo_episodes is set it is generated there (null: <run>/demos.jsonl)' },
  'sft.demo_episodes': { kind: 'int', min: 1, nullable: true, default: null, help: 'oracle episodes per task to generate when the demonstrations file is missing (successful ones are kept); null = do not generate' },
  'sft.demo_episodes_per_task': { kind: 'task-counts', nullable: true, default: null, help: "oracle episodes of some tasks instead of demo_episodes, as task: count (YAML map, or 'a=100,b=20' on the command line): more for tasks that need many distinct pages to generalise, fewer for long easy ones" },
  'sft.epochs': { kind: 'int', min: 1, default: 3, help: 'passes over the demonstrations' },
  'sft.learning_rate': { kind: 'float', min: 0, minExclusive: true, default: 2e-5, help: "peak learning rate of the SFT stage (its own AdamW; GRPO starts with fresh moments)" },
  'sft.lr_scheduler_type': { kind: 'enum', choices: ['linear', 'cosine', 'constant', 'constant_with_warmup'], default: 'linear', help: 'learning-rate schedule of the SFT stage after warmup' },
  'sft.warmup_steps': { kind: 'int', min: 0, default: 0, help: 'linear warmup steps of the SFT stage' },
  'sft.batch_size': { kind: 'int', min: 1, default: 8, help: 'demonstration steps (samples) per SFT optimizer step' },
  'sft.completion_only_loss': { kind: 'bool', default: true, help: "cross-entropy on the action tokens only (TRL's completion_only_loss); false = on every token after the first, prompt included, which also teaches the model to read pages and goals (copying a goal's words from the page is what the lookup tasks need)" },
  'sft.prompt_loss_weight': { kind: 'float', min: 0, max: 1, default: 1, help: "with completion_only_loss false: weight of each prompt token's cross-entropy relative to an action token's (the loss is the weighted mean). 1 scores every token alike; below 1 keeps the reading signal while the few action tokens of a long page still carry a real share of the gradient" },
  'sft.eval_epochs': { kind: 'int', min: 0, default: 0, help: 'also evaluate (as sft.eval does) after every N-th epoch of the stage, for a learning curve; 0 = only at the end' },
  'sft.eval': { kind: 'bool', default: true, help: 'evaluate on held-out seeds after the SFT stage (eval_episodes per task)' },

  output_dir: { kind: 'string', default: 'runs', help: 'folder holding run folders: <output_dir>/<run_name>/' },
  run_name: { kind: 'string', nullable: true, default: null, help: 'run folder name; null = <model>-<first task>-<YYYYmmdd-HHMMSS>' },
  seed: { kind: 'int', min: 0, max: SEED_LIMIT, maxExclusive: true, default: 42, help: 'seed of task sampling, env seeds, sampling and init (actually used everywhere), in [0, 2^32)' },
  resume_from_checkpoint: { kind: 'string', nullable: true, default: null, help: "checkpoint folder to resume from, or 'latest' = newest complete checkpoint of this run" },
  logging_steps: { kind: 'int', min: 1, default: 1, help: 'write metrics every N optimizer steps' },
  save_steps: { kind: 'int', min: 0, default: 25, help: 'checkpoint every N optimizer steps (0 = only at the end)' },
  save_total_limit: { kind: 'int', min: 1, nullable: true, default: 3, help: 'keep at most N checkpoints (oldest pruned; the SFT stage\'s checkpoint-0 and a divergence fallback are always kept); null = keep all' },
  eval_steps: { kind: 'int', min: 0, default: 25, help: 'evaluate on held-out seeds every N optimizer steps (0 = never during training)' },
  eval_episodes: { kind: 'int', min: 1, default: 16, help: 'evaluation episodes per task' },
  log_completions: { kind: 'bool', default: false, help: 'print sample completions at each logging step' },
  record_episodes: {
    kind: 'int',
    min: 0,
    default: 0,
    help: 'every N optimizer steps record episodes with screenshots into <run>/replays/step-<S>/ for the report\'s viewer: the first member of each group of the rollout round feeding step S, and the evaluation if one runs at S (step 0 included); 0 = off',
  },
  divergence_rollback: {
    kind: 'bool',
    default: true,
    help: 'keep the trainer state of the newest rollout round with finite log-probs, so a run that diverges checkpoints it (one optimizer-state write per round: 12 bytes per trainable parameter); false = fall back to the newest checkpoint',
  },

  learning_rate: { kind: 'float', min: 0, minExclusive: true, default: 1e-6, help: 'peak AdamW learning rate (TRL default 1e-6)' },
  lr_scheduler_type: { kind: 'enum', choices: ['linear', 'cosine', 'constant', 'constant_with_warmup'], default: 'linear', help: 'learning-rate schedule after warmup' },
  warmup_steps: { kind: 'int', min: 0, default: 0, help: 'linear warmup steps' },
  max_steps: { kind: 'int', min: 1, default: 100, help: 'optimizer steps of the run (NOT env steps per episode: that is max_env_steps)' },
  weight_decay: { kind: 'float', min: 0, default: 0, help: 'AdamW decoupled weight decay' },
  adam_beta1: { kind: 'float', min: 0, max: 1, maxExclusive: true, default: 0.9, help: 'AdamW beta1' },
  adam_beta2: { kind: 'float', min: 0, max: 1, maxExclusive: true, default: 0.999, help: 'AdamW beta2' },
  adam_epsilon: { kind: 'float', min: 0, minExclusive: true, default: 1e-8, help: 'AdamW epsilon' },
  max_grad_norm: { kind: 'float', min: 0, default: 1.0, help: 'global gradient-norm clip (0 = no clipping)' },
  per_device_train_batch_size: { kind: 'int', min: 1, default: 4, help: 'episodes per micro-step (TRL counts completions; here one completion = one episode, all its env steps)' },
  gradient_accumulation_steps: { kind: 'int', min: 1, default: 1, help: 'micro-steps per optimizer step: episodes per update = per_device_train_batch_size × this' },
  generation_batch_size: { kind: 'int', min: 1, nullable: true, default: null, help: 'episodes per rollout round (multiple of num_generations); null = episodes per update, i.e. one update per round' },
  micro_batch_tokens: { kind: 'int', min: 16, default: 4096, help: 'token budget of one ragged forward/backward micro-batch (samples are packed up to it)' },

  num_generations: { kind: 'int', min: 2, default: 4, help: 'group size G: episodes sharing one task and seed' },
  max_completion_length: { kind: 'int', min: 1, default: 32, help: 'max new tokens per env step' },
  temperature: { kind: 'float', min: 0, minExclusive: true, default: 1.0, help: 'sampling temperature (> 0; GRPO needs diverse groups)' },
  top_p: { kind: 'float', min: 0, max: 1, minExclusive: true, default: 1.0, help: 'nucleus sampling mass (1 = off)' },
  top_k: { kind: 'int', min: 0, default: 0, help: 'top-k sampling (0 = off)' },
  min_p: { kind: 'float', min: 0, max: 1, maxExclusive: true, default: 0, help: 'min-p sampling (0 = off)' },
  repetition_penalty: { kind: 'float', min: 0, minExclusive: true, default: 1.0, help: 'repetition penalty (1 = off)' },
  beta: { kind: 'float', min: 0, default: 0, help: 'KL coefficient against the reference policy (0 = no reference pass)' },
  epsilon: { kind: 'float', min: 0, default: 0.2, help: 'lower clip range: ratio clipped at 1 - epsilon' },
  epsilon_high: { kind: 'float', min: 0, nullable: true, default: null, help: 'upper clip range (null = epsilon)' },
  num_iterations: { kind: 'int', min: 1, default: 1, help: 'updates per rollout round (μ); > 1 reuses samples with importance ratios' },
  scale_rewards: { kind: 'enum', choices: ['group', 'batch', 'none'], default: 'group', help: 'advantage scaling: ÷ (group std + 1e-4), ÷ batch std, or none' },
  loss_type: { kind: 'enum', choices: ['grpo', 'bnpo', 'dr_grpo', 'dapo'], default: 'dapo', help: 'token aggregation of the loss (TRL default dapo)' },
  mask_truncated_completions: { kind: 'bool', default: false, help: 'exclude completions that hit max_completion_length without a stop token' },
  async_rollouts: {
    kind: 'bool',
    default: false,
    help: "collect the next rollout round while the last optimizer step of the current one trains: its episodes are sampled with the weights before that step (one step stale, corrected by the importance ratio against the sampling log-probs), and its browser work runs beside the training; false = every round is sampled with the current weights",
  },

  tasks: {
    kind: 'tasks',
    default: ['click-test'],
    help: 'MiniWoB tasks to train on: a list [a, b] (a,b on the command line), or relative weights {a: 1, b: 3} (a:1,b:3 on the command line) for weighted or curriculum sampling',
  },
  task_sampling: {
    kind: 'enum',
    choices: ['uniform', 'weighted', 'curriculum'],
    nullable: true,
    default: null,
    help: "how each group's task is drawn: uniform; weighted (by the weights in 'tasks'); curriculum (favours tasks whose recent groups still have reward variance, times the weights if given); null = weighted when 'tasks' has weights, else uniform",
  },
  curriculum_window: { kind: 'int', min: 1, default: 8, help: "curriculum: a task's score is the share of its last N groups whose rewards varied (groups not yet seen count as varied)" },
  curriculum_floor: { kind: 'float', min: 0, minExclusive: true, default: 0.2, help: "curriculum: added to every task's score before weighting, so a task with no reward variance keeps floor / (1 + floor) of a fully varied task's share" },
  max_env_steps: { kind: 'int', min: 1, default: 10, help: 'env steps per episode before truncation' },
  miniwob_url: { kind: 'string', nullable: true, default: null, help: 'base URL of a real MiniWoB++ checkout; null = built-in task suite' },
  env_url: {
    kind: 'servers',
    nullable: true,
    default: null,
    help: "remote OpenEnv BrowserGym servers: a URL (http[s]://host:port, ws[s]://host:port or the ws://host:port/ws that serve-env prints), a list of them (a,b on the command line), or '@FILE' with one URL per line (quote it in YAML: '@servers.txt'); episodes are spread by each server's free capacity; null = local browser pool",
  },
  env_server_timeout_s: {
    kind: 'float',
    min: 0.001,
    default: 60,
    help: "deadline of each call to a remote env server (connect, reset, step); a server that misses it, refuses connections or drops one is taken out of the pool and the round replayed on the others; keep it above the servers' --step-timeout",
  },
  env_step_timeout_s: { kind: 'float', min: 0.001, default: 30, help: 'deadline of each local browser step (a page that stops responding is replaced and its episode truncated); a remote server has its own --step-timeout' },
  action_set: { kind: 'string[]', default: ['click', 'fill', 'press', 'select_option', 'scroll', 'noop'], help: 'BrowserGym actions offered in the system prompt (and allowed under constrained_actions)' },
  constrained_actions: { kind: 'bool', default: false, help: 'mask sampling so every completion is a valid action on a bid of the current page' },
  system_prompt: { kind: 'string', nullable: true, default: null, help: 'system prompt text; null = built-in prompt listing action_set with syntax' },
  default_goal: { kind: 'string', default: 'Complete the web task successfully.', help: 'goal shown when the page gives none' },
  axtree_max_tokens: { kind: 'int', min: 16, default: 1024, help: 'token budget of the accessibility tree in each prompt (longer trees are cut with a marker)' },
  history_length: { kind: 'int', min: 0, default: 3, help: 'previous actions (with errors) shown in each prompt (0 = none, as in the reference pipeline)' },
  prompt_axtree_compact: { kind: 'bool', default: false, help: 'drop the page-structure lines no action can name whose text is empty or shown elsewhere (InlineTextBox runs, labels repeated as StaticText): about a third of the tokens on MiniWoB pages' },
  prompt_goal_last: { kind: 'bool', default: false, help: 'the goal after the page structure, just before the question, instead of at the top: a model that looks the goal up in the page then finds it next to where it answers' },
  prompt_text_bids: { kind: 'bool', default: false, help: "put the pruned HTML's bids on bid-less StaticText lines of the page structure (text-only elements such as MiniWoB's click-link spans have no bid in BrowserGym's tree); the environment then extracts pruned HTML every step" },
  invalid_action_penalty: { kind: 'float', min: 0, default: 0, help: 'subtracted from the episode reward per unparseable/failed action (0 = off)' },
  step_penalty: { kind: 'float', min: 0, default: 0, help: 'subtracted from the episode reward per env step taken (0 = off)' },
};

const GROUPS = ['lora', 'init_model', 'sft'] as const;

/** Reference-pipeline / other-tool key names → what to use here. */
const KEY_HINTS: Record<string, string> = {
  dataset_size: "use 'max_steps' (optimizer steps)",
  model_name: "use 'model'",
  browsergym_url: "use 'env_url'",
  max_seq_length: 'not needed: prompts are cut by axtree_max_tokens',
  use_vllm: 'not needed: the sampler shares the trainer weights in-process',
  vllm_mode: 'not needed: the sampler shares the trainer weights in-process',
  vllm_gpu_memory_utilization: 'not needed: no separate inference engine',
  lora_r: "use 'lora.r'",
  lora_alpha: "use 'lora.lora_alpha'",
  lora_dropout: "use 'lora.lora_dropout'",
  lora_target_modules: "use 'lora.target_modules'",
  use_rslora: "use 'lora.use_rslora'",
  lora_bias: "not supported: LFM2 has no biases",
  max_prompt_length: "use 'axtree_max_tokens'",
  push_to_hf: 'not supported: upload checkpoints with `huggingface-cli upload`',
  wandb_enabled: 'not supported: metrics go to <run>/metrics.jsonl and report.html',
  num_train_epochs: "use 'max_steps'",
  'sft.num_train_epochs': "use 'sft.epochs'",
  'sft.per_device_train_batch_size': "use 'sft.batch_size' (samples per optimizer step)",
  'sft.warmup_ratio': "use 'sft.warmup_steps'",
  bf16: "use 'precision' / 'weights_dtype'",
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** Own keys only: `constructor`, `__proto__` and friends are inherited by every object and name no setting. */
const isKey = (k: string) => Object.hasOwn(CONFIG_SCHEMA, k);
const hintFor = (k: string) => (Object.hasOwn(KEY_HINTS, k) ? KEY_HINTS[k] : undefined);

function unknownKeyMessage(key: string): string {
  const hint = hintFor(key) ?? hintFor(key.split('.').pop() ?? '');
  if (hint) return `unknown key '${key}': ${hint}`;
  let best = '';
  let bestD = Infinity;
  for (const k of Object.keys(CONFIG_SCHEMA)) {
    const dist = editDistance(key, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 4))
    ? `unknown key '${key}' (did you mean '${best}'?)`
    : `unknown key '${key}' (run with --help to list keys)`;
}

/** A value as the user wrote it: YAML spellings for NaN and infinities, integers in full. */
function showValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf';
  if (typeof value === 'bigint') return String(value);
  const plain = (x: unknown) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : String(x)) : x);
  return JSON.stringify(value, (_k, x: unknown) => plain(x)) ?? String(value);
}

/** Command-line spellings of NaN and the infinities (JS, YAML and Python ones). */
const NON_FINITE_TEXT = /^[+-]?\.?(nan|inf|infinity)$/i;

/**
 * A number field's value as a JS number, or why it is not one. Integers come from YAML as BigInt (loadConfig parses
 * with intAsBigInt) and from the command line as text, so a literal that a double would round (beyond 2^53, e.g.
 * 99999999999999999999) is caught instead of being stored rounded.
 */
function toNumber(v: unknown, fromText: boolean, kind: 'int' | 'float'): number | string {
  const notNumber = `must be a ${kind === 'int' ? 'whole number' : 'number'}`;
  const inexact = (n: number) => `cannot be stored exactly (it would become ${n}; integers are exact up to 2^53)`;
  const exactInt = (big: bigint, n: number) => Number.isFinite(n) && BigInt(n) === big;
  if (typeof v === 'bigint') {
    const n = Number(v);
    return exactInt(v, n) ? n : inexact(n);
  }
  if (fromText && typeof v === 'string') {
    const t = v.trim();
    if (NON_FINITE_TEXT.test(t)) return 'must be a finite number';
    const n = t === '' ? NaN : Number(t);
    if (Number.isNaN(n)) return notNumber;
    if (/^[+-]?\d+$/.test(t) && !exactInt(BigInt(t), n)) return inexact(n);
    return n;
  }
  return typeof v === 'number' ? v : notNumber;
}

/** Checks one value against its field; returns it (strings from the command line are converted first). */
function checkValue(key: string, spec: FieldSpec, value: unknown, where: string, fromText: boolean): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`${where}: '${key}' ${why} (got ${showValue(value)})`);
  };
  if (value === null || (fromText && (value === 'null' || value === 'none' || value === 'None'))) {
    if (spec.nullable) return null;
    fail('cannot be null');
  }
  let v = value;
  switch (spec.kind) {
    case 'int':
    case 'float': {
      const n = toNumber(v, fromText, spec.kind);
      if (typeof n === 'string') return fail(n);
      if (!Number.isFinite(n)) fail('must be a finite number');
      if (spec.kind === 'int' && !Number.isInteger(n)) fail('must be a whole number');
      if (spec.min !== undefined && (spec.minExclusive ? n <= spec.min : n < spec.min)) fail(`must be ${spec.minExclusive ? '>' : '>='} ${spec.min}`);
      if (spec.max !== undefined && (spec.maxExclusive ? n >= spec.max : n > spec.max)) fail(`must be ${spec.maxExclusive ? '<' : '<='} ${spec.max}`);
      if (spec.kind === 'int' && !Number.isSafeInteger(n)) fail('must be a whole number below 2^53 in size (larger ones are not stored exactly)');
      return n;
    }
    case 'bool':
      if (fromText && typeof v === 'string') {
        if (v === 'true' || v === '1' || v === 'yes') return true;
        if (v === 'false' || v === '0' || v === 'no') return false;
      }
      if (typeof v !== 'boolean') fail('must be true or false');
      return v;
    case 'string':
      if (typeof v !== 'string') fail('must be a string');
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.choices!.includes(v)) fail(`must be one of ${spec.choices!.join(', ')}`);
      return v;
    case 'servers':
      try {
        return parseServerList(v);
      } catch (e) {
        if (e instanceof ServerListError) throw new ConfigError(`${where}: '${key}': ${e.message}`);
        throw e;
      }
    case 'tasks': {
      const t = parseTaskList(v);
      if (typeof t === 'string') throw new ConfigError(`${where}: 'tasks' ${t}`);
      return t;
    }
    case 'task-counts': {
      // A YAML map, or 'task=count,…' from the command line.
      if (typeof v === 'string') {
        const entries = v.split(',').map((e) => e.trim()).filter((e) => e !== '');
        const bad = entries.find((e) => !/^[^=\s]+=[^=\s]+$/.test(e));
        if (bad !== undefined || entries.length === 0) fail("must be task=count pairs separated by commas (e.g. 'click-test=50,book-flight=200')");
        v = Object.fromEntries(entries.map((e) => e.split('=')));
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('must be a map of task names to episode counts');
      const out: Record<string, number> = Object.create(null);
      for (const [task, raw] of Object.entries(v as Record<string, unknown>)) {
        if (!/^[a-z0-9][a-z0-9-]*$/.test(task)) fail(`has '${task}', which is not a MiniWoB task name (lowercase words joined by '-')`);
        const n = toNumber(raw, fromText || typeof raw === 'string', 'int');
        if (typeof n === 'string' || !Number.isSafeInteger(n) || n < 1) fail(`'${task}' must be a whole number >= 1`);
        out[task] = n as number;
      }
      if (Object.keys(out).length === 0) fail('must name at least one task (or be null)');
      return { ...out };
    }
    case 'string[]': {
      // A plain string is a comma-separated list (handy on the command line and for one-item lists in YAML).
      if (typeof v === 'string') v = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) fail('must be a list of non-empty strings');
      if ((v as string[]).length === 0) fail('must not be empty');
      return [...(v as string[])];
    }
  }
}

/** Defaults of every key, as a nested TrainConfig. */
export function defaultConfig(): TrainConfig {
  const flat: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(CONFIG_SCHEMA)) flat[k] = Array.isArray(s.default) ? [...s.default] : s.default;
  return nest(flat);
}

function nest(flat: Record<string, unknown>): TrainConfig {
  const out: Record<string, unknown> = {};
  for (const g of GROUPS) out[g] = {};
  for (const [k, v] of Object.entries(flat)) {
    const dot = k.indexOf('.');
    if (k === 'tasks') {
      // A checked value is a TaskList; the schema default is a plain list of names.
      const t = Array.isArray(v) ? { names: v as string[], weights: null } : (v as TaskList);
      out.tasks = t.names;
      out.task_weights = t.weights;
    } else if (dot < 0) out[k] = v;
    else (out[k.slice(0, dot)] as Record<string, unknown>)[k.slice(dot + 1)] = v;
  }
  return out as unknown as TrainConfig;
}

/** Flattens a parsed YAML document into dotted keys, rejecting unknown keys and misplaced blocks. */
function flattenDoc(doc: unknown, where: string): Record<string, unknown> {
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${where}: the file must be a mapping of key: value`);
  const flat: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if ((GROUPS as readonly string[]).includes(k)) {
      if (v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${where}: '${k}' must be a block of keys (${k}: {…})`);
      for (const [sub, sv] of Object.entries(v as Record<string, unknown>)) {
        const key = `${k}.${sub}`;
        if (!isKey(key)) throw new ConfigError(`${where}: ${unknownKeyMessage(key)}`);
        flat[key] = sv;
      }
    } else {
      if (!isKey(k)) throw new ConfigError(`${where}: ${unknownKeyMessage(k)}`);
      flat[k] = v;
    }
  }
  return flat;
}

/**
 * Parses command-line overrides: `--key value`, `--key=value`, `--lora.r 16`; a boolean key given with no value
 * (`--constrained_actions` followed by another flag or nothing) means true. Returns raw strings per dotted key.
 */
export function parseOverrides(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new ConfigError(`command line: expected --key value, got '${a}'`);
    let key = a.slice(2);
    let value: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) [key, value] = [key.slice(0, eq), key.slice(eq + 1)];
    key = key.replace(/-/g, '_');
    if (!isKey(key)) throw new ConfigError(`command line: ${unknownKeyMessage(key)}`);
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        if (CONFIG_SCHEMA[key].kind !== 'bool') throw new ConfigError(`command line: --${key} needs a value`);
        value = 'true';
      } else {
        value = next;
        i++;
      }
    }
    out[key] = value;
  }
  return out;
}

/** Cross-field rules; each message names the keys involved. */
function checkConsistency(c: TrainConfig, where: string): void {
  const fail = (msg: string): never => {
    throw new ConfigError(`${where}: ${msg}`);
  };
  const perUpdate = c.per_device_train_batch_size * c.gradient_accumulation_steps;
  const genBatch = c.generation_batch_size ?? perUpdate;
  if (genBatch % c.num_generations !== 0) {
    fail(`generation_batch_size (${genBatch}${c.generation_batch_size === null ? ' = per_device_train_batch_size × gradient_accumulation_steps' : ''}) must be a multiple of num_generations (${c.num_generations})`);
  }
  if (genBatch % perUpdate !== 0) {
    fail(`generation_batch_size (${genBatch}) must be a multiple of per_device_train_batch_size × gradient_accumulation_steps (${perUpdate})`);
  }
  if (c.warmup_steps > c.max_steps) fail(`warmup_steps (${c.warmup_steps}) must not exceed max_steps (${c.max_steps})`);
  if (c.env_url !== null && c.miniwob_url !== null) fail("set either 'env_url' (remote server) or 'miniwob_url' (local MiniWoB++), not both");
  if (c.miniwob_url !== null && !/^(https?|file):\/\//.test(c.miniwob_url)) fail(`'miniwob_url' must be an http(s):// or file:// URL (got '${c.miniwob_url}')`);
  for (const t of c.tasks) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(t)) fail(`'tasks' entry '${t}' is not a MiniWoB task name (lowercase words joined by '-')`);
  }
  if (c.task_sampling === 'weighted' && c.task_weights === null) {
    fail("task_sampling 'weighted' needs weights in 'tasks' (tasks: {name: weight, …}, or name:weight,… on the command line)");
  }
  if (c.task_sampling === 'uniform' && c.task_weights !== null) {
    fail("'tasks' has weights but task_sampling is 'uniform', which ignores them (drop the weights, or use weighted or curriculum)");
  }
  if (c.env_url === null && c.miniwob_url === null) {
    const builtin = builtinTaskNames();
    for (const t of c.tasks) {
      if (!builtin.includes(t)) fail(`task '${t}' is not in the built-in suite (${builtin.join(', ')}); set 'miniwob_url' for the full MiniWoB++ set`);
    }
  }
  for (const a of c.action_set) {
    if (!(a in ACTION_SIGNATURES)) fail(`'action_set' entry '${a}' is not a BrowserGym action (${Object.keys(ACTION_SIGNATURES).join(', ')})`);
  }
  if (c.use_peft) {
    for (const m of c.lora.target_modules) {
      if (LLAMA_MODULE_HINTS[m]) fail(`'lora.target_modules' entry '${m}' does not exist in LFM2; use ${LLAMA_MODULE_HINTS[m]}`);
      const last = m.split('.').pop()!;
      const isRegex = /[\\^$*+?()[\]|]/.test(m);
      if (!isRegex && !(LFM2_LINEAR_MODULES as readonly string[]).includes(last)) {
        fail(`'lora.target_modules' entry '${m}' matches no LFM2 linear (${LFM2_LINEAR_MODULES.join(', ')})`);
      }
    }
  }
  if (c.sft.demos !== null && c.sft.demos.trim() === '') fail("'sft.demos' must name a file (or be null)");
  if (c.sft.demo_episodes_per_task !== null) {
    if (c.sft.demo_episodes === null) fail("'sft.demo_episodes_per_task' needs 'sft.demo_episodes' (the count of every task it does not name)");
  }
  if (c.resume_from_checkpoint === '') fail("'resume_from_checkpoint' must be a folder or 'latest'");
  if (c.model.trim() === '') fail("'model' must name a folder or a Hugging Face id");
}

/** Validates a complete config object (e.g. one read back from a checkpoint). Returns a normalised copy. */
export function validateConfig(c: TrainConfig, where = 'config'): TrainConfig {
  const flat: Record<string, unknown> = {};
  const src = c as unknown as Record<string, unknown>;
  for (const k of Object.keys(src)) {
    if (k === 'task_weights') continue; // folded back into 'tasks' below
    if ((GROUPS as readonly string[]).includes(k)) {
      for (const [sub, v] of Object.entries((src[k] ?? {}) as Record<string, unknown>)) flat[`${k}.${sub}`] = v;
    } else flat[k] = src[k];
  }
  if ('tasks' in flat) {
    const joined = joinTaskWeights(flat.tasks, src.task_weights);
    if ('error' in joined) throw new ConfigError(`${where}: ${joined.error}`);
    flat.tasks = joined.value;
  }
  const merged: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(CONFIG_SCHEMA)) {
    merged[k] = Object.hasOwn(flat, k) ? checkValue(k, spec, flat[k], where, false) : structuredClone(spec.default);
  }
  for (const k of Object.keys(flat)) if (!isKey(k)) throw new ConfigError(`${where}: ${unknownKeyMessage(k)}`);
  const out = nest(merged);
  checkConsistency(out, where);
  return out;
}

/**
 * Reads a YAML config, applies overrides (`--key value` strings), validates everything and returns the config.
 * `path` may be null (defaults + overrides only). Throws ConfigError naming the key and the file or command line.
 */
export function loadConfig(path: string | null, overrides: readonly string[] = []): TrainConfig {
  let doc: unknown = {};
  if (path !== null) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`);
    }
    try {
      // Integers as BigInt so checkValue can tell a literal a double would round (99999999999999999999).
      doc = parseYaml(text, { intAsBigInt: true });
    } catch (e) {
      // YAML reserves '@' at the start of a plain value, and '@FILE' is how env_url names a server file.
      const hint = /reserved character @/.test((e as Error).message) ? " (a value starting with @ must be quoted: env_url: '@servers.txt')" : '';
      throw new ConfigError(`${path}: not valid YAML${hint}: ${(e as Error).message}`);
    }
  }
  const where = path ?? 'config';
  const fromFile = flattenDoc(doc, where);
  const fromCli = parseOverrides(overrides);
  const merged: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(CONFIG_SCHEMA)) {
    if (Object.hasOwn(fromCli, k)) merged[k] = checkValue(k, spec, fromCli[k], 'command line', true);
    else if (Object.hasOwn(fromFile, k)) merged[k] = checkValue(k, spec, fromFile[k], where, false);
    else merged[k] = structuredClone(spec.default);
  }
  const c = nest(merged);
  checkConsistency(c, Object.keys(fromCli).length > 0 ? `${where} (with command-line overrides)` : where);
  return c;
}

/** The run has a supervised stage before GRPO: a demonstrations file or episodes to generate one. */
export function sftEnabled(c: TrainConfig): boolean {
  return c.sft.demos !== null || c.sft.demo_episodes !== null;
}

/** A seed given as a command-line flag of its own (eval, init-model): an integer in [0, 2^32), like `seed`. */
export function parseSeed(text: string, flag = '--seed'): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || BigInt(t) >= BigInt(SEED_LIMIT)) throw new ConfigError(`${flag} must be an integer in [0, 2^32), got '${text}'`);
  return Number(t);
}

/** Episodes per rollout round after defaults (generation_batch_size or one update's worth). */
export function generationBatchSize(c: TrainConfig): number {
  return c.generation_batch_size ?? c.per_device_train_batch_size * c.gradient_accumulation_steps;
}

/** Episodes consumed by one optimizer step. */
export function episodesPerUpdate(c: TrainConfig): number {
  return c.per_device_train_batch_size * c.gradient_accumulation_steps;
}

/**
 * Optimizer steps that consume one rollout round (TRL steps_per_generation / gradient_accumulation_steps): the round's
 * episodes are split into this many consecutive updates (then repeated num_iterations times).
 */
export function updatesPerGeneration(c: TrainConfig): number {
  return generationBatchSize(c) / episodesPerUpdate(c);
}

/** Upper clip range after defaults. */
export function epsilonHigh(c: TrainConfig): number {
  return c.epsilon_high ?? c.epsilon;
}

/** Run folder name: the configured one, else `<model basename>-<first task>-<YYYYmmdd-HHMMSS>` (UTC). */
export function resolveRunName(c: TrainConfig, now: Date = new Date()): string {
  if (c.run_name) return c.run_name;
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${basename(c.model.replace(/\/+$/, ''))}-${c.tasks[0]}-${stamp}`;
}

/** YAML text of a config (all keys), suitable for saving with a checkpoint and loading back with loadConfig. */
export function configToYaml(c: TrainConfig): string {
  // Weights are written the way a user writes them: as the mapping form of `tasks`.
  const { task_weights: weights, ...rest } = c;
  const tasks = weights ? Object.fromEntries(c.tasks.map((t) => [t, weights[t]])) : c.tasks;
  return stringifyYaml({ ...rest, tasks }, { lineWidth: 0 });
}

/** Help text listing every key with its default, for `lfm2-rl train --help`. */
export function describeConfig(): string {
  const lines: string[] = [];
  for (const [k, s] of Object.entries(CONFIG_SCHEMA)) {
    const type = s.kind === 'enum' ? s.choices!.join('|') : s.kind;
    lines.push(`  --${k} <${type}${s.nullable ? '|null' : ''}>  (default ${JSON.stringify(s.default)})\n      ${s.help}`);
  }
  return lines.join('\n');
}
