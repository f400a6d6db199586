// EnvPool: the browser environment's entry point. One Chromium process, one isolated context + page per live episode,
// pages reused across resets, the browser relaunched if it dies.
import { BrowserHost } from './browser.ts';
import {
  BrowserEpisode,
  DEFAULT_EPISODE_CONFIG,
  resolveEpisodeConfig,
  type EpisodeConfig,
  type TaskSource,
} from './episode.ts';
import { MINIWOB_TASKS } from './miniwob.ts';
import { BUILTIN_ORIGIN, builtinTaskHtml, builtinTaskNames } from './tasks/index.ts';
import type { EnvOptions, Episode } from './types.ts';

export { findChromium } from './browser.ts';

/** The built-in task suite of lib/env/tasks. */
export const BUILTIN_TASKS: TaskSource = { origin: BUILTIN_ORIGIN, names: builtinTaskNames, html: builtinTaskHtml };

/** Episode options: the shared EnvOptions plus the finer settings of EpisodeConfig. */
export type PoolEpisodeOptions = EnvOptions & Partial<Omit<EpisodeConfig, keyof EnvOptions>>;

export interface EnvPoolOptions extends PoolEpisodeOptions {
  /** Run Chromium headless (default true). */
  headless?: boolean;
  /** Chromium binary; default findChromium(). */
  executablePath?: string;
  /** Built-in task pages; default lib/env/tasks. */
  builtinTasks?: TaskSource;
  /** Extra Chromium command-line flags. */
  chromiumArgs?: string[];
}

export class EnvPool {
  private readonly episodes = new Set<BrowserEpisode>();

  private constructor(
    private readonly host: BrowserHost,
    private readonly tasks: TaskSource,
    private readonly defaults: EpisodeConfig,
  ) {}

  static async launch(opts: EnvPoolOptions = {}): Promise<EnvPool> {
    const { headless, executablePath, builtinTasks, chromiumArgs, ...episodeOpts } = opts;
    const defaults = resolveEpisodeConfig(DEFAULT_EPISODE_CONFIG, episodeOpts);
    const host = await BrowserHost.launch({ headless, executablePath, extraArgs: chromiumArgs });
    return new EnvPool(host, builtinTasks ?? BUILTIN_TASKS, defaults);
  }

  /** A new episode with its own isolated page; options override the pool's. */
  async newEpisode(opts: Partial<PoolEpisodeOptions> = {}): Promise<Episode> {
    const cfg = resolveEpisodeConfig(this.defaults, opts);
    const ep = new BrowserEpisode(this.host, this.tasks, cfg, (e) => this.episodes.delete(e));
    this.episodes.add(ep);
    await ep.open();
    return ep;
  }

  /** Built-in task names, or the known MiniWoB++ task names when the pool runs a real MiniWoB++ checkout. */
  taskNames(): string[] {
    return this.defaults.miniwobUrl !== undefined ? [...MINIWOB_TASKS] : this.tasks.names();
  }

  /** Number of episodes not yet closed. */
  get liveEpisodes(): number {
    return this.episodes.size;
  }

  /** Times the browser was relaunched after dying. */
  get browserRelaunches(): number {
    return this.host.relaunches;
  }

  /** OS process id of the Chromium browser process. */
  browserPid(): Promise<number> {
    return this.host.pid();
  }

  /** Page targets and renderer processes Chromium has alive now (closed episodes must leave none behind). */
  liveTargets(): Promise<{ pages: number; renderers: number }> {
    return this.host.liveTargets();
  }

  async close(): Promise<void> {
    await Promise.all([...this.episodes].map((e) => e.close()));
    await this.host.close();
  }
}
