// OpenEnvServerPool: episodes spread over several OpenEnv BrowserGym servers (`lfm2-rl serve-env` or OpenEnv's own).
// Each new episode goes to the live server with the fewest of this pool's episodes relative to its free capacity
// (GET /capacity: max_sessions - active_sessions when the pool connected, or when it last asked). A server that
// refuses or drops a connection, answers garbage or misses the deadline is taken out of the pool and the failing call
// rejects: the rollout then replays its round on fresh episodes, which land on the remaining servers. A server out of
// the pool is probed (GET /health) again after `retryAfterMs`, or at once when no live server has room, so a
// restarted server rejoins. Call latencies and failures are kept per server for the run's metrics.
import { OpenEnvClient, OpenEnvError, type OpenEnvClientOptions } from './client.ts';
import { openEnvBaseUrl } from './server-url.ts';
import { isPlainObject } from './server/validate.ts';
import type { Episode } from './types.ts';

export interface OpenEnvServerPoolOptions extends OpenEnvClientOptions {
  /** Where a server leaving or rejoining the pool is reported. Default: nowhere. */
  log?: (message: string) => void;
  /** How long a failed server stays out before it is probed again, in milliseconds. Default 30 s. */
  retryAfterMs?: number;
}

/** OpenEnvClient error codes that mean the server failed, not the request. */
const SERVER_FAILURE_CODES: ReadonlySet<string> = new Set(['connection_failed', 'connection_closed', 'timeout', 'bad_response']);
// GET /health needs no browser work, so a live server answers at once even when busy: a probe need not wait for
// the full call deadline, which would hold a run's start or a rollout on a server that is gone.
const PROBE_TIMEOUT_MS = 5_000;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRY_AFTER_MS = 30_000;

/** What one look at a server found. */
interface Probe {
  ok: boolean;
  error: string;
  /** Task names from GET /tasks ([] when the server does not list them). */
  tasks: string[];
  /** Free session slots from GET /capacity; null when the server does not say. */
  free: number | null;
}

async function getJson(base: string, path: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(timeoutMs) });
  const body: unknown = await res.json().catch(() => undefined);
  return { status: res.status, body };
}

async function probe(base: string, timeoutMs: number, wantTasks: boolean): Promise<Probe> {
  const out: Probe = { ok: false, error: '', tasks: [], free: null };
  try {
    const health = await getJson(base, '/health', timeoutMs);
    if (health.status !== 200) {
      out.error = `not healthy: GET /health answered HTTP ${health.status}`;
      return out;
    }
    const [tasks, capacity] = await Promise.all([
      wantTasks ? getJson(base, '/tasks', timeoutMs) : Promise.resolve(undefined),
      getJson(base, '/capacity', timeoutMs),
    ]);
    if (tasks && tasks.status === 200 && isPlainObject(tasks.body) && Array.isArray(tasks.body.tasks)) {
      out.tasks = tasks.body.tasks.filter((t): t is string => typeof t === 'string');
    }
    // OpenEnv's ServerCapacityStatus; a server without the route weighs as an average one (choose()).
    const c = capacity.body;
    if (capacity.status === 200 && isPlainObject(c) && Number.isInteger(c.active_sessions) && Number.isInteger(c.max_sessions)) {
      out.free = Math.max(0, (c.max_sessions as number) - (c.active_sessions as number));
    }
    out.ok = true;
  } catch (err) {
    const e = err as Error;
    out.error = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `unreachable: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`;
  }
  return out;
}

/** The 50th percentile (the upper middle value of an even count); null for no samples. */
function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

class ServerState {
  up = true;
  /** When the server last left the pool or was last probed while out (ms since the epoch). */
  lastDownAt = 0;
  /** Episodes of this pool open on the server. */
  open = 0;
  /** Sessions this pool may hold there: its own open ones plus the server's free slots when last asked (null: unknown). */
  capacity: number | null = null;
  /** Calls to this server that failed, any reason, since the pool connected. */
  failures = 0;
  resetMs: number[] = [];
  stepMs: number[] = [];

  constructor(
    readonly index: number,
    readonly base: string,
  ) {}

  get name(): string {
    return `env server ${this.index} (${this.base})`;
  }
}

export class OpenEnvServerPool {
  private readonly servers: ServerState[];
  private readonly open = new Set<OpenEnvClient>();
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly log: (message: string) => void;

  private constructor(
    bases: readonly string[],
    private readonly opts: OpenEnvServerPoolOptions,
    private readonly tasks: string[],
  ) {
    this.servers = bases.map((b, i) => new ServerState(i, b));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryAfterMs = opts.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.log = opts.log ?? (() => undefined);
  }

  /**
   * Looks at every server (GET /health, /tasks, /capacity). Servers that cannot be reached start out of the pool
   * (reported through `log`); when none can, or when servers list different tasks (the same seed would give
   * different pages), it throws. `urls` take any form openEnvBaseUrl accepts.
   */
  static async connect(urls: readonly string[], opts: OpenEnvServerPoolOptions = {}): Promise<OpenEnvServerPool> {
    if (urls.length === 0) throw new Error('OpenEnvServerPool: no server URL given');
    const bases = urls.map((u) => openEnvBaseUrl(u));
    const dup = bases.findIndex((b, i) => bases.indexOf(b) !== i);
    if (dup >= 0) throw new Error(`OpenEnvServerPool: server ${bases[dup]} is listed twice (entries ${bases.indexOf(bases[dup]) + 1} and ${dup + 1})`);
    const probeMs = Math.min(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
    const probes = await Promise.all(bases.map((b) => probe(b, probeMs, true)));
    if (probes.every((p) => !p.ok)) {
      if (bases.length === 1) throw new OpenEnvError(`cannot reach OpenEnv server at ${bases[0]}: ${probes[0].error}`, 'connection_failed');
      const why = probes.map((p, i) => `${i} ${bases[i]}: ${p.error}`).join('; ');
      throw new OpenEnvError(`cannot reach any of the ${bases.length} OpenEnv servers (${why})`, 'connection_failed');
    }
    const listing = probes.map((p, i) => ({ i, tasks: [...p.tasks].sort() })).filter((x) => probes[x.i].ok && x.tasks.length > 0);
    const other = listing.find((x) => x.tasks.join('\n') !== listing[0].tasks.join('\n'));
    if (other) {
      const a = listing[0];
      throw new Error(
        `OpenEnv servers ${a.i} (${bases[a.i]}) and ${other.i} (${bases[other.i]}) list different tasks (${a.tasks.length} and ${other.tasks.length}): ` +
          'the same task and seed would give different pages; run every server with the same task source (serve-env --miniwob-url)',
      );
    }
    const pool = new OpenEnvServerPool(bases, opts, listing[0]?.tasks ?? []);
    probes.forEach((p, i) => {
      const s = pool.servers[i];
      s.capacity = p.free;
      if (!p.ok) {
        s.up = false;
        s.lastDownAt = Date.now();
        s.failures += 1;
        pool.log(`${s.name} is not in the pool: ${p.error}; probing it again in ${Math.round(pool.retryAfterMs / 1000)} s`);
      }
    });
    return pool;
  }

  /** The servers' task names ([] when none lists them). */
  taskNames(): string[] {
    return [...this.tasks];
  }

  /** One line for banners: the servers and their free sessions when the pool connected. */
  describe(): string {
    const one = (s: ServerState) => `${s.base}${s.up ? '' : ' (down)'}`;
    if (this.servers.length === 1) return `OpenEnv server ${one(this.servers[0])}`;
    const free = this.servers.map((s) => (s.capacity === null ? '?' : String(s.capacity))).join('/');
    return `${this.servers.length} OpenEnv servers ${this.servers.map(one).join(', ')} (free sessions ${free})`;
  }

  /** Episodes handed out and not closed yet. */
  get liveEpisodes(): number {
    return this.open.size;
  }

  /** Servers now in the pool. */
  get liveServers(): number {
    return this.servers.filter((s) => s.up).length;
  }

  /** A new episode (its own session) on the live server with the most room. */
  async newEpisode(opts: { screenshot?: boolean } = {}): Promise<Episode> {
    const s = await this.pick();
    s.open += 1;
    let client: OpenEnvClient;
    try {
      client = await this.call(s, 'connect', () =>
        OpenEnvClient.connect(s.base, { ...this.opts, timeoutMs: this.timeoutMs, screenshot: opts.screenshot ?? this.opts.screenshot }),
      );
    } catch (err) {
      s.open -= 1;
      throw err;
    }
    this.open.add(client);
    let closed = false;
    return {
      reset: (o) => this.call(s, 'reset', () => client.reset(o)),
      step: (a) => this.call(s, 'step', () => client.step(a)),
      observe: () => this.call(s, 'observe', () => client.observe()),
      close: async () => {
        if (!closed) {
          closed = true;
          s.open -= 1;
          this.open.delete(client);
        }
        await client.close();
      },
    };
  }

  /**
   * Per-server metrics since the last call (env/server/<i>/…, i = position in the URL list): p50 latency of resets
   * and steps in milliseconds (null without calls), their counts, failed calls since the pool connected, and whether
   * the server is in the pool now. Latency samples are cleared.
   */
  metrics(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const s of this.servers) {
      const k = `env/server/${s.index}`;
      out[`${k}/reset_p50_ms`] = median(s.resetMs);
      out[`${k}/step_p50_ms`] = median(s.stepMs);
      out[`${k}/resets`] = s.resetMs.length;
      out[`${k}/steps`] = s.stepMs.length;
      out[`${k}/failures`] = s.failures;
      out[`${k}/up`] = s.up ? 1 : 0;
      s.resetMs = [];
      s.stepMs = [];
    }
    return out;
  }

  /** Closes every episode still open; the servers keep running. */
  async close(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }

  /** Runs one call on server `s`, timing it and taking the server out when the failure is the server's. */
  private async call<T>(s: ServerState, what: 'connect' | 'reset' | 'step' | 'observe', fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const value = await fn();
      if (what === 'reset') s.resetMs.push(performance.now() - t0);
      else if (what === 'step') s.stepMs.push(performance.now() - t0);
      return value;
    } catch (err) {
      s.failures += 1;
      if (!(err instanceof OpenEnvError)) throw err;
      if (SERVER_FAILURE_CODES.has(err.code)) this.takeOut(s, `${what} failed: ${err.message}`);
      // Full (other clients hold its sessions): no more episodes there until it says it has room again.
      else if (err.code === 'too_many_sessions') s.capacity = Math.max(0, s.open - 1);
      throw new OpenEnvError(`${s.name}: ${err.message}`, err.code, err.status);
    }
  }

  private takeOut(s: ServerState, why: string): void {
    if (!s.up) return;
    s.up = false;
    s.lastDownAt = Date.now();
    const left = this.liveServers;
    this.log(
      `${s.name} taken out of the pool: ${why.split('\n')[0]}; ${left} server${left === 1 ? '' : 's'} left, ` +
        `probing it again in ${Math.round(this.retryAfterMs / 1000)} s`,
    );
  }

  /** Probes servers out of the pool: those out for retryAfterMs, or all of them with `now`. */
  private async probeDown(now: boolean): Promise<void> {
    const t = Date.now();
    const due = this.servers.filter((s) => !s.up && (now || t - s.lastDownAt >= this.retryAfterMs));
    await Promise.all(
      due.map(async (s) => {
        const p = await probe(s.base, Math.min(this.timeoutMs, PROBE_TIMEOUT_MS), false);
        if (s.up) return;
        if (!p.ok) {
          s.lastDownAt = Date.now();
          return;
        }
        s.up = true;
        s.capacity = p.free === null ? null : s.open + p.free;
        this.log(`${s.name} is back in the pool`);
      }),
    );
  }

  /** Asks every live server for its free slots again. */
  private async refreshCapacity(): Promise<void> {
    await Promise.all(
      this.servers
        .filter((s) => s.up)
        .map(async (s) => {
          const p = await probe(s.base, Math.min(this.timeoutMs, PROBE_TIMEOUT_MS), false);
          if (p.ok && p.free !== null) s.capacity = s.open + p.free;
        }),
    );
  }

  /** The live server with room and the fewest open episodes per unit of capacity (ties: the first listed). */
  private choose(): ServerState | undefined {
    const known = this.servers.map((s) => s.capacity).filter((c): c is number => c !== null);
    // Servers that do not report capacity weigh as much as an average one that does (or all alike).
    const fallback = known.length > 0 ? Math.max(1, known.reduce((a, b) => a + b, 0) / known.length) : 1;
    let best: ServerState | undefined;
    let bestLoad = Infinity;
    for (const s of this.servers) {
      if (!s.up || (s.capacity !== null && s.open >= s.capacity)) continue;
      const load = s.open / (s.capacity ?? fallback);
      if (load < bestLoad) [best, bestLoad] = [s, load];
    }
    return best;
  }

  private async pick(): Promise<ServerState> {
    await this.probeDown(false);
    let s = this.choose();
    if (s) return s;
    // Full or all out: other clients may have closed sessions, and a server out of the pool may be back.
    await Promise.all([this.refreshCapacity(), this.probeDown(true)]);
    s = this.choose();
    if (s) return s;
    const state = this.servers
      .map((x) => `${x.index} ${x.base}: ${x.up ? `${x.open} of ${x.capacity ?? '?'} sessions in use` : 'out of the pool'}`)
      .join('; ');
    throw new OpenEnvError(`no OpenEnv server can take another episode (${state})`, 'no_server');
  }
}
