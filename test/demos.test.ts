// Demonstrations from the task oracles in the real browser environment: every record is the step a rollout builds
// on the same page (same prompt ids and logged prompt text, history and errors included), its completion is what a
// constrained sample of the action is (a path of the page's action trie), seeds come from the training range, and
// episodes the run could not imitate are dropped and counted. Also `lfm2-rl demos` (oracles and --from-episodes).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { configToYaml, loadConfig, type TrainConfig } from '../lib/io/config.ts';
import type { EpisodeStepRow } from '../lib/io/metrics.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import { wrongAction } from '../lib/env/tasks/oracles.ts';
import { trieWalk } from '../lib/rl/action-trie.ts';
import { demoExpectations, readDemoFile, type DemoRecord } from '../lib/rl/demo-file.ts';
import { demoSeed, demosFromEpisodes, generateOracleDemos, readEpisodeRows, type OracleDemoOptions } from '../lib/rl/demos.ts';
import { openEnvironment, type EnvironmentHandle } from '../lib/rl/environment.ts';
import type { GenerationRequest, Generator } from '../lib/rl/generator.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { EpisodeSlots, promptText, runRollout } from '../lib/rl/rollout.ts';
import { EVAL_SEED_RANGE, TRAIN_SEED_RANGE } from '../lib/rl/seeds.ts';
import { sftSample } from '../lib/rl/sft.ts';
import { rolloutOptions } from '../lib/rl/trainer.ts';
import { run as demosCli } from '../lib/cli/demos.ts';
import { removeTempRoots, tempRoot, TINY_CONFIG } from './trainer-helpers.ts';

let root = '';
let modelDir = '';
let tok: Tokenizer;
let config: TrainConfig;
let env: EnvironmentHandle;

const ARGS = ['--tasks', 'click-test,enter-text', '--action_set', 'click,fill,hover,focus,scroll', '--max_env_steps', '4', '--history_length', '2'];

beforeAll(async () => {
  root = tempRoot('demos');
  modelDir = join(root, 'model');
  writeRandomModel(modelDir, presetConfig('tiny'), { seed: 0, dtype: 'f32' });
  tok = Tokenizer.fromDir(modelDir);
  config = loadConfig(TINY_CONFIG, ['--model', modelDir, '--output_dir', join(root, 'runs'), ...ARGS]);
  env = await openEnvironment(config);
}, 60_000);
afterAll(async () => {
  await env?.close();
  removeTempRoots();
});

function oracleOptions(c: TrainConfig, extra: Partial<OracleDemoOptions> = {}): OracleDemoOptions {
  return {
    tasks: c.tasks,
    episodesPerTask: 3,
    seed: 5,
    maxEnvSteps: c.max_env_steps,
    prompts: new PromptBuilder({ actionSet: c.action_set, systemPrompt: c.system_prompt, defaultGoal: c.default_goal, axtreeMaxTokens: c.axtree_max_tokens, historyLength: c.history_length, countTokens: (s) => tok.encode(s).length }),
    tokenizer: tok,
    actionSet: c.action_set,
    constrained: c.constrained_actions,
    concurrency: 3,
    ...extra,
  };
}

/** Answers each prompt with the demonstration recorded for exactly that prompt, checking it is a path of the request's action trie. */
class DemoGenerator implements Generator {
  readonly byPrompt = new Map<string, DemoRecord>();
  unconstrained = 0;
  constructor(records: readonly DemoRecord[]) {
    for (const r of records) this.byPrompt.set(tok.applyChatTemplate(r.messages).join(','), r);
  }
  async generate(requests: readonly GenerationRequest[]) {
    const samples = requests.map((req) => {
      const r = this.byPrompt.get(req.prompt.join(','));
      if (!r) throw new Error(`the rollout built a prompt no demonstration has:\n${tok.decode(req.prompt)}`);
      const tokens = [...sftSample(r, tok).completionIds];
      if (!req.trie) this.unconstrained++;
      else if (trieWalk(req.trie, tokens) < 0 || !req.trie.terminal[trieWalk(req.trie, tokens)]) throw new Error(`${r.completion} is not a path of the page's action trie`);
      return Array.from({ length: req.n }, () => ({ tokens, logprobs: tokens.map(() => -0.1), finish: 'constraint' as const }));
    });
    return { samples, timings: { seconds: 0 } };
  }
}

describe('oracle demonstrations', () => {
  it('are the steps a rollout builds on the same pages, with trie-path completions and training seeds', async () => {
    const { records, stats } = await generateOracleDemos(env.factory, oracleOptions(config));
    expect(stats.map((s) => [s.task, s.episodes, s.succeeded, s.steps])).toEqual([['click-test', 3, 3, 3], ['enter-text', 3, 3, 6]]);
    expect(records.map((r) => `${r.task}#${r.episode}.${r.step}`)).toEqual(['click-test#0.0', 'click-test#1.0', 'click-test#2.0', 'enter-text#3.0', 'enter-text#3.1', 'enter-text#4.0', 'enter-text#4.1', 'enter-text#5.0', 'enter-text#5.1']);
    for (const r of records) {
      expect(r.seed).toBe(demoSeed(5, r.task, r.episode % 3));
      expect(r.seed).toBeGreaterThanOrEqual(TRAIN_SEED_RANGE[0]);
      expect(r.seed).toBeLessThan(EVAL_SEED_RANGE[0]);
    }
    // enter-text: fill the box, then Submit with the fill in the history; reward on the last step only.
    const second = records.find((r) => r.task === 'enter-text' && r.step === 1)!;
    expect(second.completion).toMatch(/^click\('\d+'\)$/);
    expect(second.messages[1].content).toMatch(/Previous actions:\n1\. fill\('\d+', '.+'\)\n/);
    expect(records.filter((r) => r.task === 'enter-text').map((r) => [r.reward, r.done])).toEqual([[0, false], [1, true], [0, false], [1, true], [0, false], [1, true]]);

    // Replay every episode as a real constrained rollout whose generator answers with the demonstration of its prompt:
    // it only finds one if the rollout built exactly the recorded prompt.
    const gen = new DemoGenerator(records);
    const slots = new EpisodeSlots(env.factory);
    try {
      const episodes = [...new Map(records.map((r) => [r.episode, r])).values()];
      const { episodes: rolled } = await runRollout(rolloutOptions(config, tok, gen, () => {}), slots, episodes.map((r) => ({ task: r.task, seed: r.seed })), 1, () => 1);
      const steps = rolled.flatMap((e) => e.steps);
      expect(steps).toHaveLength(records.length);
      steps.forEach((s, i) => {
        const r = records[i];
        expect(s.promptIds).toEqual(tok.applyChatTemplate(r.messages));
        expect(s.promptText).toBe(promptText(r.messages));
        expect(s.completionIds).toEqual(sftSample(r, tok).completionIds);
        // sft.completion_only_loss false: the same tokens, every one after BOS scored, the action last.
        const whole = sftSample(r, tok, false);
        expect(whole.promptIds).toEqual(s.promptIds.slice(0, 1));
        expect([...whole.promptIds, ...whole.completionIds]).toEqual([...s.promptIds, ...s.completionIds]);
        expect(whole.oldLogprobs).toHaveLength(whole.completionIds.length);
        expect([s.action, s.error, s.reward, s.done]).toEqual([r.completion, '', r.reward, r.done]);
      });
      expect(rolled.every((e) => e.reward.success)).toBe(true);
      expect(gen.unconstrained).toBe(0);
    } finally {
      await slots.close();
    }
  }, 120_000);

  it('drops episodes the run cannot imitate, counting why', async () => {
    const noFill = loadConfig(TINY_CONFIG, ['--model', modelDir, ...ARGS, '--action_set', 'click,hover,focus,scroll']);
    const a = await generateOracleDemos(env.factory, oracleOptions(noFill, { episodesPerTask: 2 }));
    expect(a.stats[1]).toMatchObject({ task: 'enter-text', episodes: 2, succeeded: 0, steps: 0, dropped: { 'action not in action_set': 2 } });
    expect(a.stats[1].examples['action not in action_set']).toMatch(/^fill\('\d+', '.+'\)$/);
    expect(a.records.every((r) => r.task === 'click-test')).toBe(true);

    const b = await generateOracleDemos(env.factory, oracleOptions(config, { tasks: ['click-test'], episodesPerTask: 2, policy: () => "click('999')" }));
    expect(b.stats[0].dropped).toEqual({ 'action not allowed under constrained_actions': 2 });
    const c = await generateOracleDemos(env.factory, oracleOptions(config, { tasks: ['click-test'], episodesPerTask: 1, constrained: false, policy: () => "click('999')" }));
    expect(Object.keys(c.stats[0].dropped)).toEqual(['action failed in the page']);
    const d = await generateOracleDemos(env.factory, oracleOptions(config, { tasks: ['enter-text'], episodesPerTask: 2, constrained: false, policy: wrongAction }));
    expect(d.stats[0].dropped).toEqual({ 'episode ended unsolved': 2 });
    expect(d.records).toEqual([]);
  }, 120_000);
});

describe('lfm2-rl demos', () => {
  it('writes a file the run reads back, with per-task counts', async () => {
    const out = join(root, 'cli-demos.jsonl');
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const code = await demosCli(['--config', TINY_CONFIG, '--model', modelDir, ...ARGS, '--tasks', 'enter-text', '--episodes', '2', '--seed', '9', '--out', out]);
      expect(code).toBe(0);
      const printed = err.mock.calls.map((c) => String(c[0])).join('\n');
      expect(printed).toMatch(/demonstrations: 4 steps of 2 solved episodes/);
      expect(printed).toMatch(/task\s+episodes\s+succeeded\s+steps\nenter-text\s+2\s+2\s+4/);
    } finally {
      err.mockRestore();
    }
    const c = loadConfig(TINY_CONFIG, ['--model', modelDir, ...ARGS]);
    const f = readDemoFile(out, demoExpectations(c, modelDir));
    expect(f.header.source).toBe('oracle');
    // The config's per-task counts apply without --episodes (here through a command-line override).
    const out2 = join(root, 'cli-demos-per-task.jsonl');
    const err2 = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const code = await demosCli(['--config', TINY_CONFIG, '--model', modelDir, ...ARGS, '--tasks', 'click-test,enter-text', '--sft.demo_episodes', '1', '--sft.demo_episodes_per_task', 'enter-text=3', '--out', out2]);
      expect(code).toBe(0);
      expect(err2.mock.calls.map((x) => String(x[0])).join('\n')).toMatch(/click-test\s+1\s+1\s+1\nenter-text\s+3\s+3\s+6/);
    } finally {
      err2.mockRestore();
    }
    expect(f.records.map((r) => r.seed)).toEqual([demoSeed(9, 'enter-text', 0), demoSeed(9, 'enter-text', 0), demoSeed(9, 'enter-text', 1), demoSeed(9, 'enter-text', 1)]);
  }, 120_000);
});

describe('demonstrations from a run', () => {
  /** episodes.jsonl rows of one episode whose steps are these records (as the trainer logs them). */
  function rows(records: DemoRecord[], at: { step: number; member: number }, edit: (row: EpisodeStepRow, i: number) => void = () => {}): EpisodeStepRow[] {
    return records.map((r, i) => {
      const row: EpisodeStepRow = { step: at.step, group: 0, member: at.member, task: r.task, seed: r.seed, envStep: r.step, prompt: promptText(r.messages), completion: r.completion, action: r.completion, error: '', reward: r.reward, done: r.done };
      edit(row, i);
      return row;
    });
  }

  it('keeps solved episodes once, without failed steps; names bad lines', async () => {
    const { records } = await generateOracleDemos(env.factory, oracleOptions(config, { tasks: ['enter-text'], episodesPerTask: 2 }));
    const ep0 = records.filter((r) => r.episode === 0);
    const ep1 = records.filter((r) => r.episode === 1);
    const logged = [
      ...rows(ep0, { step: 1, member: 0 }),
      ...rows(ep0, { step: 1, member: 1 }), // a group member that did the same: kept once
      ...rows(ep1, { step: 1, member: 2 }, (row, i) => {
        if (i === 0) Object.assign(row, { completion: 'click it', action: '', error: 'ValueError: Received an empty action.' });
      }),
      ...rows(ep1, { step: 2, member: 0 }, (row) => Object.assign(row, { reward: 0, done: row.done })), // unsolved
    ];
    const runDir = join(root, 'runs', 'logged');
    mkdirSync(runDir, { recursive: true });
    const path = join(runDir, 'episodes.jsonl');
    writeFileSync(path, logged.map((r) => JSON.stringify(r) + '\n').join('') + '{"step": 2, "gro');
    writeFileSync(join(runDir, 'train_config.yaml'), configToYaml(config));
    const warnings: string[] = [];
    const got = demosFromEpisodes(readEpisodeRows(path, (m) => warnings.push(m)), { system: ep0[0].messages[0].content, actionSet: config.action_set, path });
    expect(warnings).toEqual([`${path}:${logged.length + 1}: skipping the cut-off last line`]);
    expect(got.stats[0]).toMatchObject({ task: 'enter-text', episodes: 4, succeeded: 3, steps: 3, dropped: { 'duplicate of an earlier episode': 1, 'step without a valid action': 1 } });
    expect(got.records.map((r) => [r.episode, r.step, r.completion])).toEqual([...ep0.map((r) => [0, r.step, r.completion]), [1, 1, ep1[1].completion]]);
    expect(got.records[0].messages).toEqual(ep0[0].messages);

    // The CLI takes the settings from the run's train_config.yaml and writes a file the run accepts.
    const out = join(root, 'from-episodes.jsonl');
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await demosCli(['--from-episodes', path, '--out', out])).toBe(0);
    } finally {
      err.mockRestore();
    }
    const f = readDemoFile(out, demoExpectations(config, modelDir));
    expect(f.header.source).toBe('episodes');
    expect(f.records).toHaveLength(3);

    // A malformed line in the middle, and prompts from another config, are errors naming the line.
    writeFileSync(path, JSON.stringify(logged[0]) + '\nnot json\n' + JSON.stringify(logged[1]) + '\n');
    expect(() => readEpisodeRows(path, () => {})).toThrow(/episodes\.jsonl:2: not valid JSON/);
    writeFileSync(path, JSON.stringify({ ...logged[0], reward: 1, done: true, prompt: 'system: other\n\nuser: Step 1' }) + '\n');
    expect(() => demosFromEpisodes(readEpisodeRows(path, () => {}), { system: ep0[0].messages[0].content, actionSet: config.action_set, path })).toThrow(/episodes\.jsonl:1: the prompt does not start with this run's system prompt/);
    writeFileSync(path, JSON.stringify({ ...logged[0], envStep: 'x' }) + '\n');
    expect(() => readEpisodeRows(path, () => {})).toThrow(/episodes\.jsonl:1: not an episodes\.jsonl row \('envStep'/);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toMatch(/"format":"lfm2-rl-demos"/);
  }, 120_000);
});
