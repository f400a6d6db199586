import { describe, it, expect } from 'vitest';
import { defaultSystemPrompt, PromptBuilder, TRUNCATION_MARKER } from '../lib/rl/prompt.ts';
import type { Observation } from '../lib/env/types.ts';

function obs(over: Partial<Observation> = {}): Observation {
  return {
    goal: 'Click the button.',
    axtree_txt: "RootWebArea 'Click Test Task', focused\n\t[4] StaticText 'Click the button.'\n\t[5] button 'Click Me!'",
    pruned_html: '',
    url: 'http://miniwob.localhost/miniwob/click-test.html',
    focused_element_bid: '',
    last_action: '',
    last_action_error: '',
    ...over,
  };
}

// Token counter for tests: one token per character, so budgets are easy to compute by hand.
const chars = (s: string) => s.length;
const base = { actionSet: ['click', 'noop'], defaultGoal: 'Complete the web task successfully.', axtreeMaxTokens: 1000, historyLength: 2, countTokens: chars };

describe('system prompt', () => {
  it('lists exactly the configured actions with BrowserGym syntax', () => {
    const s = defaultSystemPrompt(['click', 'fill', 'press', 'scroll']);
    expect(s).toContain("- click(bid): Click an element. Example: click('13')");
    expect(s).toContain("- fill(bid, text): ");
    expect(s).toContain("press('42', 'Enter')");
    expect(s).toContain('scroll(delta_x, delta_y)');
    // Actions not configured, and the reference's invalid ones, are absent.
    expect(s).not.toContain('noop');
    expect(s).not.toContain('send_keys');
    expect(s).not.toContain('scroll(direction)');
  });

  it('rejects unknown actions and an empty set', () => {
    expect(() => defaultSystemPrompt(['send_keys'])).toThrow(/unknown action 'send_keys'/);
    expect(() => new PromptBuilder({ ...base, actionSet: [] })).toThrow(/actionSet is empty/);
  });

  it('uses a custom system prompt verbatim', () => {
    expect(new PromptBuilder({ ...base, systemPrompt: 'Be brief.' }).build(obs(), 0)[0]).toEqual({ role: 'system', content: 'Be brief.' });
  });
});

describe('user prompt', () => {
  it('has step, goal, tree and question in order (hand-written expectation)', () => {
    const msgs = new PromptBuilder(base).build(obs(), 0);
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user']);
    expect(msgs[1].content).toBe(
      'Step 1\n\nGoal: Click the button.\n\nPage structure:\n' +
        "RootWebArea 'Click Test Task', focused\n\t[4] StaticText 'Click the button.'\n\t[5] button 'Click Me!'" +
        '\n\nWhat action do you take?',
    );
  });

  it('falls back to the default goal, shows the last error and the recent history only', () => {
    const history = [
      { action: "click('1')", error: '' },
      { action: "click('2')", error: "ValueError: Could not find element with bid '2'" },
      { action: 'noop()', error: '' },
    ];
    const text = new PromptBuilder(base).userText(obs({ goal: '  ', last_action_error: 'TimeoutError: x' }), 3, history);
    expect(text).toContain('Step 4\n\nGoal: Complete the web task successfully.');
    expect(text).toContain("Previous actions:\n2. click('2') -> error: ValueError: Could not find element with bid '2'\n3. noop()");
    expect(text).not.toContain("1. click('1')");
    expect(text).toContain('Previous action error: TimeoutError: x');
  });

  it('puts the goal after the page structure with goalLast (hand-written expectation)', () => {
    const history = [{ action: "click('1')", error: '' }];
    expect(new PromptBuilder({ ...base, goalLast: true }).userText(obs(), 1, history)).toBe(
      "Step 2\n\nPrevious actions:\n1. click('1')\n\nPage structure:\n" +
        "RootWebArea 'Click Test Task', focused\n\t[4] StaticText 'Click the button.'\n\t[5] button 'Click Me!'" +
        '\n\nGoal: Click the button.\n\nWhat action do you take?',
    );
  });

  it('shows no history with historyLength 0', () => {
    const text = new PromptBuilder({ ...base, historyLength: 0 }).userText(obs(), 1, [{ action: 'noop()', error: '' }]);
    expect(text).not.toContain('Previous actions');
  });
});

describe('axtree truncation to a token budget', () => {
  // 10 lines of 7 chars: 79 chars, longer than the marker plus two lines.
  const tree = Array.from({ length: 10 }, (_, i) => `L${i} ${'abcdefghij'[i].repeat(4)}`).join('\n');
  it('keeps a tree that fits', () => {
    expect(new PromptBuilder({ ...base, axtreeMaxTokens: 79 }).truncateAxtree(tree)).toEqual({ text: tree, truncated: false });
  });
  it('keeps the most whole lines that fit with the marker', () => {
    // k lines + marker = 8k + marker length chars (7 per line + newline each).
    const m = TRUNCATION_MARKER.length;
    const pb = new PromptBuilder({ ...base, axtreeMaxTokens: 16 + m });
    expect(pb.truncateAxtree(tree)).toEqual({ text: `L0 aaaa\nL1 bbbb\n${TRUNCATION_MARKER}`, truncated: true });
    const pb2 = new PromptBuilder({ ...base, axtreeMaxTokens: 16 + m - 1 });
    expect(pb2.truncateAxtree(tree).text).toBe(`L0 aaaa\n${TRUNCATION_MARKER}`);
  });
  it('the truncated tree is within budget for every budget (random trees)', () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const lines = Array.from({ length: 1 + Math.floor(rand() * 30) }, (_, i) => `[${i}] x`.padEnd(3 + Math.floor(rand() * 40), 'y'));
      const t = lines.join('\n');
      const budget = TRUNCATION_MARKER.length + Math.floor(rand() * 400);
      const r = new PromptBuilder({ ...base, axtreeMaxTokens: budget }).truncateAxtree(t);
      expect(r.text.length).toBeLessThanOrEqual(Math.max(budget, TRUNCATION_MARKER.length));
      if (r.truncated) {
        // Maximal: one more line would not fit.
        const kept = r.text.split('\n').length - 1;
        if (kept < lines.length) expect([...lines.slice(0, kept + 1), TRUNCATION_MARKER].join('\n').length).toBeGreaterThan(budget);
      } else expect(r.text).toBe(t);
    }
  });
});
