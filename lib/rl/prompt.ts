// Chat messages for one env step (docs/grpo.md §7, with the reference's flaws fixed): a system prompt that lists only the
// actions this run offers, each with its real BrowserGym syntax; a user message with the step number, goal, recent
// actions with their errors, the last action's error, and the accessibility tree cut to a token budget.
import { ACTION_SIGNATURES, type ActionName } from '../env/actions/signatures.ts';
import type { Observation } from '../env/types.ts';
import type { ChatMessage } from '../engine/tokenizer.ts';
import type { TrainConfig } from '../io/config.ts';
import { compactAxtree } from './axtree-compact.ts';
import { withTextBids } from './text-bids.ts';

/** Short call shapes (required parameters only) and examples on numeric bids, as MiniWoB pages have. */
const SHORT_FORMS: Partial<Record<ActionName, { call: string; example: string; desc?: string }>> = {
  click: { call: 'click(bid)', example: "click('13')" },
  dblclick: { call: 'dblclick(bid)', example: "dblclick('13')" },
  hover: { call: 'hover(bid)', example: "hover('13')" },
  fill: { call: 'fill(bid, text)', example: "fill('42', 'hello world')" },
  clear: { call: 'clear(bid)', example: "clear('42')" },
  select_option: { call: 'select_option(bid, option)', example: "select_option('7', 'blue')" },
  check: { call: 'check(bid)', example: "check('21')" },
  uncheck: { call: 'uncheck(bid)', example: "uncheck('21')" },
  focus: { call: 'focus(bid)', example: "focus('42')" },
  press: { call: 'press(bid, key)', example: "press('42', 'Enter')" },
  scroll: { call: 'scroll(delta_x, delta_y)', example: 'scroll(0, 200)' },
  noop: { call: 'noop()', example: 'noop()', desc: 'Do nothing' },
  go_back: { call: 'go_back()', example: 'go_back()' },
  go_forward: { call: 'go_forward()', example: 'go_forward()' },
  send_msg_to_user: { call: 'send_msg_to_user(text)', example: "send_msg_to_user('done')" },
  keyboard_press: { call: 'keyboard_press(key)', example: "keyboard_press('Enter')" },
  keyboard_type: { call: 'keyboard_type(text)', example: "keyboard_type('hello')" },
};

export const TRUNCATION_MARKER = '... (page structure truncated)';

export interface PromptOptions {
  /** Actions offered to the model (BrowserGym names). */
  actionSet: readonly string[];
  /** Replaces the built-in system prompt when set. */
  systemPrompt?: string | null;
  /** Shown when the observation has no goal. */
  defaultGoal: string;
  /** Token budget of the accessibility tree. */
  axtreeMaxTokens: number;
  /** How many previous actions to show (0 = none). */
  historyLength: number;
  /** Token count of a text under the model's tokenizer (e.g. `(s) => tok.encode(s).length`). */
  countTokens: (text: string) => number;
  /** Put the pruned HTML's bids on bid-less StaticText lines (lib/rl/text-bids.ts). */
  textBids?: boolean;
  /** Drop the tree lines no action can name whose text is empty or shown elsewhere (lib/rl/axtree-compact.ts). */
  compactTree?: boolean;
  /** The goal after the page structure (just before the question) rather than at the top. */
  goalLast?: boolean;
}

/** One earlier step of the same episode. */
export interface HistoryEntry {
  action: string;
  /** '' when the action ran without error. */
  error: string;
}

export function defaultSystemPrompt(actionSet: readonly string[]): string {
  const lines = actionSet.map((name) => {
    const sig = ACTION_SIGNATURES[name as ActionName];
    const short = SHORT_FORMS[name as ActionName];
    if (!sig || !short) throw new Error(`unknown action '${name}' in action_set`);
    const desc = short.desc ?? sig.description.split('. ')[0].replace(/\.$/, '');
    return `- ${short.call}: ${desc}. Example: ${short.example}`;
  });
  const firstExample = SHORT_FORMS[actionSet[0] as ActionName]!.example;
  return [
    'You control a web browser to complete a web task.',
    'The page is given as an accessibility tree: each element is a line `[bid] role \'name\'`; for example',
    "`[13] button 'Click Me!'` is a button with bid '13'. Always pass a bid as a quoted string.",
    'Available actions:',
    ...lines,
    `Reply with exactly one action on a single line, for example ${firstExample}, with no explanation.`,
  ].join('\n');
}

export class PromptBuilder {
  readonly system: string;

  constructor(private readonly opts: PromptOptions) {
    if (opts.actionSet.length === 0) throw new Error('PromptBuilder: actionSet is empty');
    if (!Number.isInteger(opts.axtreeMaxTokens) || opts.axtreeMaxTokens < 1) {
      throw new Error(`PromptBuilder: axtreeMaxTokens must be a positive integer, got ${opts.axtreeMaxTokens}`);
    }
    if (!Number.isInteger(opts.historyLength) || opts.historyLength < 0) {
      throw new Error(`PromptBuilder: historyLength must be an integer >= 0, got ${opts.historyLength}`);
    }
    this.system = opts.systemPrompt ?? defaultSystemPrompt(opts.actionSet);
  }

  /**
   * Keeps whole lines of the tree from the top while the kept text plus the marker fits in the token budget
   * (top of the page first: the goal-relevant widgets of MiniWoB pages come early).
   */
  truncateAxtree(axtree: string): { text: string; truncated: boolean } {
    const budget = this.opts.axtreeMaxTokens;
    if (this.opts.countTokens(axtree) <= budget) return { text: axtree, truncated: false };
    const lines = axtree.split('\n');
    const withMarker = (n: number) => [...lines.slice(0, n), TRUNCATION_MARKER].join('\n');
    // Largest n with withMarker(n) within budget; token counts grow with n, so binary search.
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.opts.countTokens(withMarker(mid)) <= budget) lo = mid;
      else hi = mid - 1;
    }
    return { text: withMarker(lo), truncated: true };
  }

  /** User message text for env step `step` (0-based; shown 1-based). */
  userText(obs: Observation, step: number, history: readonly HistoryEntry[] = []): string {
    const goal = `Goal: ${obs.goal.trim() || this.opts.defaultGoal}`;
    const parts = this.opts.goalLast ? [`Step ${step + 1}`] : [`Step ${step + 1}`, goal];
    const recent = this.opts.historyLength > 0 ? history.slice(-this.opts.historyLength) : [];
    if (recent.length > 0) {
      const first = history.length - recent.length + 1;
      const lines = recent.map((h, i) => `${first + i}. ${h.action}${h.error ? ` -> error: ${h.error}` : ''}`);
      parts.push(`Previous actions:\n${lines.join('\n')}`);
    }
    if (obs.last_action_error) parts.push(`Previous action error: ${obs.last_action_error}`);
    const full = this.opts.textBids ? withTextBids(obs.axtree_txt, obs.pruned_html) : obs.axtree_txt;
    const tree = this.opts.compactTree ? compactAxtree(full) : full;
    parts.push(`Page structure:\n${this.truncateAxtree(tree).text}`);
    if (this.opts.goalLast) parts.push(goal);
    parts.push('What action do you take?');
    return parts.join('\n\n');
  }

  /** [system, user] messages for one step. */
  build(obs: Observation, step: number, history: readonly HistoryEntry[] = []): ChatMessage[] {
    return [
      { role: 'system', content: this.system },
      { role: 'user', content: this.userText(obs, step, history) },
    ];
  }
}

/** The prompt builder of a run's config; `countTokens` is the model tokenizer's token count. */
export function promptBuilderFor(c: TrainConfig, countTokens: (text: string) => number): PromptBuilder {
  return new PromptBuilder({
    actionSet: c.action_set,
    systemPrompt: c.system_prompt,
    defaultGoal: c.default_goal,
    axtreeMaxTokens: c.axtree_max_tokens,
    historyLength: c.history_length,
    countTokens,
    textBids: c.prompt_text_bids,
    compactTree: c.prompt_axtree_compact,
    goalLast: c.prompt_goal_last,
  });
}
