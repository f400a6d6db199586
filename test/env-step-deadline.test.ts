// The step deadline: pages whose renderer never returns (a click handler or a timer that loops forever) end the step
// within the deadline with a TimeoutError, are closed and replaced, and the episode is truncated; the next reset works
// on the fresh page, closed episodes leave no page behind, and a rollout (the trainer's path) finishes its round.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import type { Episode } from '../lib/env/types.ts';
import type { ChatMessage } from '../lib/engine/tokenizer.ts';
import type { GeneratedSample, GenerationRequest, Generator } from '../lib/rl/generator.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { openEnvironment } from '../lib/rl/environment.ts';
import { EpisodeSlots, runRollout } from '../lib/rl/rollout.ts';
import { BrowserHost } from '../lib/env/browser.ts';
import { closePageHandle } from '../lib/env/page-handle.ts';
import { buttonBid as bidOf, WEDGE_TASKS } from './env-wedge-page.ts';

const DEADLINE_MS = 1000;

describe('step deadline on pages that stop responding', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ builtinTasks: WEDGE_TASKS, stepTimeoutMs: DEADLINE_MS });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('rejects a deadline that is not a positive integer', async () => {
    await expect(pool.newEpisode({ stepTimeoutMs: 0 })).rejects.toThrow('stepTimeoutMs must be a positive integer, got 0');
  });

  for (const [button, what] of [
    ['Loop', 'a click handler that never returns'],
    ['Later', 'a page that starts looping after the action (the observation never comes)'],
  ] as const) {
    it(`${what}: TimeoutError within the deadline, page replaced, episode truncated, next reset works`, async () => {
      const ep = await pool.newEpisode();
      try {
        const o = await ep.reset({ task: 'wedge', seed: 0 });
        const t0 = performance.now();
        const r = await ep.step(`click('${bidOf(o, button)}')`);
        const took = performance.now() - t0;
        // Deadline, recovery window, closing the page and opening the next one: seconds, not forever.
        expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
        expect(took).toBeLessThan(DEADLINE_MS + 8000);
        expect(r.observation.last_action_error).toBe(
          `TimeoutError: step did not finish within ${DEADLINE_MS} ms; the page stopped responding and was replaced`,
        );
        expect(r).toMatchObject({ reward: 0, done: false, truncated: true });
        expect(r.info).toMatchObject({ page_recycled: true, step_timeout: DEADLINE_MS / 1000 });
        // Not a lost browser: a rollout must not replay a round that would wedge the same way again.
        expect(String(r.info.error)).not.toMatch(/browser page was lost/);
        expect((ep as unknown as { pageRecycles: number }).pageRecycles).toBe(1);
        // Only the replacement page is alive; the looping one (and its renderer) is gone.
        expect((await pool.liveTargets()).pages).toBe(1);

        const again = await ep.reset({ task: 'wedge', seed: 0 });
        expect(again.axtree_txt).toBe(o.axtree_txt);
        expect(again.last_action_error).toBe('');
        const win = await ep.step(`click('${bidOf(again, 'Win')}')`);
        expect(win).toMatchObject({ reward: 1, done: true, truncated: false });
        expect(win.observation.last_action_error).toBe('');
      } finally {
        await ep.close();
      }
    });
  }

  it('a step that finishes late on a page that recovers keeps its outcome, marked with a TimeoutError', async () => {
    // Busy blocks 1.3 s, past the 1 s deadline; a long recovery window keeps a loaded machine from turning the late
    // finish into a replaced page.
    const ep = await pool.newEpisode({ stepRecoveryMs: 8000 });
    try {
      const o = await ep.reset({ task: 'wedge', seed: 0 });
      const r = await ep.step(`click('${bidOf(o, 'Busy')}')`);
      expect(r.observation.last_action_error).toBe(`TimeoutError: step did not finish within ${DEADLINE_MS} ms`);
      // The handler blocked past the deadline, then ended the episode: the page shows the win, nothing was replaced.
      expect(r).toMatchObject({ reward: 1, done: true, truncated: false });
      expect((ep as unknown as { pageRecycles: number }).pageRecycles).toBe(0);
    } finally {
      await ep.close();
    }
  });

  it('observe() on a page that loops is a TimeoutError and the page is replaced', async () => {
    const ep = await pool.newEpisode();
    try {
      await ep.reset({ task: 'wedge', seed: 0 });
      // Test-only: start the loop from outside any step.
      const page = (ep as unknown as { handle: { page: { evaluate(e: string): Promise<unknown> } } }).handle.page;
      await page.evaluate('setTimeout(() => { for (;;) {} }, 50)');
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await expect(ep.observe()).rejects.toThrow(
        `observe did not finish within ${DEADLINE_MS} ms; the page stopped responding and was replaced`,
      );
      expect(performance.now() - t0).toBeLessThan(DEADLINE_MS + 8000);
      expect((await ep.reset({ task: 'wedge', seed: 1 })).goal).toBe('Do not click Loop.');
    } finally {
      await ep.close();
    }
  });

  it('closing an episode whose step is stuck closes its page at once', async () => {
    const patient = await pool.newEpisode({ stepTimeoutMs: 60_000 });
    const o = await patient.reset({ task: 'wedge', seed: 0 });
    const stuck = patient.step(`click('${bidOf(o, 'Loop')}')`);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await patient.close();
    expect(performance.now() - t0).toBeLessThan(6000);
    // The stuck step ends (its page is gone) instead of waiting out its minute.
    const r = await stuck;
    expect(r.done).toBe(true);
    expect(performance.now() - t0).toBeLessThan(6000);
    expect((await pool.liveTargets()).pages).toBe(0);
  });
});

// The trainer's path: a GRPO round where one member clicks Loop finishes (that episode truncated with reward 0) and is
// not replayed; the other member wins.
describe('rollouts over pages that stop responding', () => {
  const IM_END = 256;
  const tokenizer = {
    vocabSize: 257,
    imEndId: IM_END,
    encode: (text: string) => [...Buffer.from(text, 'utf8')],
    decode: (ids: readonly number[]) => Buffer.from(ids.filter((i) => i < 256)).toString('utf8'),
    applyChatTemplate: (messages: readonly ChatMessage[]) =>
      [...Buffer.from(messages.map((m) => `<${m.role}>${String(m.content)}`).join('') + '<assistant>', 'utf8')],
  };
  /** Sample 0 clicks Loop, sample 1 clicks Win (bids read from the prompt's accessibility tree). */
  const generator: Generator = {
    async generate(requests: readonly GenerationRequest[]) {
      const samples = requests.map((r) => {
        const prompt = Buffer.from(r.prompt.filter((i) => i < 256)).toString('utf8');
        const bid = (name: string) => new RegExp(`\\[(\\w+)\\] button '${name}'`).exec(prompt)![1];
        return Array.from({ length: r.n }, (_, s): GeneratedSample => {
          const tokens = [...tokenizer.encode(`click('${bid(s === 0 ? 'Loop' : 'Win')}')`), IM_END];
          return { tokens, logprobs: tokens.map(() => -0.1), finish: 'stop' };
        });
      });
      return { samples, timings: { seconds: 0 } };
    },
  };

  it('one member wedges its page: the round ends without a replay', async () => {
    const pool = await EnvPool.launch({ builtinTasks: WEDGE_TASKS, stepTimeoutMs: DEADLINE_MS });
    const slots = new EpisodeSlots({ newEpisode: () => pool.newEpisode() });
    try {
      const warnings: string[] = [];
      const res = await runRollout(
        {
          tokenizer,
          prompts: new PromptBuilder({ actionSet: ['click'], defaultGoal: 'Do it.', axtreeMaxTokens: 512, historyLength: 2, countTokens: (s) => s.length }),
          generator,
          sampling: { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 32, stopIds: [IM_END] },
          constrained: false,
          actionSet: ['click'],
          maxEnvSteps: 3,
          shaping: { invalidActionPenalty: 0, stepPenalty: 0 },
          warn: (m) => warnings.push(m),
        },
        slots,
        [{ task: 'wedge', seed: 0 }],
        2,
        () => 0,
      );
      expect(warnings).toEqual([]);
      expect(res.timings.crashRetries).toBe(0);
      const [looped, won] = res.episodes;
      expect(looped!.steps).toHaveLength(1);
      expect(looped!.steps[0]!.error).toMatch(/^TimeoutError: step did not finish within 1000 ms/);
      expect(looped!.reward.success).toBe(false);
      expect(won!.reward.success).toBe(true);
      // Both pages are usable for the next round.
      const [a, b] = (await slots.take(['wedge', 'wedge'])) as Episode[];
      expect((await a!.reset({ task: 'wedge', seed: 2 })).goal).toBe('Do not click Loop.');
      expect((await b!.reset({ task: 'wedge', seed: 2 })).goal).toBe('Do not click Loop.');
    } finally {
      await slots.close();
      await pool.close();
    }
  });
});

describe('training config', () => {
  it('env_step_timeout_s becomes the local pool deadline', async () => {
    const env = await openEnvironment({ env_url: null, miniwob_url: null, max_env_steps: 3, env_step_timeout_s: 0.75 });
    try {
      const ep = (await env.factory.newEpisode()) as unknown as { config: { stepTimeoutMs: number; maxSteps: number } };
      expect(ep.config).toMatchObject({ stepTimeoutMs: 750, maxSteps: 3 });
    } finally {
      await env.close();
    }
  });
});

describe('closing pages that do not close', () => {
  const never = () => new Promise<void>(() => undefined);
  const done = () => Promise.resolve();

  it('the context first, then the page target alone, then "stuck" — each stage bounded', async () => {
    const calls: string[] = [];
    const fake = (ctx: () => Promise<void>, page: () => Promise<void>) => ({
      context: { close: () => (calls.push('context'), ctx()) },
      page: {
        close: (o?: { runBeforeUnload?: boolean }) => (calls.push(`page runBeforeUnload=${o?.runBeforeUnload}`), page()),
      },
    });
    expect(await closePageHandle(fake(done, never), 100)).toBe('closed');
    expect(calls).toEqual(['context']);
    calls.length = 0;
    expect(await closePageHandle(fake(never, done), 100)).toBe('page-only');
    expect(calls).toEqual(['context', 'page runBeforeUnload=false']);
    const t0 = performance.now();
    expect(await closePageHandle(fake(never, never), 100)).toBe('stuck');
    expect(performance.now() - t0).toBeLessThan(1000);
    // A context that is already gone counts as closed.
    expect(await closePageHandle(fake(() => Promise.reject(new Error('Target closed')), never), 100)).toBe('closed');
  });

  it('BrowserHost.kill ends the browser process; the next request launches a new one', async () => {
    const host = await BrowserHost.launch();
    try {
      const pid = await host.pid();
      await host.kill();
      // The process is gone (signal 0 only checks that it exists).
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 20));
        } catch {
          break;
        }
      }
      expect(() => process.kill(pid, 0)).toThrow();
      expect(await host.pid()).not.toBe(pid);
      expect(host.relaunches).toBe(1);
    } finally {
      await host.close();
    }
  });
});
