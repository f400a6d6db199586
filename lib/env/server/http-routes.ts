// HTTP side of the OpenEnv protocol: GET /health, POST /reset, POST /step, GET /state, GET /metadata, GET /schema,
// plus extensions: POST /observe, POST /close, GET /tasks, GET /capacity.
// Multi-step episodes over HTTP need a session: the client names it in the `X-Session-Id` header (or `session_id`
// in the body / query). Requests without one share the session 'default', which is how the seed-era OpenEnv server
// behaved (one env per server), so its clients work unchanged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJsonBody, readBody } from './body.ts';
import { asServerError, EnvServerError, httpErrorBody } from './errors.ts';
import { SESSION_HEADER } from './protocol.ts';
import type { RequestGuard } from './request-guard.ts';
import type { SessionRegistry } from './sessions.ts';
import { isPlainObject, parseResetRequest, parseSessionId, parseStepRequest } from './validate.ts';

export const DEFAULT_SESSION = 'default';

export interface HttpContext {
  registry: SessionRegistry;
  /** Host, Origin and content-type rules (request-guard.ts). */
  guard: RequestGuard;
  maxBodyBytes: number;
  /** Session-free GET routes (path → reply body): /metadata, /schema, /tasks, /capacity. */
  infoRoutes: Record<string, () => unknown>;
  isClosing: () => boolean;
  onServerError?: (err: unknown) => void;
}

function sendJson(ctx: HttpContext, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // During shutdown no connection is kept alive, so closing the server need not wait for keep-alive sockets.
    ...(ctx.isClosing() ? { connection: 'close' } : {}),
    ...headers,
  });
  res.end(text);
}

function sessionIdOf(req: IncomingMessage, url: URL, body: unknown): string {
  const fromHeader = parseSessionId(req.headers[SESSION_HEADER]);
  const fromBody = isPlainObject(body) ? parseSessionId(body.session_id) : undefined;
  const fromQuery = parseSessionId(url.searchParams.get('session_id'));
  return fromHeader ?? fromBody ?? fromQuery ?? DEFAULT_SESSION;
}

const ROUTES: Record<string, 'GET' | 'POST'> = {
  '/health': 'GET',
  '/metadata': 'GET',
  '/schema': 'GET',
  '/tasks': 'GET',
  '/capacity': 'GET',
  '/state': 'GET',
  '/reset': 'POST',
  '/step': 'POST',
  '/observe': 'POST',
  '/close': 'POST',
};

async function route(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const denied = ctx.guard.check(req);
  if (denied) throw denied;
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = ROUTES[url.pathname];
  if (!method) {
    const list = Object.entries(ROUTES).map(([path, m]) => `${m} ${path}`).join(', ');
    throw new EnvServerError(404, 'not_found', `no route ${url.pathname}; routes: ${list}, WebSocket /ws`);
  }
  if (req.method !== method) {
    res.setHeader('allow', method);
    throw new EnvServerError(405, 'method_not_allowed', `${url.pathname} takes ${method}, not ${req.method}`);
  }
  if (url.pathname === '/health') return sendJson(ctx, res, 200, { status: 'healthy' });
  if (ctx.isClosing()) throw new EnvServerError(503, 'shutting_down', 'the server is shutting down');
  const info = ctx.infoRoutes[url.pathname];
  if (info) return sendJson(ctx, res, 200, info());

  if (method === 'POST') {
    const notJson = ctx.guard.checkBody(req);
    if (notJson) throw notJson;
  }
  const body = method === 'POST' ? parseJsonBody(await readBody(req, ctx.maxBodyBytes)) : undefined;
  const id = sessionIdOf(req, url, body);
  const echo = { [SESSION_HEADER]: id };
  const { registry } = ctx;
  switch (url.pathname) {
    case '/state':
      return sendJson(ctx, res, 200, registry.require(id).getState(), echo);
    case '/reset': {
      const reset = parseResetRequest(body);
      const existing = registry.get(id);
      const session = existing ?? registry.open(id, 'http');
      try {
        return sendJson(ctx, res, 200, await session.reset(reset), echo);
      } catch (err) {
        // A session that never got an episode must not keep a slot.
        if (!existing) await registry.close(id);
        throw err;
      }
    }
    case '/step': {
      const step = parseStepRequest(body);
      return sendJson(ctx, res, 200, await registry.require(id).step(step), echo);
    }
    case '/observe':
      return sendJson(ctx, res, 200, await registry.require(id).observe(), echo);
    case '/close': {
      if (!(await registry.close(id))) throw new EnvServerError(404, 'unknown_session', `unknown session '${id}'`);
      return sendJson(ctx, res, 200, { closed: true, session_id: id });
    }
  }
}

/** The request listener for node:http; it never throws, every failure becomes a JSON error reply. */
export function createHttpHandler(ctx: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      const e = asServerError(err);
      if (e.status >= 500) ctx.onServerError?.(err);
      // Refused before (or while) reading the body: close the connection instead of parsing leftovers.
      const unread = [413, 415, 421, 403].includes(e.status);
      sendJson(ctx, res, e.status, httpErrorBody(e), unread ? { connection: 'close' } : {});
    });
  };
}
