// Errors the server reports to clients: an HTTP status, a stable machine-readable code and a human message.
// Over HTTP they become `{"detail": message, "code": code}` (FastAPI's `detail` key, so Python clients print it);
// over WebSocket `{"type": "error", "data": {"message", "code"}}` as in OpenEnv 0.2.

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

export function wsErrorMessage(err: EnvServerError): { type: 'error'; data: { message: string; code: ErrorCode } } {
  return { type: 'error', data: { message: err.message, code: err.code } };
}
