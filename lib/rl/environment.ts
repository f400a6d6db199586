// The environment of a run: a local Chromium pool (built-in tasks, or a real MiniWoB++ checkout with miniwob_url) or a
// remote OpenEnv BrowserGym server (env_url). Startup failures become messages that say what to install or check.
import type { TrainConfig } from '../io/config.ts';
import { OpenEnvPool, openEnvBaseUrl } from '../env/client.ts';
import { EnvPool } from '../env/env.ts';
import type { EpisodeFactory } from './rollout.ts';

export interface EnvironmentHandle {
  factory: EpisodeFactory;
  /** For the banner. */
  description: string;
  close(): Promise<void>;
}

export async function openEnvironment(
  c: Pick<TrainConfig, 'env_url' | 'miniwob_url' | 'max_env_steps' | 'env_step_timeout_s'> & Partial<Pick<TrainConfig, 'prompt_text_bids'>>,
): Promise<EnvironmentHandle> {
  if (c.env_url !== null) {
    const url = openEnvBaseUrl(c.env_url);
    const pool = await OpenEnvPool.connect(url);
    return { factory: { newEpisode: () => pool.newEpisode({ screenshot: false }) }, description: `OpenEnv server ${url}`, close: () => pool.close() };
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
