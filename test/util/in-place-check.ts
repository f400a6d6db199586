// Checks that an in-place reset of a task gives what a fresh load gives: the page is left dirty by an episode of
// another seed (clicks and typing on its interactive elements), then the same seed is reset in place on one episode
// and loaded fresh on another, and the first observation and the results of the same next actions are compared.
import { parseAxTree } from '../../lib/env/tasks/axtree-lines.ts';
import { runScriptedEpisode, type ScriptedPolicy } from '../../lib/env/tasks/rollout.ts';
import type { Episode, Observation, StepResult } from '../../lib/env/types.ts';
import { rng } from './random.ts';

/** Every observation field an agent reads, in one string. */
export const observationText = (o: Observation): string =>
  [o.goal, o.url, o.focused_element_bid, o.axtree_txt, o.pruned_html, o.last_action, o.last_action_error]
    .join('\n--\n');

/** A step result without the time-decayed reward (it depends on how long the step took). */
export function comparableStep(r: StepResult) {
  const { REWARD_GLOBAL: _decayed, ...info } = r.info;
  return { obs: observationText(r.observation), reward: r.reward, done: r.done, truncated: r.truncated, info };
}

const CLICKABLE = new Set(['button', 'link', 'checkbox', 'radio', 'tab', 'menuitem', 'option', 'treeitem', 'combobox',
  'listitem', 'gridcell', 'cell', 'img', 'slider', 'spinbutton', 'LabelText', 'generic', 'paragraph', 'heading']);
const TYPABLE = new Set(['textbox', 'searchbox']);
const WORDS = ['alpha', 'Bob', '42', 'hello world', 'x'];

/**
 * A seeded policy that pokes at the page: mostly clicks and fills on elements of the observation, the same action
 * for the same (seed, observation). Not meant to solve anything, only to change the page the way an agent does.
 */
export function pokePolicy(seed: number): ScriptedPolicy {
  const r = rng(seed);
  return (_task, obs) => {
    const lines = parseAxTree(obs.axtree_txt)
      .filter((l) => l.bid !== '' && (CLICKABLE.has(l.role) || TYPABLE.has(l.role)));
    if (lines.length === 0) return 'noop(0)';
    const l = lines[Math.floor(r() * lines.length)]!;
    if (TYPABLE.has(l.role)) return `fill('${l.bid}', '${WORDS[Math.floor(r() * WORDS.length)]}')`;
    return r() < 0.15 ? `hover('${l.bid}')` : `click('${l.bid}')`;
  };
}

/**
 * How the steps after the reset are compared: 'strict', every field of every step result; 'settled', for pages that
 * animate (a step may catch an animation at a different frame), the action's reward, done, info and error, then the
 * whole result of a 1 s noop after it; 'none', the first observation only (pages driven by wall time, where two fresh
 * loads differ too).
 */
export type StepComparison = 'strict' | 'settled' | 'none';

/** What an in-place reset and a fresh load of the same seed showed. */
export interface Comparison {
  /** Where they first differ; undefined when they agree. */
  difference?: string;
  /** Whether the reset compared was in place (a page left for another URL, for one, is loaded again). */
  inPlace: boolean;
}

const pageLoads = (ep: Episode) => (ep as unknown as { pageLoads: number }).pageLoads;
/** Evaluates `expression` on the episode's current page (a BrowserEpisode's). */
export const inPage = (ep: Episode, expression: string): Promise<unknown> =>
  (ep as unknown as { handle: { page: { evaluate(e: string): Promise<unknown> } } }).handle.page.evaluate(expression);
const longTimers = (ep: Episode) => inPage(ep, 'window.__envLongTimers');

/**
 * Leaves `inPlace`'s page dirty (an episode of another seed), then resets it and `fresh` (which loads the page at
 * every reset) to `seed` and compares the first observations, the intervals and long timeouts alive right after
 * (a timer the last episode left running would show there), and the steps that follow.
 */
export async function compareReset(
  inPlace: Episode, fresh: Episode, task: string, seed: number, steps: StepComparison = 'strict',
): Promise<Comparison> {
  await runScriptedEpisode(inPlace, { task, seed: seed + 100 }, pokePolicy(seed + 100), 3);
  const loads = pageLoads(inPlace);
  const a = await inPlace.reset({ task, seed });
  const ta = await longTimers(inPlace);
  const b = await fresh.reset({ task, seed });
  const tb = await longTimers(fresh);
  const result = (difference?: string): Comparison => ({ difference, inPlace: pageLoads(inPlace) === loads });
  const [ta0, tb0] = [observationText(a), observationText(b)];
  if (ta0 !== tb0) return result(`reset: ${diffLine(ta0, tb0)}`);
  if (ta !== tb) return result(`reset: ${ta} intervals and long timeouts vs fresh ${tb}`);
  if (steps === 'none') return result();
  const policy = pokePolicy(seed);
  let obs = a;
  for (let i = 0; i < 3; i++) {
    const action = policy(task, obs);
    let [ra, rb] = [await inPlace.step(action), await fresh.step(action)];
    let d = resultDifference(ra, rb, steps === 'strict');
    if (d === undefined && steps === 'settled' && !ra.done) {
      [ra, rb] = [await inPlace.step('noop(1000)'), await fresh.step('noop(1000)')];
      d = resultDifference(ra, rb, true);
    }
    if (d !== undefined) return result(`step ${i + 1} ${action}: ${d}`);
    if (ra.done || ra.truncated) break;
    obs = ra.observation;
  }
  return result();
}

function resultDifference(ra: StepResult, rb: StepResult, withPage: boolean): string | undefined {
  const [ca, cb] = [comparableStep(ra), comparableStep(rb)];
  if (withPage && ca.obs !== cb.obs) return diffLine(ca.obs, cb.obs);
  const rest = (c: typeof ca, r: StepResult) => JSON.stringify({ ...c, obs: r.observation.last_action_error });
  if (rest(ca, ra) !== rest(cb, rb)) return `${rest(ca, ra)} vs fresh ${rest(cb, rb)}`;
  return undefined;
}

/** The first differing line of two texts, both versions. */
function diffLine(a: string, b: string): string {
  const la = a.split('\n'), lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    const [x, y] = [JSON.stringify(la[i] ?? '<end>'), JSON.stringify(lb[i] ?? '<end>')];
    if (x !== y) return `line ${i + 1}: ${x} vs fresh ${y}`;
  }
  return 'same text';
}
