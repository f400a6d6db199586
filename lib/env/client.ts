// OpenEnvClient: an Episode backed by a remote OpenEnv BrowserGym server (this project's `lfm2-rl serve-env` or
// OpenEnv's Python server), so the trainer can use remote pages instead of a local EnvPool.
// Two transports: WebSocket /ws (one session per connection, OpenEnv 0.2) and HTTP with an `X-Session-Id` header
// (this server's sessions; against the seed-era Python server the header is ignored and the one env is shared).
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { resultFromWire, SESSION_HEADER, type WireState } from './server/protocol.ts';
import { openEnvBaseUrl } from './server-url.ts';
import { isPlainObject } from './server/validate.ts';
import type { Episode, Observation, ResetOptions, StepResult } from './types.ts';

export { openEnvBaseUrl };

export type OpenEnvTransportKind = 'ws' | 'http';

export interface OpenEnvClientOptions {
  /** Default 'ws': the only transport with sessions on OpenEnv 0.2 servers. */
  transport?: OpenEnvTransportKind;
  /** Ask for screenshots (PNG in Observation.screenshot). Default false. */
  screenshot?: boolean;
  /** Per-request timeout in milliseconds. Default 60 s. */
  timeoutMs?: number;
  /** HTTP only: the session to use; default a fresh random id. */
  sessionId?: string;
  /** WebSocket only: largest message accepted, default 100 MiB (accessibility trees can exceed ws's 1 MiB default). */
  maxMessageBytes?: number;
}

/** A failure reported by the server (`code` is its error code, `status` the HTTP status when known). */
export class OpenEnvError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'OpenEnvError';
  }
}

type Call = 'reset' | 'step' | 'observe' | 'state';

interface Transport {
  /** Sends one protocol call; resolves to the response payload (`{observation, reward, done}` or the state). */
  call(kind: Call, data: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

function errorFromPayload(payload: unknown, fallback: string, status?: number): OpenEnvError {
  if (isPlainObject(payload)) {
    // This server: {detail, code} over HTTP, {message, code, reason} over WS; FastAPI: {detail: string | [...]};
    // OpenEnv WS: {message, code}.
    const msg = payload.message ?? payload.detail;
    const fine = payload.reason ?? payload.code;
    const code = typeof fine === 'string' ? fine : 'server_error';
    if (msg !== undefined) return new OpenEnvError(typeof msg === 'string' ? msg : JSON.stringify(msg), code, status);
  }
  return new OpenEnvError(fallback, 'server_error', status);
}

class HttpTransport implements Transport {
  constructor(
    private readonly base: string,
    private readonly sessionId: string,
    private readonly timeoutMs: number,
  ) {}

  async call(kind: Call, data: Record<string, unknown>): Promise<unknown> {
    if (kind === 'state') return this.request('GET', '/state');
    // HTTP step bodies wrap the action: StepRequest {action: {...}}.
    const body = kind === 'step' ? { action: data } : data;
    return this.request('POST', `/${kind}`, body);
  }

  async close(): Promise<void> {
    try {
      await this.request('POST', '/close', {});
    } catch (err) {
      // A session the server never opened or already dropped is closed anyway.
      if (!(err instanceof OpenEnvError && (err.status === 404 || err.code === 'unknown_session'))) throw err;
    }
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { 'content-type': 'application/json', [SESSION_HEADER]: this.sessionId },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError') throw new OpenEnvError(`${method} ${path} timed out after ${this.timeoutMs} ms`, 'timeout');
      throw new OpenEnvError(`${method} ${this.base}${path} failed: ${(err as Error).message}`, 'connection_failed');
    }
    const text = await res.text();
    let payload: unknown;
    try {
      payload = text === '' ? undefined : JSON.parse(text);
    } catch {
      payload = undefined;
    }
    if (!res.ok) throw errorFromPayload(payload, `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    if (payload === undefined) throw new OpenEnvError(`${method} ${path}: response is not JSON`, 'bad_response', res.status);
    return payload;
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class WsTransport implements Transport {
  // OpenEnv's protocol has no request ids: replies come in request order, so pending calls are a FIFO.
  private readonly pending: Pending[] = [];
  private failure: OpenEnvError | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly timeoutMs: number,
  ) {
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('close', (code, reason) => {
      this.fail(new OpenEnvError(`connection closed (${code}${reason.length ? `: ${reason}` : ''})`, 'connection_closed'));
    });
    ws.on('error', (err) => this.fail(new OpenEnvError(`connection error: ${err.message}`, 'connection_failed')));
  }

  static open(url: string, timeoutMs: number, maxPayload: number): Promise<WsTransport> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload, handshakeTimeout: timeoutMs });
      const onError = (err: Error) => reject(new OpenEnvError(`cannot connect to ${url}: ${err.message}`, 'connection_failed'));
      ws.once('error', onError);
      ws.once('unexpected-response', (_req, res) => {
        ws.off('error', onError);
        reject(new OpenEnvError(`cannot connect to ${url}: HTTP ${res.statusCode}`, 'connection_failed', res.statusCode));
        ws.terminate();
      });
      ws.once('open', () => {
        ws.off('error', onError);
        resolve(new WsTransport(ws, timeoutMs));
      });
    });
  }

  call(kind: Call, data: Record<string, unknown>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A late reply would be matched to the wrong request, so the connection cannot be reused.
        this.fail(new OpenEnvError(`${kind} timed out after ${this.timeoutMs} ms`, 'timeout'));
        this.ws.terminate();
      }, this.timeoutMs);
      this.pending.push({ resolve, reject, timer });
      const msg = kind === 'state' ? { type: 'state' } : { type: kind, data };
      this.ws.send(JSON.stringify(msg));
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'close' }));
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await closed;
    clearTimeout(timer);
  }

  private onMessage(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined;
    }
    const p = this.pending.shift();
    const error =
      !isPlainObject(msg) ? new OpenEnvError('server sent a message that is not a JSON object', 'bad_response')
      : msg.type === 'error' ? errorFromPayload(msg.data, 'server reported an error')
      : undefined;
    if (!p) {
      // An unsolicited error (e.g. too_many_sessions right after connecting) poisons later calls.
      if (error) this.failure ??= error;
      return;
    }
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve((msg as Record<string, unknown>).data);
  }

  private fail(err: OpenEnvError): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
  }
}

export class OpenEnvClient implements Episode {
  private last: Observation | undefined;

  private constructor(
    private readonly transport: Transport,
    private readonly screenshot: boolean,
  ) {}

  /** Connects to a server at `url` (any form openEnvBaseUrl accepts); the WebSocket URL is derived from it. */
  static async connect(url: string, opts: OpenEnvClientOptions = {}): Promise<OpenEnvClient> {
    const base = openEnvBaseUrl(url);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const kind = opts.transport ?? 'ws';
    const transport =
      kind === 'ws'
        ? await WsTransport.open(`${base.replace(/^http/, 'ws')}/ws`, timeoutMs, opts.maxMessageBytes ?? 100 * 2 ** 20)
        : new HttpTransport(base, opts.sessionId ?? randomUUID(), timeoutMs);
    return new OpenEnvClient(transport, opts.screenshot ?? false);
  }

  async reset(opts: ResetOptions): Promise<Observation> {
    const data: Record<string, unknown> = { task_name: opts.task };
    if (opts.seed !== undefined) data.seed = opts.seed;
    data.screenshot = this.screenshot ? 'png' : false;
    const r = resultFromWire(await this.transport.call('reset', data), this.screenshot);
    this.last = r.observation;
    return r.observation;
  }

  async step(action: string): Promise<StepResult> {
    const r = resultFromWire(await this.transport.call('step', { action_str: action, metadata: {} }), this.screenshot);
    // The Python server does not echo the action.
    if (!r.observation.last_action) r.observation.last_action = action;
    this.last = r.observation;
    return r;
  }

  /** Current observation. Servers without the `observe` extension get the last observation received. */
  async observe(): Promise<Observation> {
    try {
      const r = resultFromWire(await this.transport.call('observe', {}), this.screenshot);
      this.last = r.observation;
      return r.observation;
    } catch (err) {
      // This server over WS says unknown_message_type, OpenEnv's says UNKNOWN_TYPE, FastAPI routes 404.
      const unsupported =
        err instanceof OpenEnvError &&
        (err.code === 'unknown_message_type' ||
          err.code === 'UNKNOWN_TYPE' ||
          (err.status === 404 && err.code !== 'unknown_session'));
      if (unsupported && this.last) return this.last;
      throw err;
    }
  }

  /** OpenEnv's BrowserGymState of this session. */
  async state(): Promise<WireState> {
    return (await this.transport.call('state', {})) as WireState;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

/**
 * The EnvPool shape over a remote server: each episode is its own OpenEnvClient session, so a trainer can swap a
 * local EnvPool for a remote one. Only `screenshot` of the episode options applies here; step limits, pruned HTML
 * and timeouts are the server's settings (serve-env flags).
 */
export class OpenEnvPool {
  private readonly open = new Set<OpenEnvClient>();

  private constructor(
    private readonly baseUrl: string,
    private readonly opts: OpenEnvClientOptions,
    private readonly tasks: string[],
  ) {}

  /**
   * Checks the server is up (GET /health) and reads its task list (GET /tasks; empty for servers without it).
   * `url` is any form openEnvBaseUrl accepts.
   */
  static async connect(url: string, opts: OpenEnvClientOptions = {}): Promise<OpenEnvPool> {
    const base = openEnvBaseUrl(url);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const get = async (path: string): Promise<Response> => {
      try {
        return await fetch(base + path, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw new OpenEnvError(`cannot reach OpenEnv server at ${base}: ${(err as Error).message}`, 'connection_failed');
      }
    };
    const health = await get('/health');
    if (!health.ok) {
      throw new OpenEnvError(`OpenEnv server at ${base} is not healthy: HTTP ${health.status}`, 'unhealthy', health.status);
    }
    await health.arrayBuffer();
    const res = await get('/tasks');
    const body: unknown = await res.json().catch(() => undefined);
    const listed = res.ok && isPlainObject(body) && Array.isArray(body.tasks) ? body.tasks : [];
    const tasks = listed.filter((t): t is string => typeof t === 'string');
    return new OpenEnvPool(base, opts, tasks);
  }

  async newEpisode(opts: { screenshot?: boolean } = {}): Promise<Episode> {
    const screenshot = opts.screenshot ?? this.opts.screenshot;
    const client = await OpenEnvClient.connect(this.baseUrl, { ...this.opts, screenshot });
    this.open.add(client);
    const open = this.open;
    // The episode handed out forgets itself from the pool when closed.
    return {
      reset: (o) => client.reset(o),
      step: (a) => client.step(a),
      observe: () => client.observe(),
      async close() {
        open.delete(client);
        await client.close();
      },
    };
  }

  /** Episodes handed out and not closed yet. */
  get liveEpisodes(): number {
    return this.open.size;
  }

  /** The server's task names ([] when it does not list them). */
  taskNames(): string[] {
    return [...this.tasks];
  }

  /** Closes every episode still open; the server keeps running. */
  async close(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}
