// Sessions: one Episode (one browser page) per client session, its OpenEnv state, and a queue that runs the
// session's operations one at a time, so concurrent requests on one session never interleave on its page while
// different sessions run in parallel. The registry caps how many sessions exist at once.
import { randomInt, randomUUID } from 'node:crypto';
import type { EnvOptions, Episode, StepResult } from '../types.ts';
import { within } from '../deadline.ts';
import { EnvServerError } from './errors.ts';
import { resultToWire, type WireResult, type WireState } from './protocol.ts';
import type { ResetRequest, ScreenshotFormat, StepRequest } from './validate.ts';

/** What the server needs from lib/env/env.ts's EnvPool. */
export interface EnvPoolLike {
  newEpisode(opts?: Partial<EnvOptions>): Promise<Episode>;
  taskNames(): string[];
}

export interface SessionConfig {
  /** Task used by a reset without task_name before any task was chosen. */
  defaultTask: string;
  /** Options for every new episode (maxSteps, prunedHtml, ...); `screenshot` is decided per session. */
  episodeOptions: Partial<EnvOptions>;
  defaultScreenshot: ScreenshotFormat;
  /** OpenEnv's BROWSERGYM_BENCHMARK, used in task ids: 'browsergym/<benchmark>.<task>'. */
  benchmark: string;
  /** Called with failures the client only sees as an observation error (for server logs). */
  onEnvError?: (sessionId: string, err: unknown) => void;
}

export type Transport = 'http' | 'ws';

export class Session {
  lastUsed = Date.now();
  private episode: Episode | undefined;
  private episodeScreenshots = false;
  private format: ScreenshotFormat;
  private last: StepResult | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private state: WireState;

  constructor(
    readonly id: string,
    readonly transport: Transport,
    private readonly pool: EnvPoolLike,
    private readonly cfg: SessionConfig,
  ) {
    this.format = cfg.defaultScreenshot;
    this.state = {
      episode_id: null,
      step_count: 0,
      benchmark: cfg.benchmark,
      task_name: '',
      task_id: '',
      goal: '',
      current_url: '',
      max_steps: cfg.episodeOptions.maxSteps ?? null,
      cum_reward: 0,
      seed: null,
    };
  }

  /** Runs `fn` after every operation queued before it; a failure does not block later ones. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.lastUsed = Date.now();
    const run = this.queue.then(() => {
      if (this.closed) throw new EnvServerError(404, 'unknown_session', `session '${this.id}' is closed`);
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run.finally(() => {
      this.lastUsed = Date.now();
    });
  }

  getState(): WireState {
    this.lastUsed = Date.now();
    return { ...this.state };
  }

  reset(req: ResetRequest): Promise<WireResult> {
    const task = req.task_name ?? (this.state.task_name || this.cfg.defaultTask);
    const known = this.pool.taskNames();
    if (!known.includes(task)) {
      const list = known.length > 20 ? `${known.slice(0, 20).join(', ')}, ... (${known.length} in all)` : known.join(', ');
      return Promise.reject(new EnvServerError(400, 'unknown_task', `unknown task '${task}'; known tasks: ${list}`));
    }
    return this.enqueue(async () => {
      if (req.screenshot !== undefined) this.format = req.screenshot;
      const wantShots = this.format !== 'none';
      if (this.episode && this.episodeScreenshots !== wantShots) {
        const old = this.episode;
        this.episode = undefined;
        await old.close();
      }
      if (!this.episode) {
        const episode = await this.pool.newEpisode({ ...this.cfg.episodeOptions, screenshot: wantShots });
        if (this.closed) {
          // Closed while its page was opening: the page must not outlive the session.
          await episode.close();
          throw new EnvServerError(404, 'unknown_session', `session '${this.id}' is closed`);
        }
        this.episode = episode;
        this.episodeScreenshots = wantShots;
      }
      // BrowserGym seeds are drawn like numpy's: any 32-bit value; an unseeded reset gets a fresh one.
      const seed = req.seed ?? randomInt(0, 2 ** 31);
      // Until this reset succeeds the page is in no known episode: steps must fail with not_reset.
      this.last = undefined;
      const observation = await this.episode.reset({ task, seed });
      this.last = { observation, reward: 0, done: false, truncated: false, info: {} };
      this.state = {
        ...this.state,
        episode_id: req.episode_id ?? randomUUID(),
        step_count: 0,
        task_name: task,
        task_id: `browsergym/${this.cfg.benchmark}.${task}`,
        goal: observation.goal,
        current_url: observation.url,
        cum_reward: 0,
        seed,
      };
      return resultToWire({ ...this.last, info: { task_name: task, seed } }, this.format);
    });
  }

  step(req: StepRequest): Promise<WireResult> {
    const op = this.enqueue(async () => {
      const episode = this.requireEpisode();
      let result: StepResult;
      let envError = '';
      try {
        result = await episode.step(req.action_str);
      } catch (err) {
        // As OpenEnv's server does when the env itself raises: the last observation with the error, reward 0.
        this.cfg.onEnvError?.(this.id, err);
        envError = `EnvError: ${err instanceof Error ? err.message : String(err)}`;
        const prev = this.last!;
        result = { ...prev, reward: 0, info: {} };
      }
      this.last = result;
      this.state.step_count += 1;
      this.state.cum_reward += result.reward;
      this.state.goal = result.observation.goal;
      this.state.current_url = result.observation.url;
      return resultToWire(result, this.format, envError);
    });
    return req.timeout_s === undefined ? op : withTimeout(op, req.timeout_s);
  }

  /** The current observation without acting (an extension: OpenEnv has no such call). */
  observe(): Promise<WireResult> {
    return this.enqueue(async () => {
      const episode = this.requireEpisode();
      const observation = await episode.observe();
      const prev = this.last!;
      this.last = { ...prev, observation };
      return resultToWire({ ...this.last, info: {} }, this.format);
    });
  }

  /**
   * Closes the session; later calls fail with unknown_session. The page closes at once, even under a running
   * operation (which then fails or ends its episode): a client that leaves must not leave a page behind, however
   * stuck. With `drainMs` (server shutdown) queued operations first get up to that long to finish.
   */
  async close(drainMs = 0): Promise<void> {
    if (drainMs > 0) await within(this.queue, drainMs);
    this.closed = true;
    const ep = this.episode;
    this.episode = undefined;
    if (ep) await ep.close();
  }

  private requireEpisode(): Episode {
    if (!this.episode || !this.last) {
      throw new EnvServerError(409, 'not_reset', `session '${this.id}' has no episode yet: send reset first`);
    }
    return this.episode;
  }
}

function withTimeout<T>(p: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EnvServerError(504, 'timeout', `step did not finish within timeout_s=${seconds}`)),
      seconds * 1000,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  /** Sessions removed whose page is still closing: they count towards the cap, so it bounds live pages. */
  private closing = 0;

  constructor(
    private readonly pool: EnvPoolLike,
    private readonly cfg: SessionConfig,
    readonly maxSessions: number,
  ) {
    if (!Number.isInteger(maxSessions) || maxSessions < 1) {
      throw new Error(`maxSessions must be a positive integer, got ${maxSessions}`);
    }
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Slots taken towards maxSessions: live sessions and those whose page is still closing. */
  get slotsInUse(): number {
    return this.sessions.size + this.closing;
  }

  /** Creates a session (no page yet: the first reset opens it). */
  open(id: string, transport: Transport): Session {
    if (this.sessions.has(id)) throw new EnvServerError(409, 'session_exists', `session '${id}' already exists`);
    if (this.sessions.size + this.closing >= this.maxSessions) {
      const closing = this.closing > 0 ? ` (${this.closing} of them closing)` : '';
      throw new EnvServerError(
        429,
        'too_many_sessions',
        `the server already has ${this.sessions.size + this.closing} sessions${closing} (max ${this.maxSessions}); ` +
          'close one or retry later',
      );
    }
    const s = new Session(id, transport, this.pool, this.cfg);
    this.sessions.set(id, s);
    return s;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  require(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw new EnvServerError(404, 'unknown_session', `unknown session '${id}': send reset first`);
    return s;
  }

  async close(id: string, drainMs = 0): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.sessions.delete(id);
    this.closing += 1;
    try {
      await s.close(drainMs);
    } finally {
      this.closing -= 1;
    }
    return true;
  }

  /** Closes every session, letting queued operations finish first for up to `drainMs`. */
  async closeAll(drainMs = 0): Promise<void> {
    await Promise.allSettled([...this.sessions.keys()].map((id) => this.close(id, drainMs)));
  }

  /** Closes HTTP sessions unused for `maxIdleMs` (WebSocket sessions end with their connection). */
  async reapIdle(maxIdleMs: number, now = Date.now()): Promise<string[]> {
    const idle = [...this.sessions.values()].filter((s) => s.transport === 'http' && now - s.lastUsed > maxIdleMs);
    await Promise.allSettled(idle.map((s) => this.close(s.id)));
    return idle.map((s) => s.id);
  }
}
