// The OpenEnv-compatible BrowserGym server: node:http for the REST routes, `ws` for /ws sessions, one session
// registry shared by both. Binds to 127.0.0.1 unless told otherwise, and refuses requests from web pages (foreign
// Origin or Host, non-JSON POSTs: request-guard.ts): the env runs arbitrary pages and actions.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';
import type { EnvOptions } from '../types.ts';
import { createHttpHandler } from './http-routes.ts';
import { SCHEMAS } from './schema.ts';
import { RequestGuard, type Bound } from './request-guard.ts';
import { SessionRegistry, type EnvPoolLike } from './sessions.ts';
import type { ScreenshotFormat } from './validate.ts';
import { attachWebSocket } from './ws-sessions.ts';

export interface EnvServerOptions {
  /** lib/env/env.ts's EnvPool, or anything with its shape. The server does not close it. */
  pool: EnvPoolLike;
  /** Sessions (pages) alive at once, HTTP and WebSocket together (OpenEnv's MAX_CONCURRENT_ENVS). Default 16. */
  maxSessions?: number;
  /** Largest request body / WebSocket message in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Task of a reset without task_name (OpenEnv's BROWSERGYM_TASK_NAME). Default 'click-test'. */
  defaultTask?: string;
  /** Options for every episode. pruned_html is on by default, as OpenEnv always sends it. */
  episodeOptions?: Partial<EnvOptions>;
  /** Screenshot format of sessions that do not ask (reset field `screenshot`). Default 'none'. */
  screenshot?: ScreenshotFormat;
  benchmark?: string;
  /** HTTP sessions unused this long are closed; 0 keeps them forever. Default 15 minutes. */
  idleTimeoutMs?: number;
  /** Where server-side failures are reported. Default: nowhere. */
  log?: (message: string) => void;
  /** Origins (besides the server's own) whose pages may call the server, e.g. 'http://localhost:3000'. Default none. */
  allowOrigins?: string[];
  /**
   * Host header values accepted besides localhost, 127.0.0.1, [::1] and the bound address: 'name' (any port) or
   * 'name:port', e.g. a container's service name. Default none.
   */
  allowHosts?: string[];
}

const DEFAULTS = {
  maxSessions: 16,
  maxBodyBytes: 1 << 20,
  defaultTask: 'click-test',
  screenshot: 'none' as ScreenshotFormat,
  benchmark: 'miniwob',
  idleTimeoutMs: 15 * 60_000,
};

// How long shutdown waits, after every session's queued work finished, for the last replies to flush before
// cutting connections (sockets of requests the client aborted otherwise linger until their own timeout).
const SHUTDOWN_GRACE_MS = 200;
// How long shutdown lets in-flight operations finish before closing their pages under them.
const SHUTDOWN_DRAIN_MS = 10_000;

export class EnvServer {
  readonly registry: SessionRegistry;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private closing = false;
  private closed: Promise<void> | undefined;
  private reaper: NodeJS.Timeout | undefined;
  private readonly idleTimeoutMs: number;
  private bound: Bound | undefined;

  constructor(opts: EnvServerOptions) {
    const o = { ...DEFAULTS, ...opts };
    if (!Number.isInteger(o.maxBodyBytes) || o.maxBodyBytes < 1024) {
      throw new Error(`maxBodyBytes must be an integer >= 1024, got ${o.maxBodyBytes}`);
    }
    const known = opts.pool.taskNames();
    if (!known.includes(o.defaultTask)) {
      throw new Error(`default task '${o.defaultTask}' is not one of the environment's tasks: ${known.join(', ')}`);
    }
    const log = opts.log;
    this.idleTimeoutMs = o.idleTimeoutMs;
    this.registry = new SessionRegistry(
      opts.pool,
      {
        defaultTask: o.defaultTask,
        episodeOptions: { prunedHtml: true, ...opts.episodeOptions },
        defaultScreenshot: o.screenshot,
        benchmark: o.benchmark,
        onEnvError: log ? (id, err) => log(`session ${id}: environment error: ${describe(err)}`) : undefined,
      },
      o.maxSessions,
    );
    const onServerError = log ? (err: unknown) => log(`server error: ${describe(err)}`) : undefined;
    const isClosing = () => this.closing;
    const guard = new RequestGuard(() => this.bound, { allowOrigins: opts.allowOrigins, allowHosts: opts.allowHosts });
    const infoRoutes = {
      // OpenEnv's EnvironmentMetadata, which its clients parse strictly: nothing but its own fields.
      '/metadata': () => ({
        name: 'BrowserGymEnv',
        description: `BrowserGym-compatible ${o.benchmark} environment: real Chromium pages, OpenEnv protocol`,
        version: '0.1.0',
      }),
      '/schema': () => SCHEMAS,
      '/tasks': () => ({ benchmark: o.benchmark, default_task: o.defaultTask, tasks: opts.pool.taskNames() }),
      // OpenEnv's ServerCapacityStatus, which its clients parse strictly (no other fields); free slots are the
      // difference. A closing session still holds its slot, so it counts as active until its page is gone.
      '/capacity': () => ({ active_sessions: this.registry.slotsInUse, max_sessions: this.registry.maxSessions }),
    };
    this.http = createHttpServer(
      createHttpHandler({ registry: this.registry, guard, maxBodyBytes: o.maxBodyBytes, infoRoutes, isClosing, onServerError }),
    );
    this.wss = attachWebSocket(this.http, {
      registry: this.registry,
      guard,
      maxMessageBytes: o.maxBodyBytes,
      isClosing,
      onServerError,
    });
  }

  /** Starts listening; resolves to the base URL, e.g. 'http://127.0.0.1:8000'. Port 0 picks a free port. */
  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        const addr = this.http.address() as AddressInfo;
        this.bound = { host, address: addr.address, port: addr.port };
        if (this.idleTimeoutMs > 0) {
          this.reaper = setInterval(() => void this.registry.reapIdle(this.idleTimeoutMs), Math.min(this.idleTimeoutMs, 60_000));
          this.reaper.unref();
        }
        resolve(this.url);
      });
    });
  }

  get url(): string {
    const addr = this.http.address() as AddressInfo | null;
    if (!addr) throw new Error('server is not listening');
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  /** Graceful stop: refuse new work, let queued operations finish, close every page and connection. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (this.reaper) clearInterval(this.reaper);
    const httpClosed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const ws of this.wss.clients) ws.close(1001, 'server shutting down');
    await this.registry.closeAll(SHUTDOWN_DRAIN_MS);
    this.http.closeIdleConnections();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
    await Promise.race([httpClosed, grace]);
    this.http.closeAllConnections();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await httpClosed;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export function createServer(opts: EnvServerOptions): EnvServer {
  return new EnvServer(opts);
}
