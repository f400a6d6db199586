// prompt_text_bids: bids of text-only elements (pruned HTML) shown on the tree's bid-less StaticText lines, so a
// policy can name MiniWoB's click-link spans; checked on hand-written trees and on the built-in click-link page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/index.ts';
import { allowedActions } from '../lib/rl/action-trie.ts';
import { PromptBuilder } from '../lib/rl/prompt.ts';
import { withTextBids } from '../lib/rl/text-bids.ts';

const html = [
  '<div bid="9" id="area">',
  ' <span bid="13" class="alink">',
  '  nisl',
  ' </span>',
  ' <span bid="14" class="alink">',
  '  nisl',
  ' </span>',
  ' <span bid="15" class="alink">',
  '  a &amp; b',
  ' </span>',
  ' <button bid="16">',
  '  Submit',
  ' </button>',
  '</div>',
].join('\n');

describe('withTextBids', () => {
  it('puts each hidden element bid on its StaticText line, repeated words in document order', () => {
    const tree = ["RootWebArea 'Click Link Task', focused", "\tStaticText 'nisl'", "\tStaticText 'other'", "\tStaticText 'nisl'", "\tStaticText 'a & b'", "\t[16] button 'Submit'", "\t\tStaticText 'Submit'"].join('\n');
    expect(withTextBids(tree, html).split('\n')).toEqual([
      "RootWebArea 'Click Link Task', focused",
      "\t[13] StaticText 'nisl'",
      "\tStaticText 'other'",
      "\t[14] StaticText 'nisl'",
      "\t[15] StaticText 'a & b'",
      "\t[16] button 'Submit'",
      // The button's bid is already in the tree: its text line stays as it is.
      "\t\tStaticText 'Submit'",
    ]);
  });

  it('leaves the tree alone without pruned HTML or without hidden elements', () => {
    const tree = "\tStaticText 'nisl'";
    expect(withTextBids(tree, '')).toBe(tree);
    expect(withTextBids("\t[13] link 'nisl'\n\t[14] link 'x'\n\t[15] link 'y'\n\t[16] button 'Submit'", html)).toContain("[13] link 'nisl'");
  });
});

describe('click-link prompt with prompt_text_bids (built-in page)', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ maxSteps: 3 });
  }, 60_000);
  afterAll(async () => {
    await pool.close();
  });

  it('shows the bid of the goal link, which the constrained actions offer and which solves the page', async () => {
    const ep = await pool.newEpisode({ prunedHtml: true });
    const builder = (textBids: boolean) =>
      new PromptBuilder({ actionSet: ['click'], defaultGoal: '', axtreeMaxTokens: 100_000, historyLength: 0, countTokens: (s) => s.length, textBids });
    for (const seed of [1, 2, 3]) {
      const obs = await ep.reset({ task: 'click-link', seed });
      const word = /^Click on the link "(.*)"\.$/.exec(obs.goal)![1]!;
      const plain = builder(false).userText(obs, 0);
      const shown = builder(true).userText(obs, 0);
      expect(plain).not.toMatch(new RegExp(`\\[\\d+\\] StaticText '${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
      const m = new RegExp(`\\[(\\d+)\\] StaticText '${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`).exec(shown);
      expect(m, shown).not.toBeNull();
      const action = `click('${m![1]}')`;
      expect(allowedActions(obs, ['click'])).toContain(action);
      const r = await ep.step(action);
      expect(r.reward).toBe(1);
    }
    await ep.close();
  }, 60_000);
});
