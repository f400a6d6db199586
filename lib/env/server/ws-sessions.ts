// WebSocket side of the OpenEnv 0.2 protocol on /ws: one session (one page) per connection.
//   client → server: {"type":"reset","data":{seed?, episode_id?, task_name?}} | {"type":"step","data":{action_str, metadata}}
//                    | {"type":"state"} | {"type":"close"} | {"type":"observe"} (extension)
//   server → client: {"type":"observation","data":{observation, reward, done}} | {"type":"state","data":{...}}
//                    | {"type":"error","data":{message, code}}
// Messages of one connection are answered in order; a bad message gets an error reply and the connection stays usable.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { asServerError, EnvServerError, httpErrorBody, wsErrorMessage } from './errors.ts';
import type { RequestGuard } from './request-guard.ts';
import type { Session, SessionRegistry } from './sessions.ts';
import { isPlainObject, parseResetRequest, parseStepRequest } from './validate.ts';

export const WS_PATH = '/ws';

export interface WsContext {
  registry: SessionRegistry;
  /** Host and Origin rules, applied to the upgrade request (CORS does not protect WebSockets). */
  guard: RequestGuard;
  /** Messages above this size get a payload_too_large error reply. */
  maxMessageBytes: number;
  isClosing: () => boolean;
  onServerError?: (err: unknown) => void;
}

// Messages beyond this are cut off by the ws library itself (close code 1009) without being buffered whole.
const HARD_CAP_FACTOR = 4;

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function send(ws: WebSocket, msg: unknown): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

async function handleMessage(ctx: WsContext, ws: WebSocket, session: Session, data: RawData): Promise<void> {
  if (rawLength(data) > ctx.maxMessageBytes) {
    throw new EnvServerError(413, 'payload_too_large', `message is larger than the limit of ${ctx.maxMessageBytes} bytes`);
  }
  let msg: unknown;
  try {
    msg = JSON.parse(rawText(data));
  } catch (err) {
    throw new EnvServerError(400, 'invalid_json', `message is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(msg) || typeof msg.type !== 'string') {
    throw new EnvServerError(422, 'invalid_request', 'message must be an object with a string "type"');
  }
  if (ctx.isClosing()) throw new EnvServerError(503, 'shutting_down', 'the server is shutting down');
  switch (msg.type) {
    case 'reset':
      return send(ws, { type: 'observation', data: await session.reset(parseResetRequest(msg.data)) });
    case 'step':
      return send(ws, { type: 'observation', data: await session.step(parseStepRequest(msg.data)) });
    case 'observe':
      return send(ws, { type: 'observation', data: await session.observe() });
    case 'state':
      return send(ws, { type: 'state', data: session.getState() });
    case 'close':
      await ctx.registry.close(session.id);
      ws.close(1000, 'closed by client');
      return;
    default:
      throw new EnvServerError(
        400,
        'unknown_message_type',
        `unknown message type '${msg.type}' (expected reset, step, state, observe or close)`,
      );
  }
}

function onConnection(ctx: WsContext, ws: WebSocket): void {
  let session: Session;
  try {
    session = ctx.registry.open(randomUUID(), 'ws');
  } catch (err) {
    const e = asServerError(err);
    send(ws, wsErrorMessage(e));
    ws.close(1013, e.code); // 1013: try again later
    return;
  }
  // Chain per connection so replies (including errors) come back in request order.
  let chain: Promise<void> = Promise.resolve();
  ws.on('message', (data) => {
    chain = chain.then(() =>
      handleMessage(ctx, ws, session, data).catch((err: unknown) => {
        const e = asServerError(err);
        if (e.status >= 500) ctx.onServerError?.(err);
        send(ws, wsErrorMessage(e));
      }),
    );
  });
  ws.on('error', () => {
    // Oversized frames and protocol errors: ws closes the socket itself; the close handler frees the session.
  });
  ws.on('close', () => {
    void ctx.registry.close(session.id);
  });
}

/** Answers an upgrade request with a plain HTTP error (JSON body as on the HTTP routes) and closes the socket. */
function refuseUpgrade(socket: Duplex, err: EnvServerError): void {
  const reason = { 403: 'Forbidden', 421: 'Misdirected Request' }[err.status as 403 | 421] ?? 'Bad Request';
  const body = JSON.stringify(httpErrorBody(err));
  socket.end(
    `HTTP/1.1 ${err.status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Serves /ws on `server`; upgrades to any other path are refused with 404, from a foreign Host or Origin with 4xx. */
export function attachWebSocket(server: Server, ctx: WsContext): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: ctx.maxMessageBytes * HARD_CAP_FACTOR });
  wss.on('connection', (ws) => onConnection(ctx, ws));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const denied = ctx.guard.check(req);
    if (denied) return refuseUpgrade(socket, denied);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== WS_PATH || ctx.isClosing()) {
      const status = ctx.isClosing() ? '503 Service Unavailable' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  return wss;
}
