// Shared fixture of the demonstrations-file and SFT-stage tests: a tiny model on disk, a two-task config, and records
// and files written exactly as demos.ts writes them. Call setupDemoFixture(name) once at a test file's top level; the
// bindings below are filled in by its beforeAll (each test file has its own module instance).
import { afterAll, beforeAll } from 'vitest';
import { join } from 'node:path';
import { loadConfig, type TrainConfig } from '../lib/io/config.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import type { Observation } from '../lib/env/types.ts';
import { demoHeader, promptSettings, tokenizerFingerprint, writeDemoFile, type DemoRecord } from '../lib/rl/demo-file.ts';
import { promptBuilderFor } from '../lib/rl/prompt.ts';
import { stepPrompt } from '../lib/rl/rollout.ts';
import { removeTempRoots, tempRoot, TINY_CONFIG } from './trainer-helpers.ts';

export let root = '';
export let modelDir = '';
export let config: TrainConfig;
export let tok: Tokenizer;

export function setupDemoFixture(name: string): void {
  beforeAll(() => {
    root = tempRoot(name);
    modelDir = join(root, 'model');
    writeRandomModel(modelDir, presetConfig('tiny'), { seed: 0, dtype: 'f32' });
    tok = Tokenizer.fromDir(modelDir);
    config = loadConfig(TINY_CONFIG, ['--model', modelDir, '--output_dir', join(root, 'runs'), '--tasks', 'click-test,click-button', '--action_set', 'click,hover,focus,scroll']);
  });
  afterAll(removeTempRoots);
}

export const obs = (goal: string, tree: string): Observation => ({ goal, axtree_txt: tree, pruned_html: '', url: 'http://x/', focused_element_bid: '', last_action: '', last_action_error: '' });

/** A record as demos.ts builds it: the rollout's prompt for this page and step. */
export function record(task: string, completion: string, episode = 0, c = config): DemoRecord {
  const p = stepPrompt({ prompts: promptBuilderFor(c, (s) => tok.encode(s).length), tokenizer: tok }, obs('Click the button.', "RootWebArea 'Task'\n\t[4] button 'Click Me!'\n\t[5] button 'Other'"), 0, []);
  return { task, seed: 7, episode, step: 0, messages: [{ role: 'system', content: String(p.messages[0].content) }, { role: 'user', content: String(p.messages[1].content) }], completion, reward: 1, done: true };
}

/** A demonstrations file in the fixture's folder (default: one click-test and one click-button record). */
export function file(name: string, records: DemoRecord[] = [record('click-test', "click('4')"), record('click-button', "click('5')", 1)], c = config): string {
  const p = join(root, name);
  writeDemoFile(p, demoHeader(promptSettings(c, tokenizerFingerprint(modelDir)), c.constrained_actions, 'oracle'), records);
  return p;
}
