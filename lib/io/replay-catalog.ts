// Finds the recordings under a folder (lib/io/replay-files.ts) and loads them for the report's episode viewer
// (lib/io/replay-viewer.ts), with image paths relative to the report. A recording that cannot be read (unfinished,
// damaged, another format) is skipped with a warning: the report of a run must never fail because of its replays.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { EPISODE_FILE, REPLAY_FORMAT, REPLAY_INDEX, type ReplayEpisodeFile, type ReplayIndex } from './replay-files.ts';
import type { StepTranscript } from './metrics.ts';
import type { TaskTableRow } from './task-table.ts';

/** One step as the viewer shows it. */
export interface ViewerStep extends StepTranscript {
  /** Image URL relative to the report, or null. */
  image: string | null;
}

export interface ViewerEpisode {
  task: string;
  episode: number;
  seed: number;
  success: boolean;
  reward: number;
  steps: ViewerStep[];
  /** The page after the last step, relative to the report, or null. */
  final: string | null;
}

export interface ViewerRecording {
  /** e.g. 'step 10 · eval'. */
  label: string;
  source: string;
  step: number | null;
  note: string;
  tasks: TaskTableRow[];
  episodes: ViewerEpisode[];
}

/** Folders below `root` searched for index.json: <root>, <root>/x, <root>/x/y (training: replays/step-S/eval). */
const MAX_DEPTH = 2;

function findIndexes(dir: string, depth: number, out: string[]): void {
  if (existsSync(join(dir, REPLAY_INDEX))) {
    out.push(dir);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const sub = join(dir, n);
    try {
      if (statSync(sub).isDirectory()) findIndexes(sub, depth + 1, out);
    } catch {
      // vanished or unreadable: not a recording
    }
  }
}

/** A path relative to the report, as a URL: '/' separators, each segment percent-encoded. */
function urlFrom(reportDir: string, file: string): string {
  return relative(reportDir, file).split(sep).map(encodeURIComponent).join('/');
}

function loadRecording(dir: string, reportDir: string): ViewerRecording {
  const index = JSON.parse(readFileSync(join(dir, REPLAY_INDEX), 'utf8')) as ReplayIndex;
  if (index?.format !== REPLAY_FORMAT || !Array.isArray(index.episodes)) throw new Error(`not an ${REPLAY_FORMAT} index`);
  const episodes = index.episodes.map((e): ViewerEpisode => {
    const epDir = join(dir, ...String(e.dir).split('/'));
    const f = JSON.parse(readFileSync(join(epDir, EPISODE_FILE), 'utf8')) as ReplayEpisodeFile;
    const img = (name: string | null) => (typeof name === 'string' && name !== '' ? urlFrom(reportDir, join(epDir, name)) : null);
    return {
      task: f.task,
      episode: f.episode,
      seed: f.seed,
      success: f.success,
      reward: f.reward,
      steps: f.steps.map((s) => ({ prompt: s.prompt, completion: s.completion, action: s.action, error: s.error, reward: s.reward, done: s.done, image: img(s.screenshot) })),
      final: img(f.final_screenshot),
    };
  });
  const label = index.step === null ? index.source : `step ${index.step} · ${index.source}`;
  return { label, source: index.source, step: index.step, note: index.note ?? '', tasks: Array.isArray(index.tasks) ? index.tasks : [], episodes };
}

/**
 * Every readable recording under `root` (none when it does not exist), ordered by step then source, with image
 * paths relative to `reportDir`.
 */
export function readReplays(root: string, reportDir: string, warn: (m: string) => void = () => undefined): ViewerRecording[] {
  if (!existsSync(root)) return [];
  const dirs: string[] = [];
  findIndexes(root, 0, dirs);
  const out: ViewerRecording[] = [];
  for (const d of dirs) {
    try {
      out.push(loadRecording(d, reportDir));
    } catch (e) {
      warn(`skipping the replays in ${d}: ${(e as Error).message}`);
    }
  }
  return out.sort((a, b) => (a.step ?? -1) - (b.step ?? -1) || a.source.localeCompare(b.source));
}
