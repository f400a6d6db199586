// OpenEnvClient (an Episode over the OpenEnv protocol) against this project's server with a fake pool, and against
// a stub that answers like OpenEnv's Python server (bool error flag, list screenshots, no observe route).
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenEnvClient, OpenEnvError, OpenEnvPool, openEnvBaseUrl, type OpenEnvTransportKind } from '../lib/env/client.ts';
import { decodePngToRgb, rgbToNestedLists } from '../lib/env/server/png.ts';
import { observationFromWire, resultFromWire } from '../lib/env/server/protocol.ts';
import { createServer, type EnvServer, type EnvServerOptions } from '../lib/env/server/server.ts';
import { openEnvironment } from '../lib/rl/environment.ts';
import { FakePool } from './env-server-fakes.ts';

let server: EnvServer | undefined;
const clients: OpenEnvClient[] = [];
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

async function start(opts: Partial<EnvServerOptions> = {}, pool = new FakePool()): Promise<{ url: string; pool: FakePool }> {
  server = createServer({ pool, ...opts });
  return { url: await server.listen(0), pool };
}

async function connect(url: string, transport: OpenEnvTransportKind, opts = {}): Promise<OpenEnvClient> {
  const c = await OpenEnvClient.connect(url, { transport, ...opts });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<OpenEnvError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenEnvError);
  return err as OpenEnvError;
}

for (const transport of ['http', 'ws'] as const) {
  describe(`OpenEnvClient over ${transport}`, () => {
    it('plays a full episode as an Episode', async () => {
      const { url } = await start({ episodeOptions: { maxSteps: 10 } });
      const env = await connect(url, transport);
      const obs = await env.reset({ task: 'enter-text', seed: 21 });
      expect(obs.goal).toBe('Goal of enter-text #21');
      expect(obs.axtree_txt).toContain('seed=21 step=0');
      expect(obs.pruned_html).toBe('<button bid="13">seed 21</button>');
      expect(obs.last_action_error).toBe('');
      expect(obs.screenshot).toBeUndefined();

      const bad = await env.step("click('7')");
      expect(bad.observation.last_action_error).toBe(`ValueError: Could not find element with bid "click('7')"`);
      expect(bad.observation.last_action).toBe("click('7')");
      expect(bad.observation.focused_element_bid).toBe('13');
      expect(bad).toMatchObject({ reward: 0, done: false, truncated: false });

      const good = await env.step("click('13')");
      expect(good).toMatchObject({ reward: 1, done: true, truncated: false });
      expect(good.info).toMatchObject({ raw_reward: 1 });
      expect((await env.observe()).axtree_txt).toContain('step=2');
      expect(await env.state()).toMatchObject({ task_name: 'enter-text', seed: 21, step_count: 2, cum_reward: 1 });

      await env.close();
      clients.length = 0;
      for (let i = 0; i < 50 && server!.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server!.registry.size).toBe(0);
    });

    it('reports truncation at max steps', async () => {
      const { url } = await start({ episodeOptions: { maxSteps: 2 } });
      const env = await connect(url, transport);
      await env.reset({ task: 'click-test', seed: 1 });
      expect((await env.step('noop()')).truncated).toBe(false);
      expect((await env.step('noop()')).truncated).toBe(true);
    });

    it('returns PNG screenshots when asked', async () => {
      const { url, pool } = await start();
      const env = await connect(url, transport, { screenshot: true });
      const obs = await env.reset({ task: 'click-test', seed: 1 });
      expect(decodePngToRgb(obs.screenshot!)).toEqual(pool.episodes[0]!.pixels);
    });

    it('raises OpenEnvError with the server code for bad requests', async () => {
      const { url } = await start();
      const env = await connect(url, transport);
      const early = await rejection(env.step("click('13')"));
      expect(early.code).toBe(transport === 'http' ? 'unknown_session' : 'not_reset');
      const task = await rejection(env.reset({ task: 'fly-a-plane', seed: 1 }));
      expect(task.code).toBe('unknown_task');
      expect(task.message).toContain("unknown task 'fly-a-plane'");
      if (transport === 'http') expect(task.status).toBe(400);
      // Still usable afterwards.
      expect((await env.reset({ task: 'click-test', seed: 2 })).goal).toBe('Goal of click-test #2');
    });

    it('runs a GRPO-style group in parallel: same seed, same observations, separate pages', async () => {
      const { url, pool } = await start({ maxSessions: 8 }, new FakePool(10));
      const group = await Promise.all([0, 1, 2, 3].map(() => connect(url, transport)));
      const first = await Promise.all(group.map((e) => e.reset({ task: 'click-test', seed: 77 })));
      for (const o of first) expect(o).toEqual(first[0]);
      const results = await Promise.all(group.map((e, i) => e.step(i % 2 ? "click('13')" : 'noop()')));
      expect(results.map((r) => r.reward)).toEqual([0, 1, 0, 1]);
      expect(pool.episodes).toHaveLength(4);
      expect(pool.episodes.some((e) => e.overlapped)).toBe(false);
    });
  });
}

describe('server URL forms', () => {
  it('maps http, ws, the /ws endpoint and trailing slashes to one HTTP base', () => {
    for (const u of ['http://127.0.0.1:8000', 'http://127.0.0.1:8000/', 'ws://127.0.0.1:8000', 'ws://127.0.0.1:8000/', 'ws://127.0.0.1:8000/ws', 'ws://127.0.0.1:8000/ws/', 'http://127.0.0.1:8000/ws']) {
      expect(openEnvBaseUrl(u), u).toBe('http://127.0.0.1:8000');
    }
    expect(openEnvBaseUrl('wss://env.example.org/ws')).toBe('https://env.example.org');
    expect(openEnvBaseUrl('https://env.example.org:8443//')).toBe('https://env.example.org:8443');
    // A proxy prefix stays; only a final /ws segment is the WebSocket endpoint.
    expect(openEnvBaseUrl('wss://example.org/envs/a/ws')).toBe('https://example.org/envs/a');
    expect(openEnvBaseUrl('http://example.org/wsx')).toBe('http://example.org/wsx');
  });

  it('rejects other schemes, non-URLs and queries with the URL in the message', () => {
    expect(() => openEnvBaseUrl('ftp://x:1')).toThrow(/must start with http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/, got 'ftp:\/\/x:1'/);
    expect(() => openEnvBaseUrl('localhost:8000')).toThrow(/must start with http/);
    expect(() => openEnvBaseUrl('127.0.0.1:8000')).toThrow(/'127.0.0.1:8000' is not a URL \(expected http:\/\/host:port/);
    expect(() => openEnvBaseUrl('not a url')).toThrow(/'not a url' is not a URL/);
    expect(() => openEnvBaseUrl('http://x:1/?a=b')).toThrow(/must not have a query or fragment/);
  });

  it('the pool and both transports connect through the ws://…/ws URL serve-env prints', async () => {
    const { url } = await start();
    const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
    const remote = await OpenEnvPool.connect(`${wsUrl}/`);
    expect(remote.taskNames()).toEqual(['click-test', 'enter-text']);
    const ep = await remote.newEpisode();
    expect((await ep.reset({ task: 'click-test', seed: 3 })).goal).toBe('Goal of click-test #3');
    await remote.close();
    for (const transport of ['ws', 'http'] as const) {
      const env = await connect(wsUrl, transport);
      expect((await env.reset({ task: 'enter-text', seed: 4 })).goal).toBe('Goal of enter-text #4');
    }
  });

  it("a run's env_url may be the ws://…/ws URL", async () => {
    const { url } = await start();
    const env = await openEnvironment({ env_url: `${url.replace(/^http/, 'ws')}/ws`, miniwob_url: null, max_env_steps: 5 });
    try {
      expect(env.description).toBe(`OpenEnv server ${url}`);
      const ep = await env.factory.newEpisode();
      expect((await ep.reset({ task: 'click-test', seed: 8 })).goal).toBe('Goal of click-test #8');
    } finally {
      await env.close();
    }
  });
});

describe('OpenEnvPool', () => {
  it('has the EnvPool shape over a remote server: task list, episodes, close', async () => {
    const { url, pool } = await start({ maxSessions: 4 });
    const remote = await OpenEnvPool.connect(url, { transport: 'ws' });
    expect(remote.taskNames()).toEqual(['click-test', 'enter-text']);
    const [a, b] = await Promise.all([remote.newEpisode(), remote.newEpisode({ screenshot: true })]);
    const [oa, ob] = await Promise.all([a.reset({ task: 'click-test', seed: 5 }), b.reset({ task: 'enter-text', seed: 6 })]);
    expect(oa.goal).toBe('Goal of click-test #5');
    expect(oa.screenshot).toBeUndefined();
    expect(ob.goal).toBe('Goal of enter-text #6');
    expect(ob.screenshot).toBeInstanceOf(Buffer);
    expect((await a.step("click('13')")).reward).toBe(1);
    expect(remote.liveEpisodes).toBe(2);
    await a.close();
    expect(remote.liveEpisodes).toBe(1);
    await remote.close();
    expect(remote.liveEpisodes).toBe(0);
    for (let i = 0; i < 50 && server!.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.openEpisodes()).toHaveLength(0);
  });

  it('fails clearly when the server is not there', async () => {
    const probe = createHttpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await rejection(OpenEnvPool.connect(`http://127.0.0.1:${port}`));
    expect(err.code).toBe('connection_failed');
    expect(err.message).toContain('cannot reach OpenEnv server');
  });
});

describe('OpenEnvClient failures', () => {
  it('reports a server that is not there', async () => {
    const probe = createHttpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const url = `http://127.0.0.1:${port}`;
    const ws = await rejection(OpenEnvClient.connect(url, { transport: 'ws' }));
    expect(ws.code).toBe('connection_failed');
    const http = await OpenEnvClient.connect(url, { transport: 'http' });
    expect((await rejection(http.reset({ task: 'click-test' }))).code).toBe('connection_failed');
    await expect(OpenEnvClient.connect('ftp://x')).rejects.toThrow(/must start with http/);
    await expect(OpenEnvPool.connect('ftp://x')).rejects.toThrow(/must start with http/);
  });

  it('ws: a refused session (too many) and a timed-out call fail clearly', async () => {
    const { url } = await start({ maxSessions: 1 }, new FakePool(300));
    const a = await connect(url, 'ws', { timeoutMs: 100 });
    const b = await connect(url, 'ws');
    expect((await rejection(b.reset({ task: 'click-test' }))).code).toMatch(/too_many_sessions|connection_closed/);
    expect((await rejection(a.reset({ task: 'click-test' }))).code).toBe('timeout');
    // The connection cannot be trusted after a timeout (replies have no ids), so later calls fail too.
    expect((await rejection(a.state())).code).toBe('timeout');
  });

  it('http: a timed-out call fails with code timeout', async () => {
    const { url } = await start({}, new FakePool(300));
    const env = await connect(url, 'http', { timeoutMs: 100 });
    expect((await rejection(env.reset({ task: 'click-test' }))).code).toBe('timeout');
  });
});

describe('compatibility with the Python OpenEnv server', () => {
  const pixels = { width: 2, height: 2, data: new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1, 250, 128, 64]) };
  const pythonObs = (step: number) => ({
    text: `[13] button 'Click Me!' step=${step}`,
    url: 'http://127.0.0.1:8888/miniwob/click-test.html',
    screenshot: rgbToNestedLists(pixels),
    goal: 'Click the button.',
    axtree_txt: `[13] button 'Click Me!' step=${step}`,
    pruned_html: '<button bid="13">Click Me!</button>',
    error: '',
    last_action_error: step > 0,
  });

  it('decodes its observations: bool error flag, list screenshots, null reward', () => {
    const r = resultFromWire({ observation: pythonObs(1), reward: null, done: false });
    expect(r.reward).toBe(0);
    expect(r.truncated).toBe(false);
    expect(r.observation.last_action_error).toMatch(/failed action/);
    expect(decodePngToRgb(r.observation.screenshot!)).toEqual(pixels);
    expect(observationFromWire(pythonObs(0), false).screenshot).toBeUndefined();
    expect(() => resultFromWire({ reward: 1 })).toThrow(/no observation/);
  });

  it('works over HTTP against a stub of it; observe falls back to the last observation', async () => {
    let steps = 0;
    const stub: Server = createHttpServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      req.resume();
      req.on('end', () => {
        if (req.url === '/reset') return reply(200, { observation: pythonObs(0), reward: null, done: false });
        if (req.url === '/step') return reply(200, { observation: pythonObs(++steps), reward: 0, done: false });
        reply(404, { detail: 'Not Found' });
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', () => r()));
    try {
      const env = await OpenEnvClient.connect(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, { transport: 'http' });
      expect((await env.reset({ task: 'click-test' })).axtree_txt).toContain('step=0');
      const s = await env.step("click('13')");
      expect(s.observation.last_action).toBe("click('13')");
      expect((await env.observe()).axtree_txt).toContain('step=1');
      await env.close(); // /close is 404 there: nothing to free
    } finally {
      await new Promise<void>((r) => stub.close(() => r()));
    }
  });
});
