// Constrained actions: the set of action strings that make sense on the current page (derived from the bids and roles
// in the accessibility tree, text elements the pruned HTML shows without a bid in the tree, the goal's values and
// the action syntax), and a token trie over their canonical
// tokenizations, each followed by EOS. The sampler masks logits at trie node n to the children of n, so every
// completion is exactly one allowed action string and then stops. The trie is flat (CSR arrays) so native code can
// walk it without any JS objects.
import { literalRepr } from '../env/actions/parser.ts';
import { parseAxTree } from '../env/tasks/axtree-lines.ts';
import { prunedHtmlLeaves } from '../env/tasks/html-leaves.ts';
import { isActionName } from '../env/actions/signatures.ts';
import type { Observation } from '../env/types.ts';

const TEXT_INPUT_ROLES = new Set(['textbox', 'searchbox', 'combobox', 'spinbutton', 'textarea']);
const SELECT_ROLES = new Set(['combobox', 'listbox']);
const CHECKABLE_ROLES = new Set(['checkbox', 'radio', 'switch', 'menuitemcheckbox', 'menuitemradio']);
/** Keys offered for press / keyboard_press (the ones MiniWoB tasks need). */
export const CONSTRAINED_KEYS = ['Enter', 'Tab'] as const;
/** Scroll amounts offered (one screen-ish down / up). */
export const CONSTRAINED_SCROLLS = ['scroll(0, 200)', 'scroll(0, -200)'] as const;

const py = (s: string) => literalRepr({ kind: 'str', value: s });

const QUOTED = /(?<!\w)"(.+?)"(?=[\s.,;:!?)]|$)|(?<!\w)'(.+?)'(?=[\s.,;:!?)]|$)/g;
/** `word: ` — a field label inside a goal ("from: Cincinnati, OH to: LEX on 10/15/2016."). */
const LABEL = /(?<![\w'"])[A-Za-z][\w-]*: +/g;
/** Lower-case joining words that end a labelled value ("LEX on 10/15/2016" → "LEX"); place names are capitalised. */
const VALUE_END = / (?:on|and|then|in|at|by|for|with|into|from|to) /;

/**
 * The values a goal asks to type or pick, deduplicated, in order of appearance:
 * - quoted phrases ("…" or '…'). A quote opens after a non-word character and closes only before whitespace,
 *   punctuation or the end, so values may contain quotes themselves (`Enter "say "hi"" into …` → `say "hi"`) and
 *   apostrophes inside words are not quotes;
 * - labelled phrases, for goals that name fields instead of quoting (book-flight): the text after `label: ` up to
 *   the next label, cut before a lower-case joining word (on, and, to, …) and without trailing punctuation. One value
 *   per label keeps the list small.
 */
export function goalValues(goal: string): string[] {
  const found: Array<{ at: number; value: string }> = [];
  const quotedSpans: Array<[number, number]> = [];
  for (const m of goal.matchAll(QUOTED)) {
    found.push({ at: m.index!, value: m[1] ?? m[2]! });
    quotedSpans.push([m.index!, m.index! + m[0].length]);
  }
  const inQuotes = (i: number) => quotedSpans.some(([a, b]) => i >= a && i < b);
  const labels = [...goal.matchAll(LABEL)].filter((m) => !inQuotes(m.index!));
  labels.forEach((m, k) => {
    const start = m.index! + m[0].length;
    let value = goal.slice(start, labels[k + 1]?.index ?? goal.length);
    const end = VALUE_END.exec(value);
    if (end) value = value.slice(0, end.index);
    value = value.replace(/[\s.,;:!?]+$/, '');
    // A quoted value right after the label is already a value.
    if (value !== '' && !/^["']/.test(value)) found.push({ at: start, value });
  });
  found.sort((a, b) => a.at - b.at);
  return [...new Set(found.map((f) => f.value))];
}

/**
 * Every action string allowed on this observation for the given action names, deduplicated, in a stable order:
 * element actions on the bids of matching roles (click/dblclick/hover/focus on every bid, including text-only
 * elements that only the pruned HTML shows with a bid, like MiniWoB's click-link spans; fill/clear/press on text
 * inputs; check/uncheck on checkables; select_option on selects × option names in the tree); fill and keyboard_type
 * values come from goalValues (quoted and labelled phrases); scroll/noop/navigation are fixed strings.
 */
export function allowedActions(obs: Observation, taskActionSet: readonly string[]): string[] {
  if (taskActionSet.length === 0) throw new Error('allowedActions: empty action set');
  for (const a of taskActionSet) if (!isActionName(a)) throw new Error(`allowedActions: unknown action '${a}'`);
  const lines = parseAxTree(obs.axtree_txt).filter((l) => l.bid !== '');
  const treeBids = new Set(lines.map((l) => l.bid));
  const hiddenLeaves = prunedHtmlLeaves(obs.pruned_html).filter((leaf) => !treeBids.has(leaf.bid));
  const bids = [...treeBids, ...new Set(hiddenLeaves.map((leaf) => leaf.bid))];
  const withRole = (roles: Set<string>) => [...new Set(lines.filter((l) => roles.has(l.role)).map((l) => l.bid))];
  const textInputs = withRole(TEXT_INPUT_ROLES);
  const selects = withRole(SELECT_ROLES);
  const options = [...new Set(lines.filter((l) => l.role === 'option' && l.name !== '').map((l) => l.name))];
  const values = goalValues(obs.goal);
  const out: string[] = [];
  for (const name of taskActionSet) {
    switch (name) {
      case 'click':
      case 'dblclick':
      case 'hover':
      case 'focus':
        for (const b of bids) out.push(`${name}(${py(b)})`);
        break;
      case 'clear':
        for (const b of textInputs) out.push(`clear(${py(b)})`);
        break;
      case 'fill':
        for (const b of textInputs) for (const v of values) out.push(`fill(${py(b)}, ${py(v)})`);
        break;
      case 'press':
        for (const b of textInputs) for (const k of CONSTRAINED_KEYS) out.push(`press(${py(b)}, ${py(k)})`);
        break;
      case 'check':
      case 'uncheck':
        for (const b of withRole(CHECKABLE_ROLES)) out.push(`${name}(${py(b)})`);
        break;
      case 'select_option':
        for (const b of selects) for (const o of options) out.push(`select_option(${py(b)}, ${py(o)})`);
        break;
      case 'scroll':
        out.push(...CONSTRAINED_SCROLLS);
        break;
      case 'noop':
      case 'go_back':
      case 'go_forward':
        out.push(`${name}()`);
        break;
      case 'keyboard_press':
        for (const k of CONSTRAINED_KEYS) out.push(`keyboard_press(${py(k)})`);
        break;
      case 'keyboard_type':
      case 'send_msg_to_user':
        for (const v of values) out.push(`${name}(${py(v)})`);
        break;
    }
  }
  return [...new Set(out)];
}

/**
 * Token trie in flat form. Node 0 is the root; node n's children are edges childStart[n] .. childStart[n+1]−1,
 * sorted by token id. A node reached by EOS is terminal (a complete allowed string) and has no children.
 */
export interface ActionTrie {
  nodeCount: number;
  /** [nodeCount + 1] CSR offsets into childToken / childNode. */
  childStart: Int32Array;
  /** [edges] token id of each edge, ascending within a node. */
  childToken: Int32Array;
  /** [edges] node each edge leads to. */
  childNode: Int32Array;
  /** [nodeCount] 1 when the node ends an allowed string (entered by EOS). */
  terminal: Uint8Array;
  eosId: number;
  /** The allowed strings, deduplicated, in input order. */
  strings: string[];
}

export interface TrieTokenizer {
  encode(text: string): number[];
  readonly vocabSize: number;
}

/**
 * Token ids of one allowed action as a constrained sample ends up: the canonical tokenization of the string (the ids
 * the model sees for that text anywhere else) followed by EOS. The trie is built from these, and supervised
 * fine-tuning on demonstrations uses them too, so it teaches exactly the sequences the sampler can produce.
 */
export function actionTokens(tokenizer: TrieTokenizer, action: string, eosId: number): number[] {
  if (action === '') throw new Error('actionTokens: empty action string');
  const ids = tokenizer.encode(action);
  if (ids.includes(eosId)) throw new Error(`actionTokens: '${action}' contains the EOS token`);
  return [...ids, eosId];
}

/**
 * Builds the trie over actionTokens(s) for each string (training then reinforces one spelling per action).
 */
export function buildActionTrie(tokenizer: TrieTokenizer, strings: readonly string[], eosId: number): ActionTrie {
  if (!Number.isInteger(eosId) || eosId < 0 || eosId >= tokenizer.vocabSize) {
    throw new Error(`buildActionTrie: eosId ${eosId} is outside the vocabulary (0..${tokenizer.vocabSize - 1})`);
  }
  const unique = [...new Set(strings)];
  if (unique.length === 0) throw new Error('buildActionTrie: no allowed action strings');
  // Map-based trie first, then flattened breadth-first so node ids increase with depth.
  const children: Array<Map<number, number>> = [new Map()];
  for (const s of unique) {
    if (s === '') throw new Error('buildActionTrie: empty action string');
    let node = 0;
    for (const id of actionTokens(tokenizer, s, eosId)) {
      let next = children[node].get(id);
      if (next === undefined) {
        next = children.length;
        children.push(new Map());
        children[node].set(id, next);
      }
      node = next;
    }
  }
  const order: number[] = [0];
  const newId = new Map<number, number>([[0, 0]]);
  for (let i = 0; i < order.length; i++) {
    const kids = [...children[order[i]].entries()].sort((a, b) => a[0] - b[0]);
    for (const [, child] of kids) {
      newId.set(child, order.length);
      order.push(child);
    }
  }
  const nodeCount = order.length;
  const edges = nodeCount - 1;
  const childStart = new Int32Array(nodeCount + 1);
  const childToken = new Int32Array(edges);
  const childNode = new Int32Array(edges);
  const terminal = new Uint8Array(nodeCount);
  let e = 0;
  for (let n = 0; n < nodeCount; n++) {
    childStart[n] = e;
    for (const [tok, child] of [...children[order[n]].entries()].sort((a, b) => a[0] - b[0])) {
      childToken[e] = tok;
      childNode[e] = newId.get(child)!;
      if (tok === eosId) terminal[childNode[e]] = 1;
      e++;
    }
  }
  childStart[nodeCount] = e;
  return { nodeCount, childStart, childToken, childNode, terminal, eosId, strings: unique };
}

/** Token ids allowed after node `node` (a view, ascending). */
export function trieAllowed(trie: ActionTrie, node: number): Int32Array {
  return trie.childToken.subarray(trie.childStart[node], trie.childStart[node + 1]);
}

/** Child of `node` along `token`, or −1 when the token is not allowed there. */
export function trieNext(trie: ActionTrie, node: number, token: number): number {
  let lo = trie.childStart[node];
  let hi = trie.childStart[node + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = trie.childToken[mid];
    if (t === token) return trie.childNode[mid];
    if (t < token) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Node reached by following `tokens` from the root, or −1 if they leave the trie. */
export function trieWalk(trie: ActionTrie, tokens: readonly number[]): number {
  let node = 0;
  for (const t of tokens) {
    node = trieNext(trie, node, t);
    if (node < 0) return -1;
  }
  return node;
}

/** Every root-to-terminal token path (EOS included), depth-first in token order. */
export function triePaths(trie: ActionTrie): number[][] {
  const out: number[][] = [];
  const walk = (node: number, path: number[]) => {
    if (trie.terminal[node]) out.push(path);
    for (let e = trie.childStart[node]; e < trie.childStart[node + 1]; e++) walk(trie.childNode[e], [...path, trie.childToken[e]]);
  };
  walk(0, []);
  return out;
}
