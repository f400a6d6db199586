// The environment of a run: a local Chromium pool (built-in tasks, or a real MiniWoB++ checkout with miniwob_url) or
// remote OpenEnv BrowserGym servers (env_url: one or several, episodes spread over them by free capacity,
// lib/env/server-pool.ts). Startup failures become messages that say what to install or check.
import type { TrainConfig } from '../io/config.ts';
import { EnvPool } from '../env/env.ts';
import { OpenEnvServerPool } from '../env/server-pool.ts';
import type { EpisodeFactory } from './rollout.ts';

export interface EnvironmentHandle {
  factory: EpisodeFactory;
  /** For the banner. */
  description: string;
  close(): Promise<void>;
}

export interface EnvironmentSettings
  extends Pick<TrainConfig, 'miniwob_url' | 'max_env_steps' | 'env_step_timeout_s'>,
    Partial<Pick<TrainConfig, 'prompt_text_bids' | 'env_server_timeout_s'>> {
  /** One server URL or several (a config's env_url); null = local browser. */
  env_url: string | readonly string[] | null;
}

/** `log` gets remote servers leaving and rejoining the pool. */
export async function openEnvironment(c: EnvironmentSettings, log?: (message: string) => void): Promise<EnvironmentHandle> {
  if (c.env_url !== null) {
    const urls = typeof c.env_url === 'string' ? [c.env_url] : c.env_url;
    const pool = await OpenEnvServerPool.connect(urls, {
      timeoutMs: Math.max(1, Math.round((c.env_server_timeout_s ?? 60) * 1000)),
      log,
    });
    return {
      factory: { newEpisode: () => pool.newEpisode({ screenshot: false }), envMetrics: () => pool.metrics() },
      description: pool.describe(),
      close: () => pool.close(),
    };
  }
  let pool: EnvPool;
  try {
    // Page loads share the CPU with sampling and training (and, in training, with many other pages): a generous load
    // timeout avoids replaying rounds on a busy machine.
    pool = await EnvPool.launch({
      miniwobUrl: c.miniwob_url ?? undefined,
      maxSteps: c.max_env_steps,
      pageTimeoutMs: 20_000,
      // A page that stops responding (a sampled action can wedge one) must not stall the run.
      stepTimeoutMs: Math.max(1, Math.round(c.env_step_timeout_s * 1000)),
    });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new Error(`cannot start the browser environment: ${msg}${/No Chromium found|CHROMIUM_PATH/.test(msg) ? '' : ' (check CHROMIUM_PATH, or run `make browser`)'}`);
  }
  return {
    factory: { newEpisode: () => pool.newEpisode({ prunedHtml: c.prompt_text_bids ?? false }) },
    description: c.miniwob_url ? `local Chromium, MiniWoB++ at ${c.miniwob_url}` : 'local Chromium, built-in task suite',
    close: () => pool.close(),
  };
}
