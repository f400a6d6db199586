// OpenEnvServerPool over several in-process OpenEnv servers with fake pages: episodes spread by free capacity, a
// server that fails (closed, unreachable, silent past the deadline, full) leaves the pool and a restarted one
// rejoins, per-server metrics, startup errors, and a rollout round replayed on the remaining servers with the same
// episodes as a round run on those servers alone.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OpenEnvError } from '../lib/env/client.ts';
import { OpenEnvServerPool, type OpenEnvServerPoolOptions } from '../lib/env/server-pool.ts';
import { createServer, type EnvServer } from '../lib/env/server/server.ts';
import type { EnvOptions, Episode } from '../lib/env/types.ts';
import type { ChatMessage } from '../lib/engine/tokenizer.ts';
import type { GeneratedSample, GenerationRequest, Generator } from '../lib/rl/generator.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { EpisodeSlots, runRollout, type RolloutOptions } from '../lib/rl/rollout.ts';
import { FakePool } from './env-server-fakes.ts';

const servers: EnvServer[] = [];
const others: Server[] = [];
const pools: OpenEnvServerPool[] = [];
const sockets: WebSocket[] = [];
const held: Duplex[] = [];

afterEach(async () => {
  await Promise.allSettled(pools.splice(0).map((p) => p.close()));
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const socket of held.splice(0)) socket.destroy();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
  await Promise.allSettled(
    others.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

async function serve(maxSessions: number, pool: FakePool | StallPool = new FakePool(1), port = 0): Promise<{ url: string; server: EnvServer }> {
  const server = createServer({ pool, maxSessions });
  servers.push(server);
  return { url: await server.listen(port), server };
}

async function connect(urls: string[], opts: OpenEnvServerPoolOptions = {}): Promise<{ pool: OpenEnvServerPool; log: string[] }> {
  const log: string[] = [];
  const pool = await OpenEnvServerPool.connect(urls, { log: (m) => log.push(m), ...opts });
  pools.push(pool);
  return { pool, log };
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<string> {
  const s = createHttpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

/** A WebSocket session held by another client (it takes one of the server's slots). */
function holdSession(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
    sockets.push(ws);
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** FakePool whose pages stop answering while `stalled` is set (a server that hangs without closing connections). */
class StallPool extends FakePool {
  stalled = false;
  override async newEpisode(opts: Partial<EnvOptions> = {}): Promise<Episode> {
    const ep = await super.newEpisode(opts);
    const gate = async <T>(f: () => Promise<T>) => {
      while (this.stalled) await new Promise((r) => setTimeout(r, 20));
      return f();
    };
    return {
      reset: (o) => gate(() => ep.reset(o)),
      step: (a) => gate(() => ep.step(a)),
      observe: () => gate(() => ep.observe()),
      close: () => ep.close(),
    };
  }
}

describe('OpenEnvServerPool: spreading episodes', () => {
  it('gives each server episodes in proportion to its free sessions', async () => {
    const a = await serve(6);
    const b = await serve(2);
    const c = await serve(4);
    // Another client holds 2 of c's 4 sessions: 2 are free.
    await holdSession(c.url);
    await holdSession(c.url);
    const { pool } = await connect([a.url, b.url, c.url]);
    expect(pool.describe()).toBe(`3 OpenEnv servers ${a.url}, ${b.url}, ${c.url} (free sessions 6/2/2)`);
    const eps = [];
    for (let i = 0; i < 10; i++) eps.push(await pool.newEpisode());
    await Promise.all(eps.map((e, i) => e.reset({ task: 'click-test', seed: i })));
    expect([a, b, c].map((s) => s.server.registry.size)).toEqual([6, 2, 4]);
    // Every server is full now: the next episode has nowhere to go, and the error says why.
    const err = await pool.newEpisode().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenEnvError);
    expect((err as Error).message).toMatch(/no OpenEnv server can take another episode \(0 .*: 6 of 6 sessions in use; 1 .*: 2 of 2 sessions in use; 2 .*: 2 of 2 sessions in use\)/);
    // Closed episodes free their slots for the next ones.
    await eps[0]!.close();
    const again = await pool.newEpisode();
    await again.reset({ task: 'click-test', seed: 1 });
    expect(a.server.registry.size).toBe(6);
  });

  it('asks the servers again when they look full, and steers away from one that fills up', async () => {
    const a = await serve(2);
    const b = await serve(4);
    const { pool } = await connect([a.url, b.url]);
    // Someone else takes both of a's sessions after the pool looked.
    await holdSession(a.url);
    await holdSession(a.url);
    const first = await pool.newEpisode();
    const refused = await first.reset({ task: 'click-test', seed: 1 }).then(() => null, (e: unknown) => e as OpenEnvError);
    expect(refused?.code).toBe('too_many_sessions');
    expect(refused?.message).toMatch(/^env server 0 \(http:\/\/127\.0\.0\.1:\d+\): /);
    await first.close();
    // a is not taken out (it is healthy, only full): later episodes go to b.
    expect(pool.liveServers).toBe(2);
    const eps = await Promise.all([pool.newEpisode(), pool.newEpisode()]);
    await Promise.all(eps.map((e, i) => e.reset({ task: 'click-test', seed: i })));
    expect(b.server.registry.size).toBe(2);
    // The other client leaves: when b is full too, the pool asks again and finds a's slots.
    for (const ws of sockets.splice(0)) ws.close();
    await waitFor(() => a.server.registry.size === 0, "a's sessions to close");
    const more = [];
    for (let i = 0; i < 4; i++) more.push(await pool.newEpisode());
    await Promise.all(more.map((e, i) => e.reset({ task: 'click-test', seed: i })));
    expect([a.server.registry.size, b.server.registry.size]).toEqual([2, 4]);
  });
});

describe('OpenEnvServerPool: failing servers', () => {
  it('takes a server that closes out of the pool, counts it in the metrics, and takes it back when it returns', async () => {
    const a = await serve(4);
    const b = await serve(4);
    const { pool, log } = await connect([a.url, b.url], { retryAfterMs: 0 });
    const [e0, e1] = [await pool.newEpisode(), await pool.newEpisode()];
    await Promise.all([e0.reset({ task: 'click-test', seed: 1 }), e1.reset({ task: 'click-test', seed: 2 })]);
    expect((await e0.step("click('13')")).reward).toBe(1);
    let m = pool.metrics();
    expect(m['env/server/0/resets']).toBe(1);
    expect(m['env/server/0/steps']).toBe(1);
    expect(m['env/server/0/reset_p50_ms']).toBeGreaterThan(0);
    expect(m['env/server/1/step_p50_ms']).toBeNull();
    expect(m['env/server/0/failures']).toBe(0);
    // Samples are per call of metrics().
    expect(pool.metrics()['env/server/0/resets']).toBe(0);

    const port = Number(new URL(a.url).port);
    await a.server.close();
    const err = await e0.step("click('13')").then(() => null, (e: unknown) => e as OpenEnvError);
    expect(err?.code).toBe('connection_closed');
    expect(err?.message).toContain(`env server 0 (${a.url})`);
    expect(pool.liveServers).toBe(1);
    expect(log.join('\n')).toMatch(/env server 0 \(.*\) taken out of the pool: step failed: connection closed .*; 1 server left/);
    m = pool.metrics();
    expect(m['env/server/0/failures']).toBe(1);
    expect(m['env/server/0/up']).toBe(0);
    expect(m['env/server/1/up']).toBe(1);
    await e0.close();
    // While a is down every new episode goes to b (the probe finds nothing on a's port).
    const e2 = await pool.newEpisode();
    await e2.reset({ task: 'click-test', seed: 3 });
    expect(b.server.registry.size).toBe(2);

    // A server on the same address again: the next probe takes it back.
    await serve(4, new FakePool(1), port);
    const e3 = await pool.newEpisode();
    await e3.reset({ task: 'click-test', seed: 4 });
    expect(pool.liveServers).toBe(2);
    expect(log.at(-1)).toMatch(/env server 0 .* is back in the pool/);
    expect(pool.metrics()['env/server/0/up']).toBe(1);
  });

  it('a server that stops answering is out after the deadline, not later', async () => {
    const stall = new StallPool(1);
    const a = await serve(4, stall);
    const b = await serve(4);
    const { pool, log } = await connect([a.url, b.url], { timeoutMs: 400 });
    const ep = await pool.newEpisode();
    await ep.reset({ task: 'click-test', seed: 1 });
    stall.stalled = true;
    const t0 = performance.now();
    const err = await ep.step("click('13')").then(() => null, (e: unknown) => e as OpenEnvError);
    const waited = performance.now() - t0;
    stall.stalled = false;
    expect(err?.code).toBe('timeout');
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(3000);
    expect(log.join('\n')).toMatch(/env server 0 .* taken out of the pool: step failed: step timed out after 400 ms/);
    await ep.close();
    const next = await pool.newEpisode();
    await next.reset({ task: 'click-test', seed: 2 });
    expect(b.server.registry.size).toBe(1);
  });

  it('a WebSocket upgrade that never completes fails the connect within the deadline', async () => {
    // Answers the HTTP probes like a server, but holds every upgrade.
    const silent = createHttpServer((req, res) => {
      const body = req.url === '/capacity' ? { active_sessions: 0, max_sessions: 8 } : req.url === '/tasks' ? { tasks: ['click-test', 'enter-text'] } : { status: 'healthy' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    silent.on('upgrade', (_req, socket: Duplex) => held.push(socket));
    others.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const b = await serve(2);
    const { pool } = await connect([silentUrl, b.url], { timeoutMs: 300 });
    const t0 = performance.now();
    const err = await pool.newEpisode().then(() => null, (e: unknown) => e as OpenEnvError);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(err?.code).toBe('connection_failed');
    expect(pool.liveServers).toBe(1);
    const ep = await pool.newEpisode();
    expect((await ep.reset({ task: 'click-test', seed: 5 })).goal).toBe('Goal of click-test #5');
  });
});

describe('OpenEnvServerPool: connecting', () => {
  it('starts without an unreachable server, with a warning; fails when none is reachable, naming each', async () => {
    const a = await serve(2);
    const dead = await deadPort();
    const { pool, log } = await connect([dead, a.url]);
    expect(pool.liveServers).toBe(1);
    expect(log[0]).toMatch(new RegExp(`env server 0 \\(${dead}\\) is not in the pool: unreachable: fetch failed .*ECONNREFUSED`));
    expect(pool.describe()).toBe(`2 OpenEnv servers ${dead} (down), ${a.url} (free sessions ?/2)`);
    expect(pool.metrics()['env/server/0/failures']).toBe(1);
    const dead2 = await deadPort();
    await expect(OpenEnvServerPool.connect([dead, dead2])).rejects.toThrow(
      new RegExp(`cannot reach any of the 2 OpenEnv servers \\(0 ${dead}: unreachable: .*; 1 ${dead2}: unreachable: `),
    );
    await expect(OpenEnvServerPool.connect([dead])).rejects.toThrow(new RegExp(`^cannot reach OpenEnv server at ${dead}: unreachable`));
  });

  it('refuses servers that list different tasks, and a server listed twice', async () => {
    const a = await serve(2);
    const other = new FakePool(1);
    other.taskNames = () => ['click-test'];
    const b = await serve(2, other);
    await expect(OpenEnvServerPool.connect([a.url, b.url])).rejects.toThrow(/OpenEnv servers 0 .* and 1 .* list different tasks \(2 and 1\)/);
    await expect(OpenEnvServerPool.connect([a.url, `${a.url.replace(/^http/, 'ws')}/ws`])).rejects.toThrow(/is listed twice \(entries 1 and 2\)/);
    await expect(OpenEnvServerPool.connect([])).rejects.toThrow(/no server URL/);
  });
});

// ---- a rollout round over the pool: a server lost mid-round costs a replay, not data

const IM_END = 256;
const tokenizer = {
  vocabSize: 257,
  imEndId: IM_END,
  encode: (text: string) => [...Buffer.from(text, 'utf8')],
  decode: (ids: readonly number[]) => Buffer.from(ids.filter((i) => i < 256)).toString('utf8'),
  applyChatTemplate: (messages: readonly ChatMessage[]) => [...Buffer.from(messages.map((m) => `<${m.role}>${String(m.content)}`).join('') + '<assistant>', 'utf8')],
};

/** Clicks the button or misses it, by a hash of (seed, request, sample), so outcomes vary but replay exactly. */
class HashGenerator implements Generator {
  calls = 0;
  constructor(private readonly beforeCall?: (n: number) => Promise<void>) {}
  async generate(requests: readonly GenerationRequest[], settings: { seed: number }) {
    this.calls += 1;
    await this.beforeCall?.(this.calls);
    const samples = requests.map((r, ri) =>
      Array.from({ length: r.n }, (_, s): GeneratedSample => {
        const hit = (settings.seed * 31 + ri * 7 + s * 13 + r.prompt.length) % 3 === 0;
        const tokens = [...tokenizer.encode(hit ? "click('13')" : "click('9')"), IM_END];
        return { tokens, logprobs: tokens.map(() => -0.1), finish: 'stop' };
      }),
    );
    return { samples, timings: { seconds: 0 } };
  }
}

function rolloutOptions(generator: Generator, warn: (m: string) => void): RolloutOptions {
  return {
    tokenizer,
    prompts: new PromptBuilder({ actionSet: ['click'], defaultGoal: 'Do the task.', axtreeMaxTokens: 512, historyLength: 2, countTokens: (t) => t.length }),
    generator,
    sampling: { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 16, stopIds: [IM_END] },
    constrained: false,
    actionSet: ['click'],
    maxEnvSteps: 3,
    shaping: { invalidActionPenalty: 0, stepPenalty: 0 },
    warn,
  };
}

describe('OpenEnvServerPool in a rollout', () => {
  it('a server closed mid-round: the round is replayed on the others and equals a round run on them alone', async () => {
    const groups = [{ task: 'click-test', seed: 11 }, { task: 'enter-text', seed: 12 }, { task: 'click-test', seed: 13 }];
    // 12 episodes: spread 6 + 6 + 4 at first, and the 12 slots of the first two take the replay.
    const a = await serve(6);
    const b = await serve(6);
    const c = await serve(4);
    const warnings: string[] = [];
    const { pool } = await connect([a.url, b.url, c.url]);
    // Server 2 goes away after the first env step of the round.
    const gen = new HashGenerator(async (n) => {
      if (n === 2) await c.server.close();
    });
    const slots = new EpisodeSlots({ newEpisode: () => pool.newEpisode() });
    const hit = await runRollout(rolloutOptions(gen, (m) => warnings.push(m)), slots, groups, 4, (t) => 100 + t);
    await slots.close();
    expect(hit.timings.crashRetries).toBe(1);
    expect(warnings.join('\n')).toMatch(/environment error during a rollout round \(env server 2 .*connection closed.*\); replaying the round/);
    expect(pool.metrics()['env/server/2/up']).toBe(0);

    const { pool: survivors } = await connect([a.url, b.url]);
    const quiet = new EpisodeSlots({ newEpisode: () => survivors.newEpisode() });
    const ref = await runRollout(rolloutOptions(new HashGenerator(), () => undefined), quiet, groups, 4, (t) => 100 + t);
    await quiet.close();
    expect(ref.timings.crashRetries).toBe(0);
    expect(hit.episodes).toEqual(ref.episodes);
    // Both outcomes occur, so the comparison means something.
    expect(new Set(ref.episodes.map((e) => e.reward.success)).size).toBe(2);
  });
});
