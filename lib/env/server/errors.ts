// Errors the server reports to clients: an HTTP status, a stable machine-readable code and a human message.
// Over HTTP they become `{"detail": message, "code": code}` (FastAPI's `detail` key, so Python clients print it);
// over WebSocket `{"type": "error", "data": {"message", "code", "reason"}}`: `code` is OpenEnv 0.2's WSErrorCode
// (what its clients know), `reason` this server's finer code.

export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'unknown_task'
  | 'unknown_session'
  | 'not_reset'
  | 'payload_too_large'
  | 'too_many_sessions'
  | 'session_exists'
  | 'not_found'
  | 'method_not_allowed'
  | 'unknown_message_type'
  | 'timeout'
  | 'shutting_down'
  | 'wrong_host'
  | 'forbidden_origin'
  | 'unsupported_media_type'
  | 'env_error';

export class EnvServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EnvServerError';
  }
}

/** Any thrown value → an EnvServerError; unexpected ones become 500 env_error with their message. */
export function asServerError(err: unknown): EnvServerError {
  if (err instanceof EnvServerError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new EnvServerError(500, 'env_error', msg);
}

export function httpErrorBody(err: EnvServerError): { detail: string; code: ErrorCode } {
  return { detail: err.message, code: err.code };
}

/** OpenEnv's WSErrorCode for each of this server's codes. */
const OPENENV_WS_CODE: Record<ErrorCode, string> = {
  invalid_json: 'INVALID_JSON',
  unknown_message_type: 'UNKNOWN_TYPE',
  invalid_request: 'VALIDATION_ERROR',
  unknown_task: 'VALIDATION_ERROR',
  payload_too_large: 'VALIDATION_ERROR',
  too_many_sessions: 'CAPACITY_REACHED',
  session_exists: 'SESSION_ERROR',
  unknown_session: 'SESSION_ERROR',
  not_reset: 'EXECUTION_ERROR',
  timeout: 'EXECUTION_ERROR',
  shutting_down: 'EXECUTION_ERROR',
  env_error: 'EXECUTION_ERROR',
  not_found: 'UNKNOWN_TYPE',
  method_not_allowed: 'UNKNOWN_TYPE',
  // Refused before a WebSocket exists (the upgrade gets an HTTP reply); listed for completeness.
  wrong_host: 'VALIDATION_ERROR',
  forbidden_origin: 'VALIDATION_ERROR',
  unsupported_media_type: 'VALIDATION_ERROR',
};

export interface WsErrorMessage {
  type: 'error';
  data: { message: string; code: string; reason: ErrorCode };
}

export function wsErrorMessage(err: EnvServerError): WsErrorMessage {
  return { type: 'error', data: { message: err.message, code: OPENENV_WS_CODE[err.code], reason: err.code } };
}
