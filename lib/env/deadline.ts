// Waiting for browser work with a bound. Playwright and CDP calls cannot be cancelled: a call into a page whose
// renderer spins in a loop (or whose input pipeline is stuck) never returns. `within` stops waiting after a deadline
// without pretending the work stopped; the caller then decides (probe the page, recycle it).

export type Outcome<T> = { kind: 'fulfilled'; value: T } | { kind: 'rejected'; error: unknown } | { kind: 'overran' };

/** How `work` ended, or 'overran' when it did not settle within `ms`. A later rejection of `work` is handled. */
export function within<T>(work: Promise<T>, ms: number): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'overran' }), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve({ kind: 'fulfilled', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: 'rejected', error });
      },
    );
  });
}

/** An Error named TimeoutError, as Playwright's (and Python's) timeouts are, so `last_action_error` reads alike. */
export function timeoutError(message: string): Error {
  const e = new Error(message);
  e.name = 'TimeoutError';
  return e;
}
