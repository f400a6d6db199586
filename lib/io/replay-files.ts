// Replays on disk: one folder per recording (an `lfm2-rl eval --record DIR`, or a training step's evaluation or
// rollout under <run>/replays/step-<S>/), readable by a person and by report.html (lib/io/replay-catalog.ts):
//   <dir>/index.json                          what was recorded: source, step, per-task table rows, one line per episode
//   <dir>/<task>/episode-<k>/episode.json     the episode: seed, reward, and per step prompt, completion, action,
//                                             error, reward, done, target box and screenshot file
//   <dir>/<task>/episode-<k>/step-<n>.png     the page before action n, its target outlined
//   <dir>/<task>/episode-<k>/final.png        the page after the last step
// index.json is written last, so a folder without it is an unfinished recording.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepTranscript } from './metrics.ts';
import type { TaskTableRow } from './task-table.ts';

export const REPLAY_FORMAT = 'lfm2-rl-replay';
export const REPLAY_VERSION = 1;
export const REPLAY_INDEX = 'index.json';
export const EPISODE_FILE = 'episode.json';

/** A screenshot as the rollout took it. */
export interface ReplayImage {
  png: Buffer;
  target: { x: number; y: number; width: number; height: number } | null;
}

/** What a recorded episode carries (lib/rl/rollout.ts RolloutEpisode fits). */
export interface ReplayEpisodeInput {
  group: number;
  member: number;
  task: string;
  seed: number;
  reward: { reward: number; success: boolean };
  steps: ReadonlyArray<{
    promptText: string;
    completionText: string;
    action: string;
    error: string;
    reward: number;
    done: boolean;
    screenshot?: ReplayImage | null;
  }>;
  finalScreenshot?: ReplayImage | null;
}

export type ReplaySource = 'eval' | 'rollout';

/** What identifies and scores one recorded episode, in the index and in its own file. */
interface ReplayEpisodeInfo {
  task: string;
  /** Number of the episode among the recording's episodes of its task (0-based). */
  episode: number;
  seed: number;
  group: number;
  member: number;
  success: boolean;
  reward: number;
}

export interface ReplayIndexEpisode extends ReplayEpisodeInfo {
  steps: number;
  /** Folder of the episode, relative to the recording, with '/' separators. */
  dir: string;
}

export interface ReplayIndex {
  format: typeof REPLAY_FORMAT;
  version: number;
  source: ReplaySource;
  /** Training step the recording belongs to; null for `lfm2-rl eval`. */
  step: number | null;
  /** Free text shown by the viewer (model, temperature …). */
  note: string;
  created: string;
  /** The per-task table of the recorded episodes (lib/io/task-table.ts). */
  tasks: TaskTableRow[];
  episodes: ReplayIndexEpisode[];
}

export interface ReplayEpisodeFile extends ReplayEpisodeInfo {
  steps: Array<StepTranscript & {
    step: number;
    /** The action's target box in CSS pixels of the viewport, when it was found on the page. */
    target: { x: number; y: number; width: number; height: number } | null;
    /** Image file in the episode folder, null when none was taken. */
    screenshot: string | null;
  }>;
  final_screenshot: string | null;
}

/** A task name as a folder name: anything but letters, digits, '.', '_' and '-' becomes '_'. */
export function taskFolder(task: string): string {
  const safe = task.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? `_${safe}` : safe;
}

/**
 * Throws a clear error unless `dir` can take a new recording: it does not exist yet (its parent folders are made) or
 * is an empty folder. A file, or a folder with something in it, is refused rather than overwritten or mixed into.
 */
export function checkReplayDir(dir: string, flag = 'replay folder'): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${flag} '${dir}' is a file, not a folder`);
  if (readdirSync(dir).length > 0) throw new Error(`${flag} '${dir}' is not empty: choose a new or empty folder`);
}

export interface WriteReplayOptions {
  source: ReplaySource;
  step: number | null;
  note?: string;
  tasks: TaskTableRow[];
  /** Remove whatever `dir` holds first (a training step recorded again after a resume); else it must be new or empty. */
  replace?: boolean;
}

/** Writes `episodes` (with whatever screenshots they carry) as one recording in `dir`; returns its index. */
export function writeReplay(dir: string, episodes: readonly ReplayEpisodeInput[], o: WriteReplayOptions): ReplayIndex {
  if (o.replace) rmSync(dir, { recursive: true, force: true });
  else checkReplayDir(dir);
  mkdirSync(dir, { recursive: true });
  const perTask = new Map<string, number>();
  const index: ReplayIndex = {
    format: REPLAY_FORMAT,
    version: REPLAY_VERSION,
    source: o.source,
    step: o.step,
    note: o.note ?? '',
    created: new Date().toISOString(),
    tasks: o.tasks,
    episodes: [],
  };
  for (const e of episodes) {
    const k = perTask.get(e.task) ?? 0;
    perTask.set(e.task, k + 1);
    const rel = `${taskFolder(e.task)}/episode-${k}`;
    const epDir = join(dir, ...rel.split('/'));
    mkdirSync(epDir, { recursive: true });
    const image = (name: string, shot: ReplayImage | null | undefined): string | null => {
      if (!shot) return null;
      writeFileSync(join(epDir, name), shot.png);
      return name;
    };
    const file: ReplayEpisodeFile = {
      task: e.task,
      episode: k,
      seed: e.seed,
      group: e.group,
      member: e.member,
      success: e.reward.success,
      reward: e.reward.reward,
      steps: e.steps.map((s, n) => ({
        step: n,
        prompt: s.promptText,
        completion: s.completionText,
        action: s.action,
        error: s.error,
        reward: s.reward,
        done: s.done,
        target: s.screenshot?.target ?? null,
        screenshot: image(`step-${n}.png`, s.screenshot),
      })),
      final_screenshot: image('final.png', e.finalScreenshot),
    };
    writeFileSync(join(epDir, EPISODE_FILE), JSON.stringify(file, null, 1) + '\n');
    index.episodes.push({ task: e.task, episode: k, seed: e.seed, group: e.group, member: e.member, success: e.reward.success, reward: e.reward.reward, steps: e.steps.length, dir: rel });
  }
  writeFileSync(join(dir, REPLAY_INDEX), JSON.stringify(index, null, 1) + '\n');
  return index;
}
