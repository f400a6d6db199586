import { describe, it, expect } from 'vitest';
import type { Episode, Observation, ResetOptions, StepResult } from '../lib/env/types.ts';
import type { ChatMessage } from '../lib/engine/tokenizer.ts';
import type { GenerationRequest, GenerationSettings, Generator, GeneratedSample } from '../lib/rl/generator.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { EpisodeSlots, runRollout, actionOfCompletion, type RolloutOptions } from '../lib/rl/rollout.ts';
import { buildRoundBatch } from '../lib/rl/grpo-batch.ts';
import { trieWalk, triePaths } from '../lib/rl/action-trie.ts';

// Byte-level tokenizer: ids 0..255 are UTF-8 bytes, 256 is the end-of-turn token.
const IM_END = 256;
const tokenizer = {
  vocabSize: 257,
  imEndId: IM_END,
  encode: (text: string) => [...Buffer.from(text, 'utf8')],
  decode: (ids: readonly number[], opts: { skipSpecial?: boolean } = {}) =>
    Buffer.from(ids.filter((i) => i < 256)).toString('utf8') + (opts.skipSpecial ? '' : ids.includes(IM_END) ? '<|im_end|>' : ''),
  applyChatTemplate: (messages: readonly ChatMessage[]) =>
    [...Buffer.from(messages.map((m) => `<${m.role}>${String(m.content)}`).join('') + '<assistant>', 'utf8')],
};

/** A two-step task: click [1] 'First', then [2] 'Second'. Any other action, or the wrong order, fails at step 2. */
class TwoClickEpisode implements Episode {
  clicks: string[] = [];
  constructor(private readonly log: string[], private loseBrowserOnce: { pending: boolean } = { pending: false }) {}
  private obs(error = ''): Observation {
    return {
      goal: 'Click First, then Second.',
      axtree_txt: "RootWebArea 'Task'\n\t[1] button 'First'\n\t[2] button 'Second'",
      pruned_html: '',
      url: 'http://task/two-click',
      focused_element_bid: '',
      last_action: this.clicks.at(-1) ?? '',
      last_action_error: error,
    };
  }
  async reset(opts: ResetOptions): Promise<Observation> {
    this.log.push(`reset ${opts.task} ${opts.seed}`);
    this.clicks = [];
    return this.obs();
  }
  async step(action: string): Promise<StepResult> {
    if (this.loseBrowserOnce.pending) {
      this.loseBrowserOnce.pending = false;
      return { observation: this.obs('Error: browser page was lost'), reward: 0, done: true, truncated: false, info: { error: 'browser page was lost: Target closed' } };
    }
    const m = /^click\('(\d)'\)$/.exec(action);
    if (!m) return { observation: this.obs(`ValueError: bad action ${action}`), reward: 0, done: false, truncated: false, info: {} };
    this.clicks.push(m[1]);
    const done = this.clicks.length === 2;
    const success = done && this.clicks.join() === '1,2';
    return { observation: this.obs(), reward: success ? 1 : 0, done, truncated: false, info: {} };
  }
  async observe(): Promise<Observation> {
    return this.obs();
  }
  async close(): Promise<void> {}
}

/** Step 1: every sample clicks '1'. Step 2: sample s clicks '2' when s is even (success), '1' when odd (failure). */
class ScriptedGenerator implements Generator {
  calls: Array<{ requests: GenerationRequest[]; settings: GenerationSettings }> = [];
  async generate(requests: readonly GenerationRequest[], settings: GenerationSettings) {
    this.calls.push({ requests: [...requests], settings });
    const samples = requests.map((r) => {
      const prompt = Buffer.from(r.prompt.filter((i) => i < 256)).toString('utf8');
      const step = /Step (\d+)/.exec(prompt)![1];
      return Array.from({ length: r.n }, (_, s): GeneratedSample => {
        const text = step === '1' ? "click('1')" : s % 2 === 0 ? "click('2')" : "click('1')";
        const tokens = [...tokenizer.encode(text), IM_END];
        return { tokens, logprobs: tokens.map((_, i) => -0.05 * (i + 1)), finish: 'stop' };
      });
    });
    return { samples, timings: { seconds: 0 } };
  }
}

function options(generator: Generator, constrained = false): RolloutOptions {
  return {
    tokenizer,
    prompts: new PromptBuilder({ actionSet: ['click'], defaultGoal: 'Do the task.', axtreeMaxTokens: 512, historyLength: 2, countTokens: (s) => tokenizer.encode(s).length }),
    generator,
    sampling: { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 16, stopIds: [IM_END] },
    constrained,
    actionSet: ['click'],
    maxEnvSteps: 3,
    shaping: { invalidActionPenalty: 0, stepPenalty: 0 },
  };
}

describe('rollout', () => {
  it('a multi-step episode yields one sample per env step, each carrying its episode advantage', async () => {
    const log: string[] = [];
    const gen = new ScriptedGenerator();
    const slots = new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode(log) });
    const G = 4;
    const res = await runRollout(options(gen), slots, [{ task: 'two-click', seed: 77 }], G, (t) => 1000 + t);

    // All G episodes share the task and seed.
    expect(log).toEqual(Array(G).fill('reset two-click 77'));
    // One batched call per env step; identical prompts of a group share one request with n = G.
    expect(gen.calls.map((c) => c.requests.map((r) => r.n))).toEqual([[4], [4]]);
    expect(gen.calls.map((c) => c.settings.seed)).toEqual([1000, 1001]);
    expect(res.episodes.map((e) => e.reward.success)).toEqual([true, false, true, false]);
    expect(res.episodes.map((e) => e.steps.length)).toEqual([2, 2, 2, 2]);
    expect(res.episodes[0].steps.map((s) => s.action)).toEqual(["click('1')", "click('2')"]);

    const batch = buildRoundBatch(res.episodes, { groupSize: G, scaleRewards: 'group', lossType: 'dapo', updates: 1, beta: 0, maskTruncated: false });
    // rewards [1, 0, 1, 0]: mean 0.5, unbiased std sqrt(1/3) → ±0.5 / (0.57735 + 1e-4).
    const a = 0.5 / (Math.sqrt(1 / 3) + 1e-4);
    const samples = batch.updates[0].samples;
    expect(samples.map((s) => [s.episode, s.step])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [3, 1]]);
    for (const s of samples) expect(s.advantage).toBeCloseTo(s.episode % 2 === 0 ? a : -a, 12);
    // Each sample keeps its own step's prompt: step 2's prompt is not step 1's prompt plus completion.
    const p0 = Buffer.from(samples[0].promptIds.filter((i) => i < 256)).toString();
    const p1 = Buffer.from(samples[1].promptIds.filter((i) => i < 256)).toString();
    expect(p0).toMatch(/Step 1/);
    expect(p1).toMatch(/Step 2/);
    expect(p1).toMatch(/Previous actions:\n1\. click\('1'\)/);
    expect(p1.startsWith(p0)).toBe(false);
    expect(samples[1].completionIds).toEqual([...tokenizer.encode("click('2')"), IM_END]);
    // DAPO normaliser: every completion token of the round (8 completions of 11 tokens).
    expect(batch.updates[0].tokenNormalizer).toBe(8 * 11);
  });

  it('splits the round into updates and drops zero-variance groups from the gradient (beta = 0)', async () => {
    const gen = new ScriptedGenerator();
    const slots = new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode([]) });
    const res = await runRollout(options(gen), slots, [{ task: 'a', seed: 1 }, { task: 'b', seed: 2 }], 2, () => 5);
    // Members 0 (success) and 1 (failure) in each group.
    expect(res.episodes.map((e) => [e.group, e.member, e.reward.envReward])).toEqual([[0, 0, 1], [0, 1, 0], [1, 0, 1], [1, 1, 0]]);
    const b = buildRoundBatch(res.episodes, { groupSize: 2, scaleRewards: 'group', lossType: 'bnpo', updates: 2, beta: 0, maskTruncated: false });
    expect(b.updates.map((u) => [...new Set(u.samples.map((s) => s.episode))])).toEqual([[0, 1], [2, 3]]);
    expect(b.advantages.zeroStdGroups).toBe(0);

    // Same outcome for every member → zero advantage, no samples carry gradient, but the group is counted.
    const allFail = res.episodes.map((e) => ({ ...e, reward: { ...e.reward, reward: 0 } }));
    const z = buildRoundBatch(allFail, { groupSize: 2, scaleRewards: 'group', lossType: 'dapo', updates: 1, beta: 0, maskTruncated: false });
    expect(z.updates[0].samples).toHaveLength(0);
    expect(z.updates[0].allSamples).toHaveLength(8);
    expect(z.advantages.fracRewardZeroStd).toBe(1);
    // With a KL term every sample stays (it still pulls towards the reference).
    const k = buildRoundBatch(allFail, { groupSize: 2, scaleRewards: 'group', lossType: 'dapo', updates: 1, beta: 0.1, maskTruncated: false });
    expect(k.updates[0].samples).toHaveLength(8);
  });

  it('a lost browser replays the round with the same draws', async () => {
    const lose = { pending: true };
    const log: string[] = [];
    const warnings: string[] = [];
    const gen = new ScriptedGenerator();
    const slots = new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode(log, lose) });
    const res = await runRollout({ ...options(gen), warn: (m) => warnings.push(m) }, slots, [{ task: 't', seed: 3 }], 2, (t) => t);
    expect(res.timings.crashRetries).toBe(1);
    expect(warnings[0]).toMatch(/browser lost .* replaying the round/);
    expect(res.episodes.map((e) => e.reward.success)).toEqual([true, false]);
    // The replay started from fresh resets with the same seed.
    expect(log).toEqual(['reset t 3', 'reset t 3', 'reset t 3', 'reset t 3']);
  });

  it('an env call that fails (a page load timing out) replays the round; a generator bug does not', async () => {
    let failResets = 1;
    const log: string[] = [];
    const gen = new ScriptedGenerator();
    const slots = new EpisodeSlots({
      newEpisode: async () => {
        const ep = new TwoClickEpisode(log);
        const reset = ep.reset.bind(ep);
        ep.reset = async (o) => {
          if (failResets-- > 0) throw new Error('page.goto: Timeout 5000ms exceeded.');
          return reset(o);
        };
        return ep;
      },
    });
    const warnings: string[] = [];
    const res = await runRollout({ ...options(gen), warn: (m) => warnings.push(m) }, slots, [{ task: 't', seed: 3 }], 2, () => 0);
    expect(res.timings.crashRetries).toBe(1);
    expect(warnings[0]).toMatch(/environment error during a rollout round \(page\.goto: Timeout/);
    expect(res.episodes.map((e) => e.reward.success)).toEqual([true, false]);

    const broken: Generator = { generate: async () => { throw new Error('generator bug'); } };
    await expect(runRollout(options(broken), slots, [{ task: 't', seed: 3 }], 2, () => 0)).rejects.toThrow('generator bug');
  });

  it('constrained rollouts pass the page’s allowed actions as a trie ending with the end-of-turn token', async () => {
    const gen = new ScriptedGenerator();
    const slots = new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode([]) });
    await runRollout(options(gen, true), slots, [{ task: 't', seed: 3 }], 2, () => 0);
    const trie = gen.calls[0].requests[0].trie!;
    expect(trie.strings).toEqual(["click('1')", "click('2')"]);
    expect(trieWalk(trie, [...tokenizer.encode("click('2')"), IM_END])).toBeGreaterThan(0);
    expect(triePaths(trie)).toHaveLength(2);
  });

  it('gives each episode a page that last showed its task, opening pages only when there are too few', async () => {
    let opened = 0;
    const slots = new EpisodeSlots({ newEpisode: async () => ({ id: opened++ }) as unknown as Episode });
    const ids = async (tasks: string[]) => ((await slots.take(tasks)) as unknown as Array<{ id: number }>).map((e) => e.id);
    expect(await ids(['a', 'a', 'b'])).toEqual([0, 1, 2]);
    // b's page goes to b, a's pages to the a's; no page is handed out twice.
    expect(await ids(['b', 'a', 'a'])).toEqual([2, 0, 1]);
    // c has no page of its own: it takes the page of a task this call does not want (b's), not one of a's.
    expect(await ids(['a', 'c', 'a'])).toEqual([0, 2, 1]);
    expect(await ids(['c', 'a', 'a', 'd'])).toEqual([2, 0, 1, 3]);
    expect(opened).toBe(4);
    // Fewer episodes than pages: still one page each, matched by task.
    expect(await ids(['d'])).toEqual([3]);
  });

  it('reads the action of a completion, or nothing', () => {
    expect(actionOfCompletion("click('13')")).toBe("click('13')");
    expect(actionOfCompletion('I will click("13") now')).toBe("click('13')");
    expect(actionOfCompletion('hello')).toBe('');
  });
});

describe('rollout recording (replays)', () => {
  /** TwoClickEpisode whose screenshots name the page state; the first one taken fails. */
  class CameraEpisode extends TwoClickEpisode {
    shots: Array<string | null> = [];
    failNext = true;
    async capture(targetBid: string | null) {
      this.shots.push(targetBid);
      if (this.failNext) {
        this.failNext = false;
        throw new Error('renderer busy');
      }
      return { png: Buffer.from(`png after ${this.clicks.length} clicks`), target: targetBid ? { x: 1, y: 2, width: 3, height: 4 } : null };
    }
  }

  it('chosen episodes get a screenshot per step (target = the action bid) and one at the end; failures are kept as null', async () => {
    const eps: CameraEpisode[] = [];
    const warnings: string[] = [];
    const slots = new EpisodeSlots({ newEpisode: async () => { const e = new CameraEpisode([]); eps.push(e); return e; } });
    const opts = { ...options(new ScriptedGenerator()), warn: (m: string) => warnings.push(m), record: (_g: number, member: number) => member === 0 };
    const res = await runRollout(opts, slots, [{ task: 'two-click', seed: 1 }], 2, () => 9);
    const plain = await runRollout(options(new ScriptedGenerator()), new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode([]) }), [{ task: 'two-click', seed: 1 }], 2, () => 9);
    // Recording changes nothing the rollout returns besides the screenshots.
    const strip = (r: typeof res) => r.episodes.map((e) => ({ ...e, finalScreenshot: undefined, steps: e.steps.map((s) => ({ ...s, screenshot: undefined })) }));
    expect(strip(res)).toEqual(strip(plain));
    // Member 0: before each action (its target), then the end; member 1 is not recorded.
    expect(eps[0].shots).toEqual(['1', '2', null]);
    expect(eps[1].shots).toEqual([]);
    const [rec, unrec] = res.episodes;
    expect(rec.steps.map((s) => s.screenshot && s.screenshot.png.toString())).toEqual([null, 'png after 1 clicks']);
    expect(rec.steps[1].screenshot!.target).toEqual({ x: 1, y: 2, width: 3, height: 4 });
    expect(rec.finalScreenshot!.png.toString()).toBe('png after 2 clicks');
    expect(unrec.finalScreenshot).toBeUndefined();
    expect(unrec.steps.every((s) => !('screenshot' in s))).toBe(true);
    expect(warnings).toEqual(["replay screenshot failed (two-click seed 1 step 0): renderer busy; recorded without an image"]);
  });

  it('an environment without screenshots records the steps without images and warns once', async () => {
    const warnings: string[] = [];
    const opts = { ...options(new ScriptedGenerator()), warn: (m: string) => warnings.push(m), record: () => true };
    const res = await runRollout(opts, new EpisodeSlots({ newEpisode: async () => new TwoClickEpisode([]) }), [{ task: 'two-click', seed: 1 }], 2, () => 9);
    expect(res.episodes.every((e) => e.finalScreenshot === null && e.steps.every((s) => s.screenshot === null))).toBe(true);
    expect(warnings).toEqual(['this environment takes no screenshots (a remote server): replays are recorded without images']);
  });
});
