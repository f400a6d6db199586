// prompt_axtree_compact: the page structure without the lines no action can name whose text is empty or shown
// elsewhere; checked on hand-written trees and on every built-in page (with the oracle's pages along an episode): every
// bid line stays, in order, and every text the full tree shows is still shown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/index.ts';
import { builtinTaskNames } from '../lib/env/tasks/index.ts';
import { oracleActions } from '../lib/env/tasks/oracles.ts';
import { compactAxtree } from '../lib/rl/axtree-compact.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { withTextBids } from '../lib/rl/text-bids.ts';

describe('compactAxtree', () => {
  it('drops InlineTextBox runs, repeated labels and values, and empty text lines; keeps every bid', () => {
    const tree = [
      "RootWebArea 'Task', focused",
      "\t[11] button 'previous'",
      "\t\tInlineTextBox 'previous'",
      "\tInlineTextBox ''",
      "\tStaticText 'occaecat aliquip:'",
      "\t\tInlineTextBox 'occaecat'",
      "\t\tInlineTextBox 'aliquip:'",
      "\t[14] textbox 'From:' value='Des Moines, IA (DSM)'",
      "\t\tStaticText 'Des Moines, IA (DSM)'",
      "\t\t\tInlineTextBox 'Des Moines, IA (DSM)'",
      "\t[12] LabelText ''",
      "\t\t[13] checkbox '5hj', checked='false'",
      "\t\tStaticText '5hj'",
      "\t\t\tInlineTextBox '5hj'",
      "\t[20] listitem ''",
      "\t\tListMarker ''",
      "\t\t\timage ''",
      "\t\t[21] StaticText 'Kansas City'",
      "\tStaticText ''",
      '\tgroup "it\'s"',
      "\t\tparagraph ''",
      "\t\t\tStaticText 'kept: not shown above'",
      "\t[30] StaticText ''",
    ].join('\n');
    expect(compactAxtree(tree).split('\n')).toEqual([
      "RootWebArea 'Task', focused",
      "\t[11] button 'previous'",
      "\tStaticText 'occaecat aliquip:'",
      "\t[14] textbox 'From:' value='Des Moines, IA (DSM)'",
      "\t[12] LabelText ''",
      "\t\t[13] checkbox '5hj', checked='false'",
      "\t[20] listitem ''",
      "\t\t[21] StaticText 'Kansas City'",
      '\tgroup "it\'s"',
      // An empty line that still holds something stays.
      "\t\tparagraph ''",
      "\t\t\tStaticText 'kept: not shown above'",
      // A bid line stays even when it is empty: an action can name it.
      "\t[30] StaticText ''",
    ]);
  });

  it('keeps lines it cannot parse, and a tree with nothing to drop as it is', () => {
    const tree = "RootWebArea 'T'\n\t[5] button 'OK'\n\t... (page structure truncated)";
    expect(compactAxtree(tree)).toBe(tree);
    expect(compactAxtree('')).toBe('');
  });

  it('keeps a StaticText that only part of its parent shows elsewhere, or that has properties', () => {
    const tree = "\t[3] link 'a b'\n\t\tStaticText 'a b c'\n\t\tStaticText 'a', focused";
    expect(compactAxtree(tree)).toBe(tree);
  });
});

const BID_LINE = /^\s*(\[[^\]]+\] .*)$/;
const QUOTED = /^\s*(?:\[[^\]]+\] )?\S+ '((?:[^'\\]|\\.)*)'/;

describe('compact trees of the built-in pages', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ maxSteps: 12 });
  }, 60_000);
  afterAll(async () => {
    await pool.close();
  });

  it('keep every bid line in order and every text, at well under the full size, along oracle episodes', async () => {
    const ep = await pool.newEpisode({ prunedHtml: true });
    let full = 0;
    let compact = 0;
    for (const task of builtinTaskNames()) {
      let obs = await ep.reset({ task, seed: 7 });
      for (let step = 0; step < 12; step++) {
        const tree = withTextBids(obs.axtree_txt, obs.pruned_html);
        const small = compactAxtree(tree);
        const bids = (t: string) => t.split('\n').flatMap((l) => BID_LINE.exec(l)?.[1] ?? []);
        expect(bids(small), `${task} step ${step}`).toEqual(bids(tree));
        const smallText = small;
        for (const line of tree.split('\n')) {
          const text = QUOTED.exec(line)?.[1];
          if (text) expect(smallText, `${task} step ${step}: '${text}'`).toContain(text);
        }
        full += tree.length;
        compact += small.length;
        const r = await ep.step(oracleActions(task, obs));
        if (r.done || r.truncated) break;
        obs = r.observation;
      }
    }
    expect(compact / full).toBeLessThan(0.75);
    await ep.close();
  }, 120_000);

  it('is what a prompt built with compactTree shows', async () => {
    const ep = await pool.newEpisode({});
    const obs = await ep.reset({ task: 'click-button', seed: 3 });
    const builder = new PromptBuilder({ actionSet: ['click'], defaultGoal: '', axtreeMaxTokens: 100_000, historyLength: 0, countTokens: (s) => s.length, compactTree: true });
    expect(builder.userText(obs, 0)).toContain(`Page structure:\n${compactAxtree(obs.axtree_txt)}\n\n`);
    expect(builder.userText(obs, 0)).not.toContain('InlineTextBox');
    await ep.close();
  }, 60_000);
});
