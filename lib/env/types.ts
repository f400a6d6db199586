// Public types of the browser environment. Field names follow BrowserGym / OpenEnv so observations and
// actions move between this project and that world unchanged.

/** What the agent sees after reset() or step(). Mirrors OpenEnv's BrowserGymObservation fields. */
export interface Observation {
  /** Task goal text (MiniWoB utterance). */
  goal: string;
  /** Accessibility tree in BrowserGym's `flatten_axtree_to_str` format: `[bid] role 'name'` lines, tab-indented. */
  axtree_txt: string;
  /** Pruned HTML (only when requested in EnvOptions.pruned_html, else ''). */
  pruned_html: string;
  url: string;
  /** bid of the focused element, '' when none. */
  focused_element_bid: string;
  last_action: string;
  /** `ExceptionName: message` of the last action, '' when it succeeded. */
  last_action_error: string;
  /** PNG bytes, only when EnvOptions.screenshot is true. */
  screenshot?: Buffer;
}

export interface StepResult {
  observation: Observation;
  reward: number;
  done: boolean;
  truncated: boolean;
  info: Record<string, unknown>;
}

export interface ResetOptions {
  /** Task name, e.g. 'click-test' (built-in or, with miniwobUrl, a real MiniWoB++ page). */
  task: string;
  /** Environment seed; same seed → same episode. */
  seed?: number;
}

export interface EnvOptions {
  /** Base URL of a real MiniWoB++ checkout (BrowserGym's MINIWOB_URL); unset → built-in task suite. */
  miniwobUrl?: string;
  /** Maximum env steps before `truncated`. */
  maxSteps?: number;
  /** Per-action timeout in milliseconds. */
  actionTimeoutMs?: number;
  /**
   * Deadline of each step and observe in milliseconds (default 30 s; a reset gets at least twice the page timeout).
   * A page that overruns it and does not recover is closed and replaced, and the step reports `truncated`.
   */
  stepTimeoutMs?: number;
  screenshot?: boolean;
  prunedHtml?: boolean;
  /** Also mark `clickable` / `visible` flags in axtree_txt. */
  axtreeFlags?: boolean;
}

/** A screenshot taken for a replay (Episode.capture). */
export interface EpisodeCapture {
  /** PNG of the viewport, the target outlined when there was one on the page. */
  png: Buffer;
  /** The target's box in CSS pixels of the viewport; null when no target was asked for or found. */
  target: { x: number; y: number; width: number; height: number } | null;
}

/** One episode on one page. Many can run in parallel on one BrowserPool. */
export interface Episode {
  reset(opts: ResetOptions): Promise<Observation>;
  step(action: string): Promise<StepResult>;
  /** Current observation without acting. */
  observe(): Promise<Observation>;
  /**
   * Screenshot of the page as it is now, the element with `targetBid` outlined; reads the page without changing it.
   * Optional: episodes that cannot take one (a remote server's) leave it out and replays go without images.
   */
  capture?(targetBid: string | null): Promise<EpisodeCapture>;
  close(): Promise<void>;
}
