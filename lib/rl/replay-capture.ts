// Screenshots for replays, taken by the rollout loop (lib/rl/rollout.ts) on the episodes it records: before each
// action (its target outlined) and once after the last. A screenshot never fails an episode: a failed one is logged and
// the step recorded without an image. Taking one only reads the page, so a recorded episode runs as an unrecorded one.
import { parseAction } from '../env/actions/parser.ts';
import type { Episode, EpisodeCapture } from '../env/types.ts';

/** The bid the action of a completion acts on, or null (no valid action, or one without a target such as scroll). */
export function actionTarget(completionText: string): string | null {
  try {
    const args = parseAction(completionText).args as { bid?: unknown };
    return typeof args.bid === 'string' && args.bid !== '' ? args.bid : null;
  } catch {
    return null;
  }
}

/** Takes replay screenshots for one rollout round; warns once when the environment cannot take any. */
export class ReplayCamera {
  private warnedUnsupported = false;

  constructor(private readonly warn: (msg: string) => void = () => undefined) {}

  /** The page now (`targetBid` outlined), or null when no image could be taken; `where` names it in a warning. */
  async shoot(episode: Episode, targetBid: string | null, where: string): Promise<EpisodeCapture | null> {
    if (!episode.capture) {
      if (!this.warnedUnsupported) this.warn('this environment takes no screenshots (a remote server): replays are recorded without images');
      this.warnedUnsupported = true;
      return null;
    }
    try {
      return await episode.capture(targetBid);
    } catch (e) {
      this.warn(`replay screenshot failed (${where}): ${(e as Error)?.message?.split('\n')[0] ?? String(e)}; recorded without an image`);
      return null;
    }
  }
}
