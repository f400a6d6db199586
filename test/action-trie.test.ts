import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTokenizerFiles } from '../lib/engine/tokenizer-files.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import { allowedActions, buildActionTrie, goalValues, trieAllowed, trieNext, triePaths, trieWalk } from '../lib/rl/action-trie.ts';
import type { Observation } from '../lib/env/types.ts';
import { formatAction, parseAction } from '../lib/env/actions/parser.ts';

const obs = (axtree: string, goal = 'Click the button.', prunedHtml = ''): Observation => ({
  goal, axtree_txt: axtree, pruned_html: prunedHtml, url: '', focused_element_bid: '', last_action: '', last_action_error: '',
});

const formTree = [
  "RootWebArea 'Form', focused",
  "\t[3] StaticText 'Enter a name'",
  "\t[4] textbox 'Name'",
  "\t[5] checkbox 'Remember', checked='false'",
  "\t[6] combobox 'Fruit', hasPopup='listbox', expanded=False",
  "\t\t[7] option 'Apple', selected=False",
  "\t\t[8] option \"Bob's pear\", selected=False",
  "\t[9] button 'Submit'",
].join('\n');

describe('allowed actions', () => {
  it('derives element actions from bids and roles (hand-written expectation)', () => {
    const o = obs(formTree, 'Enter "Kasie" into the text field and press Submit.');
    expect(allowedActions(o, ['click'])).toEqual(["click('3')", "click('4')", "click('5')", "click('6')", "click('7')", "click('8')", "click('9')"]);
    expect(allowedActions(o, ['fill', 'press', 'check', 'select_option', 'scroll', 'noop'])).toEqual([
      "fill('4', 'Kasie')",
      "fill('6', 'Kasie')",
      "press('4', 'Enter')",
      "press('4', 'Tab')",
      "press('6', 'Enter')",
      "press('6', 'Tab')",
      "check('5')",
      "select_option('6', 'Apple')",
      `select_option('6', "Bob's pear")`,
      'scroll(0, 200)',
      'scroll(0, -200)',
      'noop()',
    ]);
  });

  it("every allowed string is a valid action for the environment's parser, in its canonical form", () => {
    const o = obs(formTree, `Enter "O'Neil \\ "Q"" and 'x' into the form.`);
    const all = allowedActions(o, ['click', 'dblclick', 'hover', 'focus', 'clear', 'fill', 'press', 'check', 'uncheck', 'select_option', 'scroll', 'noop', 'go_back', 'go_forward', 'keyboard_press', 'keyboard_type', 'send_msg_to_user']);
    expect(all.length).toBeGreaterThan(40);
    for (const a of all) expect(formatAction(parseAction(a, { strict: true }))).toBe(a);
    const tricky = all.find((a) => a.startsWith("fill('4', ") && a.includes('Neil'))!;
    const parsed = parseAction(tricky);
    expect(parsed.name === 'fill' && parsed.args.value).toBe(`O'Neil \\ "Q"`);
  });

  it('offers no fill without a quoted goal value, and rejects unknown actions', () => {
    expect(allowedActions(obs(formTree), ['fill'])).toEqual([]);
    expect(() => allowedActions(obs(formTree), ['send_keys'])).toThrow(/unknown action 'send_keys'/);
    expect(() => allowedActions(obs(formTree), [])).toThrow(/empty action set/);
  });

  it('reads quoted goal values, not apostrophes', () => {
    expect(goalValues(`Enter the username "kanesha" and the password 'UrP1' into the user's form`)).toEqual(['kanesha', 'UrP1']);
    expect(goalValues('Enter "O\'Neil \\ "Q"" into the text field and press Submit.')).toEqual(['O\'Neil \\ "Q"']);
    expect(goalValues('Click on the "Next" button.')).toEqual(['Next']);
    expect(goalValues('Click the button.')).toEqual([]);
  });

  it('reads labelled goal values (book-flight): one per label, cut at joining words and final punctuation', () => {
    expect(goalValues('Book the cheapest one-way flight from: Cincinnati, OH to: LEX on 10/15/2016.')).toEqual(['Cincinnati, OH', 'LEX']);
    expect(goalValues('Book the shortest one-way flight from: Albany, OR - Bus service to: Akron/Canton, OH on 12/05/2016.'))
      .toEqual(['Albany, OR - Bus service', 'Akron/Canton, OH']);
    expect(goalValues('Book the shortest one-way flight from: Fort Wayne, IN to: MSP on 10/01/2016.')).toEqual(['Fort Wayne, IN', 'MSP']);
    // Quoted values win: no second copy with its quotes, no label found inside quotes.
    expect(goalValues('Enter the name: "Bob" and press Submit.')).toEqual(['Bob']);
    expect(goalValues('Type "a: b" into the field.')).toEqual(['a: b']);
    // Unquoted, unlabelled goals offer no value (choose-list picks from the options instead).
    expect(goalValues('Select Norfolk Island from the list and click Submit.')).toEqual([]);
  });

  it('fills only the goal values, so the list stays small (book-flight form)', () => {
    const tree = [
      "\t[19] textbox 'From:'", "\t[21] textbox 'To:'", "\tStaticText 'Departure Date'", "\t[25] textbox ''", "\t[27] button 'Search'",
    ].join('\n');
    const o = obs(tree, 'Book the cheapest one-way flight from: Cincinnati, OH to: LEX on 10/15/2016.');
    expect(allowedActions(o, ['fill'])).toEqual([
      "fill('19', 'Cincinnati, OH')", "fill('19', 'LEX')", "fill('21', 'Cincinnati, OH')", "fill('21', 'LEX')",
      "fill('25', 'Cincinnati, OH')", "fill('25', 'LEX')",
    ]);
  });

  it('offers element actions on text elements that only the pruned HTML shows with a bid (click-link spans)', () => {
    const tree = "RootWebArea 'Click Link Task', focused\n\tStaticText 'Vitae'\n\tStaticText 'eu'\n\t[20] button 'Go'";
    const html = ['<head bid="1">', ' <title bid="2">', '  Click Link Task', ' </title>', '</head>',
      '<div bid="12" id="area">', ' Vitae', ' <span bid="13" class="alink">', '  eu', ' </span>',
      ' <button bid="20">', '  Go', ' </button>', '</div>'].join('\n');
    const o = obs(tree, 'Click on the link "eu".', html);
    expect(allowedActions(o, ['click', 'hover'])).toEqual(["click('20')", "click('13')", "hover('20')", "hover('13')"]);
    expect(allowedActions(o, ['fill', 'clear'])).toEqual([]);  // not text inputs
    expect(allowedActions(obs(tree, 'Click on the link "eu".'), ['click'])).toEqual(["click('20')"]);  // no pruned HTML
  });
});

describe('action trie', () => {
  let tok: Tokenizer;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'lfm2-trie-'));
    writeTokenizerFiles(dir, 1024);
    tok = Tokenizer.fromDir(dir);
  });

  it('has one terminal path per string: its canonical tokens then EOS', () => {
    const strings = allowedActions(obs(formTree, 'Type "hello world"'), ['click', 'fill', 'noop']);
    const trie = buildActionTrie(tok, strings, tok.eosId);
    const paths = triePaths(trie);
    expect(paths.length).toBe(strings.length);
    const decoded = paths.map((p) => {
      expect(p[p.length - 1]).toBe(tok.eosId);
      return tok.decode(p.slice(0, -1));
    });
    expect(new Set(decoded)).toEqual(new Set(strings));
    for (const s of strings) {
      const node = trieWalk(trie, [...tok.encode(s), tok.eosId]);
      expect(node).toBeGreaterThan(0);
      expect(trie.terminal[node]).toBe(1);
      expect(trieAllowed(trie, node).length).toBe(0);
    }
    expect(trie.terminal.reduce((a, b) => a + b, 0)).toBe(strings.length);
  });

  it('CSR arrays are consistent: sorted children, every non-root node entered once, BFS order', () => {
    const trie = buildActionTrie(tok, allowedActions(obs(formTree), ['click', 'check', 'select_option', 'noop']), tok.eosId);
    expect(trie.childStart[0]).toBe(0);
    expect(trie.childStart[trie.nodeCount]).toBe(trie.nodeCount - 1);
    const entered = new Uint8Array(trie.nodeCount);
    for (let n = 0; n < trie.nodeCount; n++) {
      const kids = trieAllowed(trie, n);
      for (let i = 1; i < kids.length; i++) expect(kids[i]).toBeGreaterThan(kids[i - 1]);
      for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) {
        expect(trie.childNode[e]).toBeGreaterThan(n);
        entered[trie.childNode[e]]++;
      }
    }
    expect(entered[0]).toBe(0);
    expect([...entered.subarray(1)].every((c) => c === 1)).toBe(true);
  });

  it('masks: only continuations of allowed strings are reachable', () => {
    const trie = buildActionTrie(tok, ["click('13')", "click('14')", 'noop()'], tok.eosId);
    const root = [...trieAllowed(trie, 0)];
    expect(root.sort((a, b) => a - b)).toEqual([...new Set([tok.encode("click('13')")[0], tok.encode('noop()')[0]])].sort((a, b) => a - b));
    expect(trieNext(trie, 0, tok.eosId)).toBe(-1);
    expect(trieWalk(trie, tok.encode("click('15')"))).toBe(-1);
    // 'click' then "('" then a bid: two allowed bids at that point.
    const afterOpen = trieWalk(trie, tok.encode("click('"));
    expect(afterOpen).toBeGreaterThan(0);
    expect(trieAllowed(trie, afterOpen).length).toBe(2);
  });

  it('random bid sets round-trip through the trie', () => {
    let seed = 99;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 20; trial++) {
      const bids = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => String(Math.floor(rand() * 2000)));
      const tree = bids.map((b) => `\t[${b}] button 'b${b}'`).join('\n');
      const strings = allowedActions(obs(tree), ['click', 'focus']);
      const trie = buildActionTrie(tok, strings, tok.eosId);
      expect(new Set(triePaths(trie).map((p) => tok.decode(p.slice(0, -1))))).toEqual(new Set(strings));
    }
  });

  it('rejects bad input clearly', () => {
    expect(() => buildActionTrie(tok, [], tok.eosId)).toThrow(/no allowed action strings/);
    expect(() => buildActionTrie(tok, ['noop()'], 5000)).toThrow(/eosId 5000 is outside the vocabulary/);
    expect(() => buildActionTrie(tok, [''], tok.eosId)).toThrow(/empty action string/);
    expect(() => buildActionTrie(tok, ['noop()<|im_end|>'], tok.eosId)).toThrow(/contains the EOS token/);
  });
});
