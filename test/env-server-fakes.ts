// A fake EnvPool for server/client tests: deterministic observations that encode task, seed and step, a real
// failure path, and a guard that fails loudly if two operations ever overlap on one page.
import { randomBytes } from 'node:crypto';
import { encodeRgbToPng } from '../lib/env/server/png.ts';
import type { EnvOptions, Episode, Observation, ResetOptions, StepResult } from '../lib/env/types.ts';

export const FAKE_TASKS = ['click-test', 'enter-text'];

export class FakeEpisode implements Episode {
  task = '';
  seed = -1;
  steps = 0;
  closed = false;
  overlapped = false;
  /** True while an operation runs on this page. */
  busy = false;
  private lastAction = '';
  private lastError = '';
  private done = false;
  /** Random pixels, fixed per episode, so screenshot tests compare against fresh data. */
  readonly pixels = { width: 5, height: 3, data: new Uint8Array(randomBytes(5 * 3 * 3)) };

  constructor(
    readonly opts: Partial<EnvOptions>,
    private readonly delayMs: number,
  ) {}

  private async guard<T>(fn: () => T): Promise<T> {
    if (this.closed) throw new Error('episode is closed');
    if (this.busy) this.overlapped = true;
    this.busy = true;
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      return fn();
    } finally {
      this.busy = false;
    }
  }

  private obs(): Observation {
    const o: Observation = {
      goal: `Goal of ${this.task} #${this.seed}`,
      axtree_txt: `RootWebArea '${this.task}'\n\t[13] button 'Click Me!' seed=${this.seed} step=${this.steps}`,
      pruned_html: this.opts.prunedHtml ? `<button bid="13">seed ${this.seed}</button>` : '',
      url: `http://fake.localhost/miniwob/${this.task}.html`,
      focused_element_bid: this.steps > 0 ? '13' : '',
      last_action: this.lastAction,
      last_action_error: this.lastError,
    };
    if (this.opts.screenshot) o.screenshot = encodeRgbToPng(this.pixels);
    return o;
  }

  reset(opts: ResetOptions): Promise<Observation> {
    return this.guard(() => {
      // A page that fails to load, for the reset-failure path.
      if (opts.seed === 666) throw new Error('page failed to load');
      this.task = opts.task;
      this.seed = opts.seed ?? -1;
      this.steps = 0;
      this.done = false;
      this.lastAction = '';
      this.lastError = '';
      return this.obs();
    });
  }

  step(action: string): Promise<StepResult> {
    return this.guard(() => {
      if (action === 'crash()') throw new Error('page crashed');
      this.steps += 1;
      this.lastAction = action;
      let reward = 0;
      if (action === "click('13')") {
        this.lastError = '';
        reward = 1;
        this.done = true;
      } else {
        this.lastError = `ValueError: Could not find element with bid "${action}"`;
      }
      const truncated = !this.done && this.opts.maxSteps !== undefined && this.steps >= this.opts.maxSteps;
      return { observation: this.obs(), reward, done: this.done, truncated, info: { raw_reward: reward, big: 10n } };
    });
  }

  observe(): Promise<Observation> {
    return this.guard(() => this.obs());
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakePool {
  readonly episodes: FakeEpisode[] = [];
  constructor(private readonly delayMs = 5) {}

  async newEpisode(opts: Partial<EnvOptions> = {}): Promise<Episode> {
    const ep = new FakeEpisode(opts, this.delayMs);
    this.episodes.push(ep);
    return ep;
  }

  taskNames(): string[] {
    return [...FAKE_TASKS];
  }

  openEpisodes(): FakeEpisode[] {
    return this.episodes.filter((e) => !e.closed);
  }
}
