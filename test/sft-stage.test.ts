// Preparing the SFT stage of a run: demonstrations are found, checked and tokenised before any training. A task of the
// run without demonstrations, a missing file, a bad line or an impossible warmup stop there with an error naming the
// file, line or task; samples have the rollout's prompt ids and the action trie's completion ids; answers longer than
// max_completion_length and other tasks' records are skipped with a message.
import { describe, expect, it } from 'vitest';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../lib/io/config.ts';
import { buildActionTrie, triePaths } from '../lib/rl/action-trie.ts';
import { demoExpectations, readDemoFile } from '../lib/rl/demo-file.ts';
import { prepareSft } from '../lib/rl/sft-stage.ts';
import { sftSample } from '../lib/rl/sft.ts';
import { TINY_CONFIG } from './trainer-helpers.ts';
import { root, modelDir, tok, record, file, setupDemoFixture } from './demo-fixture.ts';

setupDemoFixture('sft-stage');

describe('SFT preparation', () => {
  const deps = (runDir: string, logs: string[] = []) => ({
    runDir,
    modelDir,
    tokenizer: tok,
    envFactory: { newEpisode: () => Promise.reject(new Error('no environment in this test')) },
    log: (m: string) => logs.push(m),
  });

  it('names a task of the run without demonstrations, and a missing file without demo_episodes', async () => {
    const p = file('one-task.jsonl', [record('click-test', "click('4')")]);
    const c = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test,click-button', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p]);
    await expect(prepareSft(c, deps(root))).rejects.toThrow(/one-task\.jsonl: no demonstrations for task 'click-button' \(listed in tasks\)/);
    const missing = loadConfig(TINY_CONFIG, ['--model', modelDir, '--sft.demos', join(root, 'nope.jsonl')]);
    await expect(prepareSft(missing, deps(root))).rejects.toThrow(/sft\.demos: .*nope\.jsonl does not exist \(create it with lfm2-rl demos, or set sft\.demo_episodes/);
    // Per-task counts for a task the run does not train: an error before any browser work.
    const stray = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--sft.demos', join(root, 'to-generate.jsonl'), '--sft.demo_episodes', '2', '--sft.demo_episodes_per_task', 'book-flight=3']);
    await expect(prepareSft(stray, deps(root))).rejects.toThrow(/sft\.demo_episodes_per_task names 'book-flight', which is not in tasks \(click-test\)/);
  });

  it('tokenises records as rollouts and the action trie do; skips other tasks and answers longer than max_completion_length', async () => {
    const p = file('mixed.jsonl', [record('click-test', "click('4')"), record('click-button', "click('5')", 1), record('click-test', 'scroll(0, -200)', 2)]);
    const logs: string[] = [];
    const c = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p, '--sft.batch_size', '2', '--sft.epochs', '3']);
    const plan = await prepareSft(c, deps(root, logs));
    expect(logs.join('\n')).toMatch(/skipping demonstrations of tasks this run does not train \(click-button: 1\)/);
    expect(plan.perTask).toEqual({ 'click-test': 2 });
    expect(plan.totalSteps).toBe(3);
    const r = readDemoFile(p, demoExpectations(c, modelDir)).records[0];
    expect(plan.samples[0].promptIds).toEqual(tok.applyChatTemplate(r.messages));
    // The completion is exactly the action trie's path for that action: what a constrained sample of it is.
    expect(plan.samples[0].completionIds).toEqual(triePaths(buildActionTrie(tok, ["click('4')"], tok.imEndId))[0]);
    expect(plan.samples[0].completionIds.at(-1)).toBe(tok.imEndId);
    expect(plan.samples[0]).toMatchObject({ advantage: 1, truncated: false });
    expect(plan.samples[0].oldLogprobs.every((x) => x === 0)).toBe(true);
    // An answer the sampler would cut at max_completion_length is skipped with a warning.
    const scrollTokens = sftSample(readDemoFile(p, demoExpectations(c, modelDir)).records[2], tok).completionIds.length;
    const short = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p, '--max_completion_length', String(scrollTokens - 1)]);
    const logs2: string[] = [];
    const plan2 = await prepareSft(short, deps(root, logs2));
    expect(plan2.perTask['click-test']).toBe(1);
    expect(logs2.join('\n')).toMatch(new RegExp(`1 demonstrations skipped, their actions take up to ${scrollTokens} tokens`));
    // Whole-sequence loss: the same tokens scored from the second on; the length check stays on the action alone.
    const whole = await prepareSft(loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p, '--max_completion_length', String(scrollTokens - 1), '--sft.completion_only_loss', 'false']), deps(root));
    expect(whole.perTask['click-test']).toBe(1);
    expect(whole.samples[0].promptIds).toEqual(plan2.samples[0].promptIds.slice(0, 1));
    expect([...whole.samples[0].promptIds, ...whole.samples[0].completionIds]).toEqual([...plan2.samples[0].promptIds, ...plan2.samples[0].completionIds]);
    // Warmup longer than the stage is an error.
    const warm = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p, '--sft.warmup_steps', '99']);
    await expect(prepareSft(warm, deps(root))).rejects.toThrow(/sft\.warmup_steps \(99\) exceeds the stage's 3 optimizer steps/);
  });

  it('stops on a bad line before any training', async () => {
    const p = file('bad-line.jsonl');
    appendFileSync(p, '{"task": "click-test"');
    const c = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--sft.demos', p]);
    await expect(prepareSft(c, deps(root))).rejects.toThrow(/bad-line\.jsonl:4: truncated last line/);
  });
});
