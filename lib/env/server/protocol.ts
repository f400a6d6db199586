// JSON wire format of the OpenEnv BrowserGym protocol, both directions (server encodes, client decodes).
// Observation fields are OpenEnv's BrowserGymObservation minus reward/done/metadata, which the OpenEnv server strips:
// text, url, screenshot, goal, axtree_txt, pruned_html, error, last_action_error (a bool on the wire).
// Extras that OpenEnv clients ignore but this project's client uses: `focused_element_bid`, `last_action` in the
// observation, `truncated` beside reward/done. The env's info dict travels as top-level `metadata`, where current
// OpenEnv servers put the observation's metadata. The action error text is also put in `error`, so it reaches
// clients (OpenEnv leaves it empty for ordinary action errors).
import type { Observation, StepResult } from '../types.ts';
import { decodePngToRgb, encodeRgbToPng, nestedListsToRgb, rgbToNestedLists } from './png.ts';
import type { ScreenshotFormat } from './validate.ts';
import { isPlainObject } from './validate.ts';

export interface WireObservation {
  /** axtree_txt, or pruned_html when there is no tree. */
  text: string;
  url: string;
  /** [H][W][3] uint8 lists (OpenEnv), a base64 PNG string, or null when not requested. */
  screenshot: number[][][] | string | null;
  goal: string;
  axtree_txt: string;
  pruned_html: string;
  /** Error text of the last action or of the environment, '' when none. */
  error: string;
  last_action_error: boolean;
  focused_element_bid: string;
  last_action: string;
}

export interface WireResult {
  observation: WireObservation;
  reward: number;
  done: boolean;
  truncated: boolean;
  /** The env's StepResult.info. */
  metadata: Record<string, unknown>;
}

/** OpenEnv's BrowserGymState, plus the seed of the current episode. */
export interface WireState {
  episode_id: string | null;
  step_count: number;
  benchmark: string;
  task_name: string;
  task_id: string;
  goal: string;
  current_url: string;
  max_steps: number | null;
  cum_reward: number;
  seed: number | null;
}

export const SESSION_HEADER = 'x-session-id';

function screenshotToWire(png: Buffer | undefined, format: ScreenshotFormat): WireObservation['screenshot'] {
  if (!png || format === 'none') return null;
  if (format === 'png') return png.toString('base64');
  return rgbToNestedLists(decodePngToRgb(png));
}

export function observationToWire(obs: Observation, format: ScreenshotFormat, envError = ''): WireObservation {
  const error = envError || obs.last_action_error;
  return {
    text: obs.axtree_txt || obs.pruned_html,
    url: obs.url,
    screenshot: screenshotToWire(obs.screenshot, format),
    goal: obs.goal,
    axtree_txt: obs.axtree_txt,
    pruned_html: obs.pruned_html,
    error,
    last_action_error: error !== '',
    focused_element_bid: obs.focused_element_bid,
    last_action: obs.last_action,
  };
}

/** Keeps only JSON-representable entries so one odd value in `info` cannot break a response. */
export function jsonSafeRecord(rec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    try {
      const s = JSON.stringify(v);
      if (s !== undefined) out[k] = JSON.parse(s);
    } catch {
      out[k] = String(v);
    }
  }
  return out;
}

export function resultToWire(r: StepResult, format: ScreenshotFormat, envError = ''): WireResult {
  return {
    observation: observationToWire(r.observation, format, envError),
    reward: r.reward,
    done: r.done,
    truncated: r.truncated,
    metadata: jsonSafeRecord(r.info),
  };
}

// ---- client side: decode what an OpenEnv BrowserGym server (this one or the Python one) sends ----

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  return typeof v === 'string' ? v : '';
}

/** `keepScreenshot` false skips decoding screenshots the caller did not ask for (OpenEnv always sends them). */
export function observationFromWire(raw: unknown, keepScreenshot = true): Observation {
  if (!isPlainObject(raw)) throw new Error('server response has no observation object');
  const errorText = str(raw, 'error');
  let lastActionError = errorText;
  if (!lastActionError && raw.last_action_error === true) {
    // The Python OpenEnv server reports failures as a bare bool (the text stays server-side).
    lastActionError = 'Error: the server reported a failed action without details';
  } else if (typeof raw.last_action_error === 'string') {
    lastActionError = raw.last_action_error;
  }
  const obs: Observation = {
    goal: str(raw, 'goal'),
    axtree_txt: str(raw, 'axtree_txt') || (raw.pruned_html ? '' : str(raw, 'text')),
    pruned_html: str(raw, 'pruned_html'),
    url: str(raw, 'url'),
    focused_element_bid: str(raw, 'focused_element_bid'),
    last_action: str(raw, 'last_action'),
    last_action_error: lastActionError,
  };
  const shot = keepScreenshot ? raw.screenshot : null;
  if (typeof shot === 'string' && shot !== '') obs.screenshot = Buffer.from(shot, 'base64');
  else if (Array.isArray(shot) && shot.length > 0) obs.screenshot = encodeRgbToPng(nestedListsToRgb(shot));
  return obs;
}

export function resultFromWire(raw: unknown, keepScreenshot = true): StepResult {
  if (!isPlainObject(raw)) throw new Error('server response is not a JSON object');
  const reward = raw.reward;
  return {
    observation: observationFromWire(raw.observation, keepScreenshot),
    // The seed-era server may send reward null on reset.
    reward: typeof reward === 'number' && Number.isFinite(reward) ? reward : 0,
    done: raw.done === true,
    truncated: raw.truncated === true,
    info: isPlainObject(raw.metadata) ? raw.metadata : {},
  };
}
