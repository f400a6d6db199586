// Validation of OpenEnv BrowserGym requests. Field names follow OpenEnv: ResetRequest {seed, episode_id, task_name, ...}
// and StepRequest {action: {action_str, metadata}, timeout_s, request_id}. Unknown extra fields are ignored, as
// OpenEnv's pydantic models allow them; wrong types are a 422 like FastAPI's validation errors.
import { EnvServerError } from './errors.ts';

/** How a session's observations carry screenshots: none, OpenEnv's [H][W][3] nested lists, or base64 PNG. */
export type ScreenshotFormat = 'none' | 'array' | 'png';

export interface ResetRequest {
  seed?: number;
  episode_id?: string;
  task_name?: string;
  /** Absent → the server default; true → 'array' (OpenEnv's format). */
  screenshot?: ScreenshotFormat;
}

export interface StepRequest {
  action_str: string;
  metadata: Record<string, unknown>;
  /** Seconds the client waits for this step; the server answers 504 after that. */
  timeout_s?: number;
  request_id?: string;
}

// BrowserGym seeds numpy's RandomState, which takes 0 <= seed < 2**32.
const MAX_SEED = 2 ** 32 - 1;
const MAX_ID_CHARS = 256;
const SESSION_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

function invalid(message: string): EnvServerError {
  return new EnvServerError(422, 'invalid_request', message);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(body: Record<string, unknown>, key: string, maxChars: number): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`'${key}' must be a string, got ${typeof v}`);
  if (v.length > maxChars) throw invalid(`'${key}' is longer than ${maxChars} characters`);
  return v;
}

/** 'browsergym/miniwob.click-test' and 'miniwob.click-test' → 'click-test' (gym ids are accepted as task names). */
export function normaliseTaskName(name: string): string {
  return name.replace(/^browsergym\//, '').replace(/^miniwob\./, '');
}

export function parseResetRequest(body: unknown): ResetRequest {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) throw invalid('reset request must be a JSON object');
  const out: ResetRequest = {};
  const seed = body.seed;
  if (seed !== undefined && seed !== null) {
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw invalid(`'seed' must be an integer in [0, ${MAX_SEED}], got ${JSON.stringify(seed)}`);
    }
    out.seed = seed;
  }
  const episodeId = optionalString(body, 'episode_id', MAX_ID_CHARS);
  if (episodeId !== undefined) out.episode_id = episodeId;
  const task = optionalString(body, 'task_name', MAX_ID_CHARS);
  if (task !== undefined) {
    if (task.trim() === '') throw invalid(`'task_name' must not be empty`);
    out.task_name = normaliseTaskName(task.trim());
  }
  const shot = body.screenshot;
  if (shot !== undefined && shot !== null) {
    if (shot === true) out.screenshot = 'array';
    else if (shot === false) out.screenshot = 'none';
    else if (shot === 'array' || shot === 'png' || shot === 'none') out.screenshot = shot;
    else throw invalid(`'screenshot' must be true, false, 'array', 'png' or 'none', got ${JSON.stringify(shot)}`);
  }
  return out;
}

/** Accepts `{action: {action_str, metadata}, timeout_s?, request_id?}` and a bare `{action_str, metadata}`. */
export function parseStepRequest(body: unknown): StepRequest {
  if (!isPlainObject(body)) throw invalid('step request must be a JSON object');
  const action = body.action !== undefined ? body.action : body;
  if (!isPlainObject(action)) throw invalid(`'action' must be an object like {"action_str": "click('13')"}`);
  const actionStr = action.action_str;
  if (typeof actionStr !== 'string') {
    throw invalid(`'action.action_str' must be a string, got ${actionStr === undefined ? 'nothing' : typeof actionStr}`);
  }
  const metadata = action.metadata ?? {};
  if (!isPlainObject(metadata)) throw invalid(`'action.metadata' must be an object`);
  const out: StepRequest = { action_str: actionStr, metadata };
  const timeout = body.timeout_s;
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
      throw invalid(`'timeout_s' must be a positive number, got ${JSON.stringify(timeout)}`);
    }
    out.timeout_s = timeout;
  }
  const requestId = optionalString(body, 'request_id', MAX_ID_CHARS);
  if (requestId !== undefined) out.request_id = requestId;
  return out;
}

/** Session ids travel in a header or URL, so they are restricted to a safe character set. */
export function parseSessionId(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !SESSION_ID_RE.test(v)) {
    throw new EnvServerError(400, 'invalid_request', `session id must match ${SESSION_ID_RE.source}`);
  }
  return v;
}

/** The server-wide screenshot setting from a command-line word. */
export function parseScreenshotFlag(v: string): ScreenshotFormat {
  if (v === 'none' || v === 'array' || v === 'png') return v;
  throw new Error(`screenshot format must be none, array or png, got '${v}'`);
}
