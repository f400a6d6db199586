// The OpenEnv server over HTTP and WebSocket with a fake pool: full episodes, session isolation, every class of
// bad request, screenshots, timeouts and shutdown. End-to-end runs with real pages are in env-server-e2e.test.ts.
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodePngToRgb, rgbToNestedLists } from '../lib/env/server/png.ts';
import { createServer, type EnvServer, type EnvServerOptions } from '../lib/env/server/server.ts';
import { FakePool } from './env-server-fakes.ts';

let server: EnvServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(opts: Partial<EnvServerOptions> = {}, pool = new FakePool()): Promise<{ url: string; pool: FakePool }> {
  server = createServer({ pool, ...opts });
  const url = await server.listen(0);
  return { url, pool };
}

async function post(url: string, path: string, body: unknown, session?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session) headers['x-session-id'] = session;
  const res = await fetch(url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function get(url: string, path: string, session?: string) {
  const res = await fetch(url + path, { headers: session ? { 'x-session-id': session } : {} });
  return { status: res.status, body: (await res.json()) as any };
}

/** A WebSocket that collects replies; `ask` sends one message and waits for the next reply. */
class WsPeer {
  private readonly inbox: any[] = [];
  private waiters: ((m: any) => void)[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      const w = this.waiters.shift();
      if (w) w(m);
      else this.inbox.push(m);
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
  }
  static open(url: string): Promise<WsPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace('http', 'ws') + '/ws');
      const peer = new WsPeer(ws);
      ws.once('open', () => resolve(peer));
      ws.once('error', reject);
    });
  }
  next(): Promise<any> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    return new Promise((r) => this.waiters.push(r));
  }
  ask(msg: unknown): Promise<any> {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    return this.next();
  }
  closed(): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((r) => this.ws.once('close', (c) => r(c)));
  }
}

describe('env server over HTTP', () => {
  it('binds to 127.0.0.1 on an ephemeral port and reports health and metadata', async () => {
    const { url } = await start();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(url).port)).toBeGreaterThan(0);
    expect(await get(url, '/health')).toEqual({ status: 200, body: { status: 'healthy' } });
    const meta = await get(url, '/metadata');
    expect(Object.keys(meta.body).sort()).toEqual(['description', 'name', 'version']);
    expect(meta.body.name).toBe('BrowserGymEnv');
    expect((await get(url, '/tasks')).body).toEqual({ benchmark: 'miniwob', default_task: 'click-test', tasks: ['click-test', 'enter-text'] });
    expect((await get(url, '/capacity')).body).toEqual({ active_sessions: 0, max_sessions: 16 });
    const schema = (await get(url, '/schema')).body;
    expect(schema.action.required).toEqual(['action_str']);
    expect(Object.keys(schema.observation.properties)).toContain('axtree_txt');
    expect(Object.keys(schema.state.properties)).toContain('cum_reward');
  });

  it('refuses to start with a default task the pool does not have', () => {
    expect(() => createServer({ pool: new FakePool(), defaultTask: 'fly' })).toThrow(/default task 'fly' is not one of/);
    expect(() => createServer({ pool: new FakePool(), maxSessions: 0 })).toThrow(/maxSessions/);
  });

  it('runs a full episode with OpenEnv fields, state and close', async () => {
    const { url, pool } = await start({ episodeOptions: { maxSteps: 5 } });
    const r = await post(url, '/reset', { seed: 7, task_name: 'browsergym/miniwob.click-test', episode_id: 'ep-1' }, 's1');
    expect(r.status).toBe(200);
    expect(r.body.reward).toBe(0);
    expect(r.body.done).toBe(false);
    const o = r.body.observation;
    expect(o.goal).toBe('Goal of click-test #7');
    expect(o.axtree_txt).toContain("[13] button 'Click Me!' seed=7 step=0");
    expect(o.text).toBe(o.axtree_txt);
    expect(o.pruned_html).toBe('<button bid="13">seed 7</button>'); // pruned_html on by default, as in OpenEnv
    expect(o.url).toBe('http://fake.localhost/miniwob/click-test.html');
    expect(o.screenshot).toBeNull();
    expect(o.error).toBe('');
    expect(o.last_action_error).toBe(false);
    expect(pool.episodes[0]!.opts).toMatchObject({ maxSteps: 5, prunedHtml: true, screenshot: false });

    let st = await get(url, '/state', 's1');
    expect(st.body).toEqual({
      episode_id: 'ep-1',
      step_count: 0,
      benchmark: 'miniwob',
      task_name: 'click-test',
      task_id: 'browsergym/miniwob.click-test',
      goal: 'Goal of click-test #7',
      current_url: 'http://fake.localhost/miniwob/click-test.html',
      max_steps: 5,
      cum_reward: 0,
      seed: 7,
    });

    const bad = await post(url, '/step', { action: { action_str: "click('99')", metadata: {} }, timeout_s: 15 }, 's1');
    expect(bad.status).toBe(200);
    expect(bad.body.observation.last_action_error).toBe(true);
    expect(bad.body.observation.error).toBe(`ValueError: Could not find element with bid "click('99')"`);
    expect(bad.body.observation.last_action).toBe("click('99')");
    expect(bad.body).toMatchObject({ reward: 0, done: false, truncated: false });

    const good = await post(url, '/step', { action: { action_str: "click('13')" } }, 's1');
    expect(good.body).toMatchObject({ reward: 1, done: true, truncated: false });
    expect(good.body.observation.error).toBe('');
    // info survives JSON: a BigInt becomes its string, nothing breaks the reply.
    expect(good.body.metadata).toEqual({ raw_reward: 1, big: '10' });

    st = await get(url, '/state', 's1');
    expect(st.body).toMatchObject({ step_count: 2, cum_reward: 1 });

    // /schema describes exactly the fields that are sent.
    const schema = (await get(url, '/schema')).body;
    expect(Object.keys(good.body.observation).sort()).toEqual(Object.keys(schema.observation.properties).sort());
    expect(Object.keys(st.body).sort()).toEqual(Object.keys(schema.state.properties).sort());

    const obs = await post(url, '/observe', {}, 's1');
    expect(obs.body.observation.axtree_txt).toContain('step=2');

    expect((await post(url, '/close', {}, 's1')).body).toEqual({ closed: true, session_id: 's1' });
    expect(pool.openEpisodes()).toHaveLength(0);
    const gone = await get(url, '/state', 's1');
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('unknown_session');
  });

  it('serves seed-era clients: no session id, empty reset body, bare action dict', async () => {
    const { url } = await start({ defaultTask: 'enter-text' });
    const r = await fetch(url + '/reset', { method: 'POST' });
    const body = (await r.json()) as any;
    expect(r.status).toBe(200);
    expect(r.headers.get('x-session-id')).toBe('default');
    expect(body.observation.goal).toMatch(/^Goal of enter-text #\d+$/);
    const s = await post(url, '/step', { action_str: "click('13')", metadata: {} });
    expect(s.body).toMatchObject({ reward: 1, done: true });
    expect((await get(url, '/state')).body.task_name).toBe('enter-text');
  });

  it('keeps the task and reuses the page across resets; same seed gives the same observation', async () => {
    const { url, pool } = await start();
    const a = await post(url, '/reset', { seed: 3, task_name: 'enter-text' }, 'k');
    const b = await post(url, '/reset', { seed: 3 }, 'k');
    expect(b.body.observation).toEqual(a.body.observation);
    const c = await post(url, '/reset', { seed: 4 }, 'k');
    expect(c.body.observation.axtree_txt).not.toEqual(a.body.observation.axtree_txt);
    expect(pool.episodes).toHaveLength(1);
    expect((await get(url, '/state', 'k')).body.task_name).toBe('enter-text');
  });

  it('turns an exception inside the env into an observation error, as OpenEnv does', async () => {
    const logs: string[] = [];
    const { url } = await start({ log: (m) => logs.push(m) });
    await post(url, '/reset', { seed: 1 }, 'e');
    const r = await post(url, '/step', { action: { action_str: 'crash()' } }, 'e');
    expect(r.status).toBe(200);
    expect(r.body.observation.error).toBe('EnvError: page crashed');
    expect(r.body.observation.last_action_error).toBe(true);
    expect(r.body.reward).toBe(0);
    expect(logs.some((l) => l.includes('page crashed'))).toBe(true);
    // The session keeps working.
    expect((await post(url, '/step', { action: { action_str: "click('13')" } }, 'e')).body.reward).toBe(1);
  });

  it('answers 500 when a reset fails, and refuses steps until a reset succeeds', async () => {
    const { url } = await start();
    await post(url, '/reset', { seed: 1 }, 'f');
    const r = await post(url, '/reset', { seed: 666 }, 'f');
    expect(r).toMatchObject({ status: 500, body: { code: 'env_error', detail: 'page failed to load' } });
    const s = await post(url, '/step', { action: { action_str: "click('13')" } }, 'f');
    expect(s).toMatchObject({ status: 409, body: { code: 'not_reset' } });
    expect((await post(url, '/reset', { seed: 2 }, 'f')).status).toBe(200);
    expect((await post(url, '/step', { action: { action_str: "click('13')" } }, 'f')).body.reward).toBe(1);
  });

  it('sends screenshots only when asked: OpenEnv lists or base64 PNG', async () => {
    const { url, pool } = await start();
    const none = await post(url, '/reset', { seed: 1 }, 'p');
    expect(none.body.observation.screenshot).toBeNull();
    const lists = await post(url, '/reset', { seed: 1, screenshot: true }, 'p');
    // A session switching to screenshots gets a new page created with screenshot: true.
    expect(pool.episodes).toHaveLength(2);
    expect(pool.episodes[0]!.closed).toBe(true);
    const ep = pool.episodes[1]!;
    expect(lists.body.observation.screenshot).toEqual(rgbToNestedLists(ep.pixels));
    const png = await post(url, '/step', { action: { action_str: 'noop()' } }, 'p'); // format stays for the session
    expect(png.body.observation.screenshot).toHaveLength(3);
    const b64 = await post(url, '/reset', { seed: 1, screenshot: 'png' }, 'p');
    const decoded = decodePngToRgb(Buffer.from(b64.body.observation.screenshot, 'base64'));
    expect(decoded).toEqual(ep.pixels);
  });

  it('answers 504 when a step exceeds timeout_s and keeps the session usable', async () => {
    const { url } = await start({}, new FakePool(300));
    await post(url, '/reset', { seed: 1 }, 't');
    const r = await post(url, '/step', { action: { action_str: "click('13')" }, timeout_s: 0.05 }, 't');
    expect(r.status).toBe(504);
    expect(r.body.code).toBe('timeout');
    const st = await get(url, '/state', 't');
    expect(st.status).toBe(200);
  });
});

describe('env server over WebSocket', () => {
  it('runs a full episode with reset/step/state/observe/close messages', async () => {
    const { url, pool } = await start();
    const peer = await WsPeer.open(url);
    const r = await peer.ask({ type: 'reset', data: { seed: 11, task_name: 'click-test' } });
    expect(r.type).toBe('observation');
    expect(r.data).toMatchObject({ reward: 0, done: false });
    expect(r.data.observation.goal).toBe('Goal of click-test #11');

    const bad = await peer.ask({ type: 'step', data: { action_str: "fill('13', 'x')", metadata: {} } });
    expect(bad.data.observation.last_action_error).toBe(true);
    const good = await peer.ask({ type: 'step', data: { action_str: "click('13')" } });
    expect(good.data).toMatchObject({ reward: 1, done: true });

    const st = await peer.ask({ type: 'state' });
    expect(st.type).toBe('state');
    expect(st.data).toMatchObject({ step_count: 2, cum_reward: 1, task_name: 'click-test', seed: 11 });
    const ob = await peer.ask({ type: 'observe' });
    expect(ob.data.observation.axtree_txt).toContain('step=2');

    peer.ws.send(JSON.stringify({ type: 'close' }));
    expect(await peer.closed()).toBe(1000);
    await new Promise((r) => setTimeout(r, 20));
    expect(pool.openEpisodes()).toHaveLength(0);
    expect(server!.registry.size).toBe(0);
  });

  it('frees the session when the client disconnects without close', async () => {
    const { url, pool } = await start();
    const peer = await WsPeer.open(url);
    await peer.ask({ type: 'reset', data: { seed: 1 } });
    expect(server!.registry.size).toBe(1);
    peer.ws.terminate();
    for (let i = 0; i < 50 && server!.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server!.registry.size).toBe(0);
    expect(pool.openEpisodes()).toHaveLength(0);
  });
});

describe('concurrent sessions', () => {
  it('keep separate pages and state, and never overlap operations on one page', async () => {
    const { url, pool } = await start({ maxSessions: 8 }, new FakePool(15));
    const httpIds = ['h0', 'h1', 'h2', 'h3'];
    const peers = await Promise.all([0, 1, 2, 3].map(() => WsPeer.open(url)));
    const seedOf = (i: number) => 100 + i;
    const httpRuns = httpIds.map(async (id, i) => {
      const r = await post(url, '/reset', { seed: seedOf(i), task_name: i % 2 ? 'enter-text' : 'click-test' }, id);
      expect(r.body.observation.goal).toContain(`#${seedOf(i)}`);
      // Three steps fired at once on one session: the server runs them one after another.
      const steps = await Promise.all([1, 2, 3].map((k) => post(url, '/step', { action: { action_str: `noop(${k})` } }, id)));
      for (const s of steps) expect(s.body.observation.axtree_txt).toContain(`seed=${seedOf(i)}`);
      expect(steps.map((s) => s.body.observation.axtree_txt.match(/step=(\d)/)![1]).sort()).toEqual(['1', '2', '3']);
      return (await get(url, '/state', id)).body;
    });
    const wsRuns = peers.map(async (p, j) => {
      const i = j + 4;
      const r = await p.ask({ type: 'reset', data: { seed: seedOf(i) } });
      expect(r.data.observation.goal).toContain(`#${seedOf(i)}`);
      const s = await p.ask({ type: 'step', data: { action_str: "click('13')" } });
      expect(s.data.observation.axtree_txt).toContain(`seed=${seedOf(i)}`);
      return (await p.ask({ type: 'state' })).data;
    });
    const states = await Promise.all([...httpRuns, ...wsRuns]);
    states.forEach((st, i) => expect(st.seed).toBe(seedOf(i)));
    expect(states.slice(0, 4).map((s) => s.step_count)).toEqual([3, 3, 3, 3]);
    expect(states.slice(4).map((s) => s.cum_reward)).toEqual([1, 1, 1, 1]);
    expect(pool.episodes).toHaveLength(8);
    expect(pool.episodes.some((e) => e.overlapped)).toBe(false);
    for (const p of peers) p.ws.close();
  });
});

describe('bad requests get a clear 4xx and the server keeps serving', () => {
  it('HTTP: malformed JSON, wrong types, unknown task/session/route, method, huge body', async () => {
    const { url } = await start({ maxBodyBytes: 64 * 1024 });
    const bad = await post(url, '/reset', '{"seed": 1,', 'b');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_json');
    expect(bad.body.detail).toMatch(/not valid JSON/);

    const notObj = await post(url, '/reset', '[1, 2]', 'b');
    expect(notObj).toMatchObject({ status: 422, body: { code: 'invalid_request' } });
    expect((await post(url, '/reset', { seed: -1 }, 'b')).body.detail).toMatch(/'seed' must be an integer/);
    expect((await post(url, '/reset', { seed: 1.5 }, 'b')).status).toBe(422);
    expect((await post(url, '/reset', { task_name: 42 }, 'b')).status).toBe(422);

    const unknownTask = await post(url, '/reset', { task_name: 'no-such-task' }, 'b');
    expect(unknownTask.status).toBe(400);
    expect(unknownTask.body.code).toBe('unknown_task');
    expect(unknownTask.body.detail).toContain('click-test, enter-text');
    // A failed first reset leaves no session behind.
    expect((await get(url, '/capacity')).body.active_sessions).toBe(0);

    const unknownSession = await post(url, '/step', { action: { action_str: "click('13')" } }, 'nobody');
    expect(unknownSession).toMatchObject({ status: 404, body: { code: 'unknown_session' } });
    expect((await post(url, '/close', {}, 'nobody')).status).toBe(404);
    expect((await get(url, '/state', 'bad id!')).body.code).toBe('invalid_request');

    await post(url, '/reset', { seed: 1 }, 'b');
    expect((await post(url, '/step', { action: { action_str: 13 } }, 'b')).status).toBe(422);
    expect((await post(url, '/step', { action: 'click' }, 'b')).status).toBe(422);
    expect((await post(url, '/step', { action: { action_str: 'x' }, timeout_s: -1 }, 'b')).status).toBe(422);

    const nope = await get(url, '/nope');
    expect(nope).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(nope.body.detail).toContain('POST /reset');
    const method = await fetch(url + '/reset');
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('POST');

    // An action of 4 MB against a 64 KiB limit.
    const huge = await post(url, '/step', { action: { action_str: 'x'.repeat(4 << 20) } }, 'b');
    expect(huge).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });

    // Still serving, the session intact.
    const ok = await post(url, '/step', { action: { action_str: "click('13')" } }, 'b');
    expect(ok.body.reward).toBe(1);
  });

  it('HTTP: too many sessions → 429 until one closes', async () => {
    const { url } = await start({ maxSessions: 2 });
    await post(url, '/reset', {}, 'a');
    const peer = await WsPeer.open(url);
    const full = await post(url, '/reset', {}, 'c');
    expect(full.status).toBe(429);
    expect(full.body.code).toBe('too_many_sessions');
    // Existing sessions are unaffected and can still reset.
    expect((await post(url, '/reset', {}, 'a')).status).toBe(200);
    peer.ws.close();
    await peer.closed();
    for (let i = 0; i < 50 && server!.registry.size > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await post(url, '/reset', {}, 'c')).status).toBe(200);
  });

  it('/capacity counts a session whose page is still closing, so max - active is what a client may open', async () => {
    let release: () => void = () => undefined;
    const slowClose = new Promise<void>((r) => (release = r));
    const pool = new FakePool();
    const open = pool.newEpisode.bind(pool);
    pool.newEpisode = async (opts) => {
      const ep = await open(opts);
      return { reset: (o) => ep.reset(o), step: (a) => ep.step(a), observe: () => ep.observe(), close: () => slowClose.then(() => ep.close()) };
    };
    const { url } = await start({ maxSessions: 3 }, pool);
    await post(url, '/reset', {}, 'a');
    await post(url, '/reset', {}, 'b');
    expect((await get(url, '/capacity')).body).toEqual({ active_sessions: 2, max_sessions: 3 });
    const closing = post(url, '/close', {}, 'a');
    for (let i = 0; i < 50 && server!.registry.size > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server!.registry.size).toBe(1);
    expect((await get(url, '/capacity')).body).toEqual({ active_sessions: 2, max_sessions: 3 });
    release();
    await closing;
    expect((await get(url, '/capacity')).body).toEqual({ active_sessions: 1, max_sessions: 3 });
  });

  it('WebSocket: error replies keep the connection usable; too many sessions closes with 1013', async () => {
    const { url } = await start({ maxSessions: 1, maxBodyBytes: 64 * 1024 });
    const peer = await WsPeer.open(url);
    // `code` is OpenEnv's WSErrorCode, `reason` the finer one.
    expect((await peer.ask('{"type": "reset"')).data).toMatchObject({ code: 'INVALID_JSON', reason: 'invalid_json' });
    expect((await peer.ask({ data: {} })).data.reason).toBe('invalid_request');
    expect((await peer.ask({ type: 'fly' })).data).toMatchObject({ code: 'UNKNOWN_TYPE', reason: 'unknown_message_type' });
    const early = await peer.ask({ type: 'step', data: { action_str: "click('13')" } });
    expect(early).toMatchObject({ type: 'error', data: { code: 'EXECUTION_ERROR', reason: 'not_reset' } });
    const task = await peer.ask({ type: 'reset', data: { task_name: 'nope' } });
    expect(task.data).toMatchObject({ code: 'VALIDATION_ERROR', reason: 'unknown_task' });
    expect((await peer.ask({ type: 'reset', data: { seed: 'x' } })).data.reason).toBe('invalid_request');
    const huge = await peer.ask({ type: 'step', data: { action_str: 'x'.repeat(200 * 1024) } });
    expect(huge.data.reason).toBe('payload_too_large');

    const second = await WsPeer.open(url);
    const refused = await second.next();
    expect(refused).toMatchObject({ type: 'error', data: { code: 'CAPACITY_REACHED', reason: 'too_many_sessions' } });
    expect(await second.closed()).toBe(1013);

    const r = await peer.ask({ type: 'reset', data: { seed: 5 } });
    expect(r.data.observation.goal).toBe('Goal of click-test #5');
    expect((await peer.ask({ type: 'step', data: { action_str: "click('13')" } })).data.reward).toBe(1);
    peer.ws.close();
  });

  it('WebSocket: a message far past the limit closes only that connection (1009)', async () => {
    const { url } = await start({ maxBodyBytes: 64 * 1024 });
    const other = await WsPeer.open(url);
    await other.ask({ type: 'reset', data: { seed: 1 } });
    const peer = await WsPeer.open(url);
    await peer.ask({ type: 'reset', data: { seed: 2 } });
    peer.ws.send(JSON.stringify({ type: 'step', data: { action_str: 'x'.repeat(4 << 20) } }));
    expect(await peer.closed()).toBe(1009);
    for (let i = 0; i < 50 && server!.registry.size > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server!.registry.size).toBe(1);
    expect((await other.ask({ type: 'step', data: { action_str: "click('13')" } })).data.reward).toBe(1);
    other.ws.close();
  });

  it('WebSocket: upgrades on other paths are refused', async () => {
    const { url } = await start();
    const ws = new WebSocket(url.replace('http', 'ws') + '/elsewhere');
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });
});

/** A request with exactly these headers (fetch would not let a test set Host). */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: any }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Status of a WebSocket upgrade with these options: 101 when it opens, else the HTTP status of the refusal. */
function upgradeStatus(url: string, opts: WebSocket.ClientOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/ws', opts);
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', () => resolve({ status: -1, body: '' }));
  });
}

describe('requests from web pages are refused (Origin, Host, content-type)', () => {
  it('HTTP: a foreign Origin gets 403 on every route and opens no session; the own origin works', async () => {
    const { url, pool } = await start();
    const host = new URL(url).host;
    const port = new URL(url).port;
    const evil = { host, origin: 'http://evil.example.com', 'content-type': 'application/json' };
    const refused = await raw(url, 'POST', '/reset', evil, '{}');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'forbidden_origin' });
    expect(refused.body.detail).toContain("origin 'http://evil.example.com' are refused");
    expect((await raw(url, 'GET', '/health', evil)).status).toBe(403);
    expect((await raw(url, 'POST', '/reset', { ...evil, origin: 'null' }, '{}')).status).toBe(403);
    expect(pool.episodes).toHaveLength(0);
    expect(server!.registry.size).toBe(0);
    for (const own of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`]) {
      const ok = await raw(url, 'POST', '/reset', { ...evil, origin: own }, '{"seed": 3}');
      expect(ok.status, own).toBe(200);
    }
    // Another port on the same host is another origin.
    expect((await raw(url, 'GET', '/health', { host, origin: `http://127.0.0.1:${Number(port) + 1}` })).status).toBe(403);
  });

  it('HTTP: allowOrigins adds exactly those origins', async () => {
    const { url } = await start({ allowOrigins: ['http://localhost:3000', 'HTTPS://Dash.Example.org/'] });
    const host = new URL(url).host;
    expect((await raw(url, 'GET', '/health', { host, origin: 'http://localhost:3000' })).status).toBe(200);
    expect((await raw(url, 'GET', '/health', { host, origin: 'https://dash.example.org' })).status).toBe(200);
    expect((await raw(url, 'GET', '/health', { host, origin: 'http://localhost:3001' })).status).toBe(403);
    expect(() => createServer({ pool: new FakePool(), allowOrigins: ['http://x.org/path'] })).toThrow(
      "allowed origin 'http://x.org/path' must be only scheme, host and port",
    );
    expect(() => createServer({ pool: new FakePool(), allowOrigins: ['x.org'] })).toThrow(/is not a URL/);
  });

  it('HTTP: a Host that does not name the server gets 421 (DNS rebinding); loopback names and allowHosts pass', async () => {
    const { url } = await start({ allowHosts: ['envserver', 'proxy.local:9000'] });
    const port = Number(new URL(url).port);
    const statusFor = async (host: string) => (await raw(url, 'GET', '/health', { host })).status;
    const rebound = await raw(url, 'POST', '/reset', { host: `evil.example.com:${port}`, 'content-type': 'application/json' }, '{}');
    expect(rebound).toMatchObject({ status: 421, body: { code: 'wrong_host' } });
    expect(rebound.body.detail).toContain(`Host 'evil.example.com:${port}' does not name this server`);
    expect(server!.registry.size).toBe(0);
    expect(await statusFor(`127.0.0.1:${port}`)).toBe(200);
    expect(await statusFor(`LOCALHOST:${port}`)).toBe(200);
    expect(await statusFor(`[::1]:${port}`)).toBe(200);
    expect(await statusFor(`127.0.0.1:${port + 1}`)).toBe(421);
    expect(await statusFor('127.0.0.1')).toBe(421);
    expect(await statusFor('')).toBe(421);
    expect(await statusFor('a b')).toBe(421);
    expect(await statusFor(`envserver:${port}`)).toBe(200);
    expect(await statusFor('envserver:1234')).toBe(200);
    expect(await statusFor('proxy.local:9000')).toBe(200);
    expect(await statusFor(`proxy.local:${port}`)).toBe(421);
  });

  it('HTTP: a POST body that is not declared JSON gets 415; a POST without a body needs no type', async () => {
    const { url } = await start();
    const host = new URL(url).host;
    const cases: Array<[string | undefined, number]> = [
      ['text/plain', 415],
      ['application/x-www-form-urlencoded', 415],
      ['multipart/form-data; boundary=x', 415],
      [undefined, 415],
      ['application/json', 200],
      ['Application/JSON; charset=utf-8', 200],
    ];
    for (const [type, status] of cases) {
      const headers: Record<string, string> = { host };
      if (type) headers['content-type'] = type;
      const r = await raw(url, 'POST', '/reset', headers, '{"seed": 1}');
      expect(r.status, String(type)).toBe(status);
      if (status === 415) expect(r.body.code).toBe('unsupported_media_type');
    }
    expect((await raw(url, 'POST', '/close', { host, 'content-length': '0' })).status).toBe(200);
  });

  it('WebSocket: upgrades from a foreign Origin (403) or Host (421) are refused; programs and the own origin connect', async () => {
    const { url } = await start({ allowOrigins: ['http://localhost:3000'] });
    const port = new URL(url).port;
    const evil = await upgradeStatus(url, { origin: 'http://evil.example.com' });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body)).toMatchObject({ code: 'forbidden_origin' });
    expect((await upgradeStatus(url, { headers: { host: `evil.example.com:${port}` } })).status).toBe(421);
    expect((await upgradeStatus(url, {})).status).toBe(101);
    expect((await upgradeStatus(url, { origin: `http://127.0.0.1:${port}` })).status).toBe(101);
    expect((await upgradeStatus(url, { origin: 'http://localhost:3000' })).status).toBe(101);
    for (let i = 0; i < 50 && server!.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server!.registry.size).toBe(0);
  });
});

describe('lifecycle', () => {
  it('reaps idle HTTP sessions but not WebSocket ones', async () => {
    const { url, pool } = await start();
    await post(url, '/reset', {}, 'idle');
    const peer = await WsPeer.open(url);
    await peer.ask({ type: 'reset', data: {} });
    const reaped = await server!.registry.reapIdle(1000, Date.now() + 5000);
    expect(reaped).toEqual(['idle']);
    expect(pool.openEpisodes()).toHaveLength(1);
    expect((await get(url, '/state', 'idle')).status).toBe(404);
    peer.ws.close();
  });

  it('shuts down gracefully: the in-flight step completes, pages close, sockets close with 1001', async () => {
    const { url, pool } = await start({}, new FakePool(200));
    await post(url, '/reset', { seed: 2 }, 'g');
    const peer = await WsPeer.open(url);
    await peer.ask({ type: 'reset', data: {} });
    const inFlight = post(url, '/step', { action: { action_str: "click('13')" } }, 'g');
    while (!pool.episodes[0]!.busy) await new Promise((r) => setTimeout(r, 5));
    const closing = server!.close();
    const r = await inFlight;
    expect(r.body.reward).toBe(1);
    await closing;
    expect(await peer.closed()).toBe(1001);
    expect(pool.openEpisodes()).toHaveLength(0);
    await expect(fetch(url + '/health')).rejects.toThrow();
    server = undefined;
  });
});
