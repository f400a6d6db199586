import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_SCHEMA,
  ConfigError,
  configToYaml,
  defaultConfig,
  describeConfig,
  episodesPerUpdate,
  epsilonHigh,
  generationBatchSize,
  loadConfig,
  parseOverrides,
  resolveRunName,
  sftEnabled,
  updatesPerGeneration,
  validateConfig,
} from '../lib/io/config.ts';
import { resumeConfigChanges } from '../lib/rl/run-checkpoint.ts';

const configsDir = fileURLToPath(new URL('../configs/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lfm2-cfg-'));
let n = 0;
function yamlFile(text: string): string {
  const p = join(dir, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}

describe('shipped configs', () => {
  it('lfm2_350m.yaml has the reference values (docs/grpo.md §5)', () => {
    const c = loadConfig(join(configsDir, 'lfm2_350m.yaml'));
    expect(c.model).toBe('LiquidAI/LFM2-350M');
    expect(c.learning_rate).toBe(5e-6);
    expect(c.num_generations).toBe(4);
    expect(c.max_completion_length).toBe(32);
    expect(c.max_env_steps).toBe(10);
    expect(c.max_steps).toBe(100);
    expect(c.warmup_steps).toBe(10);
    expect(c.use_peft).toBe(false);
    expect(generationBatchSize(c)).toBe(4);
    // Reference layout: one group of 4 per round, one episode per optimizer step → 4 updates per round.
    expect(episodesPerUpdate(c)).toBe(1);
    expect(updatesPerGeneration(c)).toBe(4);
    expect(epsilonHigh(c)).toBe(0.2);
  });

  it('lfm2_350m_lora.yaml: lr 1e-4, r 8, alpha 16, LFM2 module names', () => {
    const c = loadConfig(join(configsDir, 'lfm2_350m_lora.yaml'));
    expect(c.learning_rate).toBe(1e-4);
    expect(c.use_peft).toBe(true);
    expect(c.lora).toEqual({
      r: 8,
      lora_alpha: 16,
      lora_dropout: 0,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'],
      use_rslora: false,
    });
  });

  it('tiny_click_test.yaml creates a tiny model and constrains actions', () => {
    const c = loadConfig(join(configsDir, 'tiny_click_test.yaml'));
    expect(c.init_model.preset).toBe('tiny');
    expect(c.constrained_actions).toBe(true);
    expect(c.tasks).toEqual(['click-test']);
  });

  it('tiny_sft_test.yaml runs an SFT stage from generated demonstrations before GRPO', () => {
    const c = loadConfig(join(configsDir, 'tiny_sft_test.yaml'));
    expect(sftEnabled(c)).toBe(true);
    expect(c.sft).toMatchObject({ demos: null, demo_episodes: 16, eval: true });
    expect(c.tasks).toEqual(['click-test', 'enter-text']);
    expect(c.action_set).toContain('fill');
  });

  it('suite_small.yaml: SFT then GRPO on all ten built-in tasks, FP32 gradients (BF16 ones keep the lookups from forming)', () => {
    const c = loadConfig(join(configsDir, 'suite_small.yaml'));
    expect(c.init_model.preset).toBe('small');
    expect(sftEnabled(c)).toBe(true);
    expect(c.tasks).toHaveLength(10);
    expect(c.precision).toBe('exact');
  });

  it('book_flight.yaml targets book-flight', () => {
    expect(loadConfig(join(configsDir, 'book_flight.yaml')).tasks).toEqual(['book-flight']);
  });
});

describe('defaults and help', () => {
  it('every key has help text and a default that passes validation', () => {
    for (const [k, s] of Object.entries(CONFIG_SCHEMA)) {
      expect(s.help.length, k).toBeGreaterThan(5);
      expect(s.default, k).not.toBeUndefined();
    }
    const c = validateConfig(defaultConfig());
    expect(c.loss_type).toBe('dapo');
    expect(c.scale_rewards).toBe('group');
    expect(c.lora.r).toBe(8);
    expect(describeConfig()).toContain('--lora.target_modules');
  });

  it('loads defaults only when no file is given', () => {
    expect(loadConfig(null)).toEqual(defaultConfig());
  });

  it('round-trips through YAML', () => {
    const c = loadConfig(join(configsDir, 'lfm2_350m_lora.yaml'), ['--seed', '5']);
    const again = loadConfig(yamlFile(configToYaml(c)));
    expect(again).toEqual(c);
  });
});

describe('overrides', () => {
  it('parses --key value, --key=value, dotted keys, dashes and bare booleans', () => {
    expect(parseOverrides(['--lora.r', '16', '--learning-rate=3e-4', '--constrained_actions', '--seed', '-3'])).toEqual({
      'lora.r': '16',
      learning_rate: '3e-4',
      constrained_actions: 'true',
      seed: '-3',
    });
  });

  it('applies typed overrides on top of the file', () => {
    const p = yamlFile('learning_rate: 1.0e-5\nuse_peft: true\nlora:\n  r: 4\n');
    const c = loadConfig(p, ['--lora.r', '16', '--tasks', 'click-test,click-button', '--epsilon_high', '0.28', '--run_name', 'null']);
    expect(c.learning_rate).toBe(1e-5);
    expect(c.lora.r).toBe(16);
    expect(c.lora.lora_alpha).toBe(16);
    expect(c.tasks).toEqual(['click-test', 'click-button']);
    expect(c.epsilon_high).toBe(0.28);
    expect(c.run_name).toBeNull();
  });

  it('rejects a value-less non-boolean flag and stray words', () => {
    expect(() => parseOverrides(['--seed'])).toThrow(/--seed needs a value/);
    expect(() => parseOverrides(['seed', '3'])).toThrow(/expected --key value/);
  });
});

describe('errors name the key and the source before any work', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['unknown key with suggestion', 'num_generation: 4\n', /c\d+\.yaml: unknown key 'num_generation' \(did you mean 'num_generations'\?\)/],
    ['reference-pipeline name', 'dataset_size: 100\n', /unknown key 'dataset_size': use 'max_steps'/],
    ['unknown lora key', 'lora:\n  rank: 8\n', /unknown key 'lora.rank'/],
    ['wrong type', 'learning_rate: fast\n', /'learning_rate' must be a number \(got "fast"\)/],
    ['non-integer', 'max_steps: 2.5\n', /'max_steps' must be a whole number/],
    ['num_generations < 2', 'num_generations: 1\n', /'num_generations' must be >= 2 \(got 1\)/],
    ['negative epsilon', 'epsilon: -0.1\n', /'epsilon' must be >= 0/],
    ['zero temperature', 'temperature: 0\n', /'temperature' must be > 0/],
    ['top_p above 1', 'top_p: 1.5\n', /'top_p' must be <= 1/],
    ['bad enum', 'loss_type: ppo\n', /'loss_type' must be one of grpo, bnpo, dr_grpo, dapo/],
    ['null not allowed', 'seed: null\n', /'seed' cannot be null/],
    ['block not a mapping', 'lora: 8\n', /'lora' must be a block/],
    ['group size vs batch', 'num_generations: 3\nper_device_train_batch_size: 4\n', /generation_batch_size \(4 = per_device_train_batch_size × gradient_accumulation_steps\) must be a multiple of num_generations \(3\)/],
    ['warmup beyond steps', 'max_steps: 5\nwarmup_steps: 10\n', /warmup_steps \(10\) must not exceed max_steps \(5\)/],
    ['both env sources', 'env_url: http://a:1\nminiwob_url: http://b/\n', /either 'env_url'.*or 'miniwob_url'/],
    ['env_url not a server URL', 'env_url: ftp://a:1\n', /'env_url': OpenEnv server URL must start with http:\/\/, https:\/\/, ws:\/\/ or wss:\/\//],
    ['env_url with a query', "env_url: 'ws://a:1/ws?x=1'\n", /'env_url': OpenEnv server URL 'ws:\/\/a:1\/ws\?x=1' must not have a query/],
    ['no env step deadline', 'env_step_timeout_s: 0\n', /'env_step_timeout_s' must be >= 0.001 \(got 0\)/],
    ['unknown built-in task', 'tasks: [click-tset]\n', /task 'click-tset' is not in the built-in suite/],
    ['bad action', 'action_set: [click, send_keys]\n', /'action_set' entry 'send_keys' is not a BrowserGym action/],
    ['Llama LoRA names', 'use_peft: true\nlora:\n  target_modules: [q_proj, o_proj]\n', /'o_proj' does not exist in LFM2; use out_proj/],
    ['unknown LoRA module', 'use_peft: true\nlora:\n  target_modules: [qkv]\n', /'qkv' matches no LFM2 linear/],
    ['unknown sft key', 'sft:\n  epoch: 2\n', /unknown key 'sft.epoch' \(did you mean 'sft.epochs'\?\)/],
    ['sft name from other tools', 'sft:\n  num_train_epochs: 2\n', /unknown key 'sft.num_train_epochs': use 'sft.epochs'/],
    ['sft epochs', 'sft:\n  demo_episodes: 4\n  epochs: 0\n', /'sft.epochs' must be >= 1 \(got 0\)/],
    ['sft learning rate', 'sft:\n  demos: d.jsonl\n  learning_rate: 0\n', /'sft.learning_rate' must be > 0/],
    ['sft demos path', 'sft:\n  demos: " "\n', /'sft.demos' must name a file/],
    ['sft block', 'sft: true\n', /'sft' must be a block/],
    ['per-task demos without a default', 'sft:\n  demo_episodes_per_task: {click-test: 5}\n', /'sft.demo_episodes_per_task' needs 'sft.demo_episodes'/],
    ['per-task demos not a count', 'sft:\n  demo_episodes: 4\n  demo_episodes_per_task: {click-test: 0}\n', /'click-test' must be a whole number >= 1/],
    ['per-task demos not a map', 'sft:\n  demo_episodes: 4\n  demo_episodes_per_task: [click-test]\n', /must be a map of task names to episode counts/],
    ['per-task demos bad name', 'sft:\n  demo_episodes: 4\n  demo_episodes_per_task: {Click Test: 3}\n', /'Click Test', which is not a MiniWoB task name/],
    ['prompt loss weight above 1', 'sft:\n  prompt_loss_weight: 2\n', /'sft.prompt_loss_weight' must be <= 1/],
    ['not a mapping', '- a\n- b\n', /must be a mapping/],
    ['bad YAML', 'a: [1,\n', /not valid YAML/],
  ];
  for (const [name, text, re] of bad) {
    it(name, () => {
      const p = yamlFile(text);
      let err: unknown;
      try {
        loadConfig(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
    });
  }

  it('blames the command line for a bad override', () => {
    expect(() => loadConfig(null, ['--num_generations', 'four'])).toThrow(/command line: 'num_generations' must be a whole number/);
    expect(() => loadConfig(null, ['--lora.rank', '4'])).toThrow(/command line: unknown key 'lora.rank'/);
  });

  it('a missing file is named', () => {
    expect(() => loadConfig(join(dir, 'nope.yaml'))).toThrow(/cannot read config .*nope.yaml/);
  });

  it('accepts full-path and regex LoRA targets', () => {
    const c = loadConfig(null, ['--use_peft', '--lora.target_modules', 'self_attn.out_proj,conv.in_proj,.*\\.w[13]']);
    expect(c.lora.target_modules).toEqual(['self_attn.out_proj', 'conv.in_proj', '.*\\.w[13]']);
  });
});

describe('sft section', () => {
  it('is off by default and when null; on with a file or demo episodes; overridable from the command line', () => {
    expect(sftEnabled(defaultConfig())).toBe(false);
    expect(sftEnabled(loadConfig(yamlFile('sft: null\n')))).toBe(false);
    const c = loadConfig(yamlFile('sft:\n  demo_episodes: 16\n  learning_rate: 1.0e-4\n  eval: false\n'), ['--sft.batch_size', '4', '--sft.lr_scheduler_type', 'cosine']);
    expect(sftEnabled(c)).toBe(true);
    expect(c.sft).toEqual({ demos: null, demo_episodes: 16, demo_episodes_per_task: null, epochs: 3, learning_rate: 1e-4, lr_scheduler_type: 'cosine', warmup_steps: 0, batch_size: 4, completion_only_loss: true, prompt_loss_weight: 1, eval: false, eval_epochs: 0 });
    // Per-task demonstration counts: a YAML map or task=count pairs on the command line; they survive a round trip.
    const per = loadConfig(yamlFile('sft:\n  demo_episodes: 8\n  demo_episodes_per_task: {book-flight: 2, click-test: 30}\n'));
    expect(per.sft.demo_episodes_per_task).toEqual({ 'book-flight': 2, 'click-test': 30 });
    expect(loadConfig(yamlFile(configToYaml(per)))).toEqual(per);
    expect(loadConfig(null, ['--sft.demo_episodes', '4', '--sft.demo_episodes_per_task', 'click-test=7,enter-text=1']).sft.demo_episodes_per_task).toEqual({ 'click-test': 7, 'enter-text': 1 });
    expect(() => loadConfig(null, ['--sft.demo_episodes', '4', '--sft.demo_episodes_per_task', 'click-test:7'])).toThrow(/must be task=count pairs/);
    expect(loadConfig(null, ['--sft.prompt_loss_weight', '0.1']).sft.prompt_loss_weight).toBe(0.1);
    expect(sftEnabled(loadConfig(null, ['--sft.demos', 'demos.jsonl']))).toBe(true);
    expect(loadConfig(null, ['--sft.completion_only_loss', 'false']).sft.completion_only_loss).toBe(false);
    expect(loadConfig(yamlFile(configToYaml(c)))).toEqual(c);
    expect(describeConfig()).toContain('--sft.demo_episodes');
  });
});

describe('run name', () => {
  it('is generated from model, task and UTC time when unset', () => {
    const c = loadConfig(null, ['--model', 'models/tiny/']);
    expect(resolveRunName(c, new Date(Date.UTC(2025, 11, 24, 1, 31, 19)))).toBe('tiny-click-test-20251224-013119');
    expect(resolveRunName({ ...c, run_name: 'mine' })).toBe('mine');
  });
});

describe('task weights and task sampling', () => {
  it('accepts a list, a mapping of task: weight, and name:weight on the command line', () => {
    const list = loadConfig(yamlFile('tasks: [click-test, click-button]\n'));
    expect(list.tasks).toEqual(['click-test', 'click-button']);
    expect(list.task_weights).toBeNull();
    expect(list.task_sampling).toBeNull();
    const mapping = loadConfig(yamlFile('tasks: {click-test: 1, click-button: 2.5}\ntask_sampling: curriculum\ncurriculum_window: 4\ncurriculum_floor: 0.5\n'));
    expect(mapping.tasks).toEqual(['click-test', 'click-button']);
    expect(mapping.task_weights).toEqual({ 'click-test': 1, 'click-button': 2.5 });
    expect([mapping.task_sampling, mapping.curriculum_window, mapping.curriculum_floor]).toEqual(['curriculum', 4, 0.5]);
    const cli = loadConfig(null, ['--tasks', 'click-button:3, click-test:1']);
    expect(cli.tasks).toEqual(['click-button', 'click-test']);
    expect(cli.task_weights).toEqual({ 'click-button': 3, 'click-test': 1 });
    // The command line replaces the file's weighted list with a plain one.
    const plain = loadConfig(yamlFile('tasks: {click-test: 1, click-button: 3}\n'), ['--tasks', 'click-test']);
    expect([plain.tasks, plain.task_weights]).toEqual([['click-test'], null]);
  });

  it('writes weights back as the mapping form and reads them again; a changed weight is a resume difference', () => {
    const c = loadConfig(null, ['--tasks', 'click-test:1,click-button:3', '--task_sampling', 'curriculum']);
    const text = configToYaml(c);
    expect(text).toMatch(/^tasks:\n {2}click-test: 1\n {2}click-button: 3$/m);
    expect(text).not.toContain('task_weights');
    expect(loadConfig(yamlFile(text))).toEqual(c);
    expect(validateConfig(c)).toEqual(c);
    const heavier = loadConfig(null, ['--tasks', 'click-test:1,click-button:4', '--task_sampling', 'curriculum']);
    expect(resumeConfigChanges(c, heavier)).toEqual(['task_weights.click-button']);
    // An edited object whose task list no longer matches its weights is refused, naming both.
    expect(() => validateConfig({ ...c, tasks: ['click-test'] })).toThrow(/'task_weights' names click-test, click-button but 'tasks' is click-test/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['zero weight', 'tasks: {click-test: 0}\n', /'tasks' weight of 'click-test' must be a positive finite number \(got 0\)/],
    ['negative weight', 'tasks: {click-test: 1, click-button: -2}\n', /weight of 'click-button' must be a positive finite number \(got -2\)/],
    ['infinite weight', 'tasks: {click-test: .inf}\n', /weight of 'click-test' must be a positive finite number \(got Infinity\)/],
    ['text weight', 'tasks: {click-test: "2"}\n', /weight of 'click-test' must be a positive finite number \(got "2"\)/],
    ['missing weight', 'tasks: {click-test: 1, click-button: }\n', /weight of 'click-button' must be a positive finite number \(got null\)/],
    ['some weighted', 'tasks: click-test:2,click-button\n', /'tasks' gives weights to some tasks but not to click-button/],
    ['bad text weight', 'tasks: "click-test:x"\n', /weight of 'click-test' must be a positive finite number \(got 'x' in 'click-test:x'\)/],
    ['duplicate task', 'tasks: [click-test, click-test]\n', /'tasks' lists 'click-test' twice/],
    ['empty mapping', 'tasks: {}\n', /'tasks' must name at least one task/],
    ['not a list', 'tasks: 5\n', /'tasks' must be a list of task names or a mapping of task: weight \(got 5\)/],
    ['unknown task with a weight', 'tasks: {click-tset: 1}\n', /task 'click-tset' is not in the built-in suite/],
    ['weighted without weights', 'tasks: [click-test]\ntask_sampling: weighted\n', /task_sampling 'weighted' needs weights in 'tasks'/],
    ['uniform with weights', 'tasks: {click-test: 2}\ntask_sampling: uniform\n', /'tasks' has weights but task_sampling is 'uniform'/],
    ['bad sampling mode', 'task_sampling: random\n', /'task_sampling' must be one of uniform, weighted, curriculum/],
    ['zero floor', 'curriculum_floor: 0\n', /'curriculum_floor' must be > 0/],
    ['zero window', 'curriculum_window: 0\n', /'curriculum_window' must be >= 1/],
  ];
  for (const [name, text, re] of bad) {
    it(`rejects: ${name}`, () => {
      const p = yamlFile(text);
      let err: unknown;
      try {
        loadConfig(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
    });
  }

  it('blames the command line for a bad weight', () => {
    expect(() => loadConfig(null, ['--tasks', 'click-test:0'])).toThrow(/command line: 'tasks' weight of 'click-test' must be a positive finite number \(got '0' in 'click-test:0'\)/);
  });
});

describe('values JS would silently misread are rejected', () => {
  const fromFile = (text: string) => {
    const p = yamlFile(text);
    try {
      loadConfig(p);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toContain(p);
      return (e as Error).message;
    }
    throw new Error(`accepted: ${text}`);
  };

  it('seeds are integers in [0, 2^32), from the file and the command line', () => {
    expect(fromFile('seed: -1\n')).toMatch(/'seed' must be >= 0 \(got -1\)/);
    expect(fromFile('seed: 1e300\n')).toMatch(/'seed' must be < 4294967296 \(got 1e\+300\)/);
    expect(fromFile('seed: 4294967296\n')).toMatch(/'seed' must be < 4294967296/);
    expect(fromFile('init_model:\n  seed: -5\n')).toMatch(/'init_model.seed' must be >= 0/);
    expect(() => loadConfig(null, ['--seed', '-1'])).toThrow(/command line: 'seed' must be >= 0 \(got "-1"\)/);
    expect(() => loadConfig(null, ['--seed', '1e300'])).toThrow(/command line: 'seed' must be < 4294967296/);
    expect(() => loadConfig(null, ['--init_model.seed', '4294967296'])).toThrow(/'init_model.seed' must be < 4294967296/);
    expect(loadConfig(null, ['--seed', '4294967295']).seed).toBe(4294967295);
    expect(loadConfig(null, ['--seed', '0']).seed).toBe(0);
  });

  it('NaN and infinities are named as such', () => {
    expect(fromFile('learning_rate: .nan\n')).toMatch(/'learning_rate' must be a finite number \(got \.nan\)/);
    expect(fromFile('learning_rate: .inf\n')).toMatch(/'learning_rate' must be a finite number \(got \.inf\)/);
    expect(fromFile('max_grad_norm: -.inf\n')).toMatch(/'max_grad_norm' must be a finite number \(got -\.inf\)/);
    expect(fromFile('max_steps: .inf\n')).toMatch(/'max_steps' must be a finite number \(got \.inf\)/);
    for (const t of ['nan', 'NaN', '.nan', 'inf', 'Infinity', '-Infinity', '1e400']) {
      expect(() => loadConfig(null, ['--learning_rate', t]), t).toThrow(/command line: 'learning_rate' must be a finite number/);
    }
    // A word is still "not a number".
    expect(() => loadConfig(null, ['--learning_rate', 'fast'])).toThrow(/'learning_rate' must be a number \(got "fast"\)/);
  });

  it('__proto__, constructor and prototype are unknown keys, not silently dropped or merged', () => {
    expect(fromFile('__proto__: 1\n')).toMatch(/unknown key '__proto__'/);
    // A mapping under __proto__ would otherwise become the prototype of the parsed keys and set them unseen.
    expect(fromFile('__proto__:\n  seed: 5\n')).toMatch(/unknown key '__proto__'/);
    expect(fromFile('constructor: 3\n')).toMatch(/unknown key 'constructor'/);
    expect(fromFile('prototype: 4\n')).toMatch(/unknown key 'prototype'/);
    expect(fromFile('lora:\n  __proto__: 3\n')).toMatch(/unknown key 'lora.__proto__'/);
    expect(fromFile('lora:\n  constructor: 3\n')).toMatch(/unknown key 'lora.constructor'/);
    for (const k of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      expect(() => loadConfig(null, [`--${k}`, '1']), k).toThrow(new RegExp(`command line: unknown key '${k}'`));
    }
    expect(() => validateConfig({ ...defaultConfig(), constructor: 1 } as never)).toThrow(/unknown key 'constructor'/);
  });

  it('integers that a double would round are rejected, exact ones kept', () => {
    expect(fromFile('max_steps: 99999999999999999999\n')).toMatch(/'max_steps' cannot be stored exactly \(it would become 100000000000000000000.*\) \(got 99999999999999999999\)/);
    expect(fromFile('learning_rate: 99999999999999999999\n')).toMatch(/'learning_rate' cannot be stored exactly/);
    expect(fromFile('max_steps: 9007199254740993\n')).toMatch(/'max_steps' cannot be stored exactly/);
    // Exact in a double but beyond the safe-integer range of an int key.
    expect(fromFile('max_steps: 9007199254740992\n')).toMatch(/'max_steps' must be a whole number below 2\^53/);
    expect(fromFile('max_steps: 1e20\n')).toMatch(/'max_steps' must be a whole number below 2\^53/);
    expect(() => loadConfig(null, ['--max_steps', '99999999999999999999'])).toThrow(/command line: 'max_steps' cannot be stored exactly/);
    expect(() => loadConfig(null, ['--micro_batch_tokens', '9007199254740993'])).toThrow(/cannot be stored exactly/);
    const ok = loadConfig(yamlFile('max_steps: 9007199254740991\nlearning_rate: 1.0e-5\nsave_steps: 0x10\nwarmup_steps: 0\n'));
    expect(ok.max_steps).toBe(Number.MAX_SAFE_INTEGER);
    expect(ok.learning_rate).toBe(1e-5);
    expect(ok.save_steps).toBe(16);
    expect(typeof ok.max_steps).toBe('number');
    // Non-number values holding big integers still name what is wrong.
    expect(fromFile('run_name: 123\n')).toMatch(/'run_name' must be a string \(got 123\)/);
    expect(fromFile('tasks: [1, 2]\n')).toMatch(/'tasks' must be a list of task names or a mapping of task: weight \(got \[1,2\]\)/);
  });
});

describe('env_url: one server, several, or a file of them', () => {
  it('takes a URL, a YAML list, a comma-separated override and @FILE, keeping the URLs as written', () => {
    expect(loadConfig(yamlFile('env_url: http://a:8000\n')).env_url).toEqual(['http://a:8000']);
    expect(loadConfig(yamlFile('env_url: [http://a:8000, "ws://b:8000/ws", wss://c.example/envs/ws/]\n')).env_url).toEqual(['http://a:8000', 'ws://b:8000/ws', 'wss://c.example/envs/ws/']);
    expect(loadConfig(null, ['--env_url', 'http://a:1, http://b:2']).env_url).toEqual(['http://a:1', 'http://b:2']);
    const list = yamlFile('# the fleet\n\nhttp://a:1\n  ws://b:2/ws  \n# http://c:3 is being rebuilt\r\nhttp://d:4\n');
    expect(loadConfig(yamlFile(`env_url: '@${list}'\n`)).env_url).toEqual(['http://a:1', 'ws://b:2/ws', 'http://d:4']);
    expect(loadConfig(null, ['--env_url', `@${list}`]).env_url).toEqual(['http://a:1', 'ws://b:2/ws', 'http://d:4']);
    // The command line can switch a file's servers off again.
    expect(loadConfig(yamlFile('env_url: http://a:1\n'), ['--env_url', 'null']).env_url).toBeNull();
    // A saved config holds the list itself and loads back the same.
    const c = loadConfig(null, ['--env_url', `@${list}`]);
    expect(loadConfig(yamlFile(configToYaml(c)))).toEqual(c);
    expect(validateConfig({ ...c, env_url: 'http://x:1' as unknown as string[] }).env_url).toEqual(['http://x:1']);
  });

  it('names the file and line, or the entry, of a bad server', () => {
    const bad = (text: string) => yamlFile(text);
    const cases: Array<[string[], RegExp]> = [
      [['--env_url', `@${join(dir, 'missing.txt')}`], /command line: 'env_url': cannot read the server file .*missing\.txt: ENOENT/],
      [['--env_url', `@${bad('http://a:1\n\nftp://b:2\n')}`], /'env_url': .*\.yaml:3: OpenEnv server URL must start with http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/, got 'ftp:\/\/b:2'/],
      [['--env_url', `@${bad('http://a:1\nhttp://b:2\nws://a:1/ws\n')}`], /'env_url': .*\.yaml:3 repeats the server of .*\.yaml:1 \(http:\/\/a:1\)/],
      [['--env_url', `@${bad('http://a:1 http://b:2\n')}`], /\.yaml:1: expected one URL, got 'http:\/\/a:1 http:\/\/b:2' \(one URL per line/],
      [['--env_url', `@${bad('# nothing yet\n\n')}`], /'env_url': the server file .*\.yaml lists no server \(one URL per line; blank lines and lines starting with # are skipped\)/],
      [['--env_url', '@'], /'env_url': '@' must be followed by the name of a server file/],
      [['--env_url', 'http://a:1,,http://b:2'], /'env_url': entry 2 of the comma-separated list is empty/],
      [['--env_url', 'http://a:1,http://b:2,http://a:1/'], /'env_url': entry 3 repeats the server of entry 1 \(http:\/\/a:1\)/],
      [['--env_url', 'http://a:1,b:2'], /'env_url': entry 2: OpenEnv server URL must start with http/],
      [['--env_url', ' , '], /'env_url': must name at least one server/],
    ];
    for (const [args, re] of cases) expect(() => loadConfig(null, args), args.join(' ')).toThrow(re);
    expect(() => loadConfig(bad('env_url: [http://a:1, 8000]\n'))).toThrow(/'env_url': entry 2 must be a server URL \(got 8000\)/);
    expect(() => loadConfig(bad("env_url: [http://a:1, '@more.txt']\n"))).toThrow(/entry 2 \('@more.txt'\): a server file is given as the whole value/);
    expect(() => loadConfig(bad('env_url: []\n'))).toThrow(/'env_url': must name at least one server/);
    expect(() => loadConfig(bad('env_url: {a: 1}\n'))).toThrow(/'env_url': must be a server URL, a list of them, or '@FILE'/);
    // YAML reserves '@' at the start of a plain value: the message says to quote it.
    expect(() => loadConfig(bad('env_url: @servers.txt\n'))).toThrow(/not valid YAML \(a value starting with @ must be quoted: env_url: '@servers.txt'\)/);
  });

  it('which servers serve the pages, and their deadline, do not make a resumed run a different run', () => {
    const a = loadConfig(null, ['--env_url', 'http://a:1,http://b:2']);
    const b = loadConfig(null, ['--env_url', 'http://c:3', '--env_server_timeout_s', '90']);
    expect(resumeConfigChanges(a, b)).toEqual([]);
    expect(() => loadConfig(null, ['--env_server_timeout_s', '0'])).toThrow(/'env_server_timeout_s' must be >= 0.001/);
  });
});
