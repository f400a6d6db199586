// Scheduling of asynchronous rollouts (async_rollouts). Round r+1 is collected during the LAST optimizer step of round r
// and that step's update waits for the collection to finish, so round r+1 is sampled with exactly the weights before
// that step: one optimizer step stale, never more (the loss's importance ratio uses the log-probs recorded at sampling,
// lib/rl/rollout.ts, so it corrects for that step). What overlaps is the browser work of round r+1 with the
// forward/backward passes of the step (lib/rl/model-turns.ts decides whose turn the model is).

/**
 * Whether the optimizer step taken after `stepsDone` steps collects the next round beside its training: it is the
 * last step of its round and a later step will consume the next round.
 */
export function overlapsNextRound(stepsDone: number, stepsPerRound: number, maxSteps: number): boolean {
  if (!Number.isInteger(stepsPerRound) || stepsPerRound < 1) throw new Error(`overlapsNextRound: stepsPerRound must be a positive integer, got ${stepsPerRound}`);
  const next = stepsDone + 1;
  return next % stepsPerRound === 0 && next < maxSteps;
}

export interface JoinedRound<T> {
  value: T;
  /** Seconds during which the collection and the step's own training work were both running. */
  overlapSeconds: number;
  /** Seconds the step waited for the collection after its own training work was done. */
  waitSeconds: number;
}

/**
 * The next round being collected beside a step. It starts at once; a failure is held (no unhandled rejection) until
 * join() or settle() is called.
 */
export class RoundPrefetch<T> {
  private readonly startedAt = performance.now();
  private doneAt = 0;
  private readonly settled: Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;

  constructor(start: () => Promise<T>) {
    this.settled = Promise.resolve()
      .then(start)
      .then(
        (value) => ((this.doneAt = performance.now()), { ok: true as const, value }),
        (error: unknown) => ((this.doneAt = performance.now()), { ok: false as const, error }),
      );
  }

  /** Waits for the round once the step's own work ended at `trainDoneAt` (performance.now()); rethrows its error. */
  async join(trainDoneAt: number): Promise<JoinedRound<T>> {
    const r = await this.settled;
    if (!r.ok) throw r.error;
    return {
      value: r.value,
      overlapSeconds: Math.max(0, Math.min(trainDoneAt, this.doneAt) - this.startedAt) / 1000,
      waitSeconds: Math.max(0, this.doneAt - trainDoneAt) / 1000,
    };
  }

  /** Waits for the collection to end, however it ends (before an error of the step propagates past it). */
  async settle(): Promise<void> {
    await this.settled;
  }
}
