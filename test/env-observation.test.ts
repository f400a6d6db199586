// Observation format: BrowserGym's axtree_txt rules on synthetic trees, pruned HTML rules on synthetic snapshots, and
// both on a live page (bids, indentation, skipped nodes, properties, stability across steps, seeds).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import type { TaskSource } from '../lib/env/episode.ts';
import { extractBids, flattenAxTree, type AXNode } from '../lib/env/observation/axtree.ts';
import { prunedHtml, type DomSnapshot } from '../lib/env/observation/dom.ts';
import type { Episode } from '../lib/env/types.ts';

const v = (value: unknown, type = 'string') => ({ type, value });
const node = (id: string, role: string, name: string | undefined, kids: string[] = [], extra: Partial<AXNode> = {}): AXNode => ({
  nodeId: id,
  role: v(role, 'role'),
  ...(name === undefined ? {} : { name: v(name, 'computedString') }),
  childIds: kids,
  ...extra,
});

describe('flattenAxTree (BrowserGym flatten_axtree_to_str rules)', () => {
  const tree = (): AXNode[] => [
    node('1', 'RootWebArea', 'Page', ['2', '6', '7', '8', '9', '10', '11', '14'], {
      properties: [{ name: 'focused', value: v(true, 'boolean') }, { name: 'url', value: v('http://x/') }],
    }),
    node('2', 'generic', '', ['3'], { browsergym_id: '5' }),
    node('3', 'button', 'OK', ['4'], { browsergym_id: '6' }),
    node('4', 'StaticText', 'OK', ['5']),
    node('5', 'InlineTextBox', 'OK'),
    node('6', 'LineBreak', '\n', ['15']),
    node('7', 'textbox', '', [], {
      browsergym_id: '7',
      value: v('abc'),
      properties: [
        { name: 'focusable', value: v(true, 'booleanOrUndefined') },
        { name: 'editable', value: v('plaintext', 'token') },
        { name: 'invalid', value: v('false', 'token') },
        { name: 'required', value: v(true, 'boolean') },
        { name: 'atomic', value: v(false, 'boolean') },
      ],
    }),
    node('8', 'checkbox', "it's", [], { browsergym_id: '8', properties: [{ name: 'checked', value: v('false', 'tristate') }] }),
    node('9', 'combobox', '  padded  ', [], {
      browsergym_id: '9',
      properties: [
        { name: 'hasPopup', value: v('menu', 'token') },
        { name: 'expanded', value: v(false, 'booleanOrUndefined') },
        { name: 'level', value: v(2, 'integer') },
        { name: 'valuemin', value: v(0.5, 'number') },
      ],
    }),
    node('10', 'generic', '', [], { browsergym_id: '10', properties: [{ name: 'live', value: v('assertive', 'token') }] }),
    { nodeId: '11', ignored: true, role: v('none', 'role'), childIds: ['12', '11', '99'] },
    node('12', 'StaticText', 'free text', ['13']),
    node('13', 'InlineTextBox', 'free text'),
    node('14', 'heading', 'Title', ['16'], { browsergym_id: '20' }),
    node('15', 'InlineTextBox', '\n'),
    node('16', 'StaticText', 'Tit'),
  ];

  it('prints, skips and indents exactly as BrowserGym', () => {
    expect(flattenAxTree(tree())).toBe(
      [
        "RootWebArea 'Page', focused, url='http://x/'",
        "\t[6] button 'OK'", // the unnamed, property-less generic [5] is skipped and adds no depth
        "\t\tInlineTextBox 'OK'", // StaticText 'OK' is inside its parent's name: skipped
        "\tInlineTextBox ''", // LineBreak skipped, its text box kept (name printed stripped)
        "\t[7] textbox '' value='abc', required",
        `\t[8] checkbox "it's", checked='false'`,
        "\t[9] combobox 'padded', hasPopup='menu', expanded=False, valuemin=0.5",
        "\t[10] generic, live='assertive'",
        "\tStaticText 'free text'", // child of an ignored unnamed node: no extra depth; self/missing ids ignored
        "\t\tInlineTextBox 'free text'",
        "\t[20] heading 'Title'",
      ].join('\n'),
    );
  });

  it('adds clickable / visible flags before the regular properties', () => {
    const extra = new Map([
      ['6', { visibility: 0.8, clickable: true }],
      ['7', { visibility: 0.3, clickable: true }],
      ['8', { visibility: 0.5, clickable: false }],
    ]);
    const lines = flattenAxTree(tree(), { extra, withClickable: true, withVisible: true }).split('\n');
    expect(lines).toContain("\t[6] button 'OK', clickable, visible");
    expect(lines).toContain("\t[7] textbox '' value='abc', clickable, required");
    expect(lines).toContain(`\t[8] checkbox "it's", visible, checked='false'`);
    expect(() => flattenAxTree(tree(), { withVisible: true })).toThrow(/extra/);
  });

  it('recovers bids from the ARIA prefixes and restores the original text', () => {
    const nodes: AXNode[] = [
      node('1', 'button', 'a', [], {
        properties: [{ name: 'roledescription', value: v('browsergym_id_12 ') }],
        description: v('browsergym_id_12 '),
      }),
      node('2', 'region', 'b', [], { properties: [{ name: 'roledescription', value: v('browsergym_id_aB3 slide') }] }),
      node('3', 'generic', 'c', [], { description: v('browsergym_id_7 tooltip text') }),
      node('4', 'generic', 'd', [], { description: v('plain description') }),
    ];
    extractBids(nodes);
    expect(nodes.map((n) => n.browsergym_id)).toEqual(['12', 'aB3', '7', undefined]);
    expect(nodes[0]!.properties).toEqual([]);
    expect(nodes[0]!.description).toBeUndefined();
    expect(nodes[1]!.properties![0]!.value.value).toBe('slide');
    expect(nodes[2]!.description!.value).toBe('tooltip text');
    expect(nodes[3]!.description!.value).toBe('plain description');
  });

  it('handles a 5000-deep chain without overflowing the stack', () => {
    const nodes: AXNode[] = Array.from({ length: 5000 }, (_, i) => node(String(i), 'group', `g${i}`, i < 4999 ? [String(i + 1)] : []));
    const lines = flattenAxTree(nodes).split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines[4999]).toBe('\t'.repeat(4999) + "group 'g4999'");
  });
});

describe('prunedHtml (BrowserGym flatten_dom_to_str + prune_html rules)', () => {
  // A hand-built CDP DOMSnapshot: document > doctype, html > head(title, script), body > div#wrap > (div bid-only
  // with text, span bid-only empty, button, br, input, comment, p with class), plus a pseudo-element.
  const strings: string[] = [];
  const s = (x: string) => {
    const i = strings.indexOf(x);
    return i >= 0 ? i : strings.push(x) - 1;
  };
  const rows: Array<[number, number, string, string | null, string[]]> = [
    // [parent, nodeType, nodeName, nodeValue, attributes]
    [-1, 9, '#document', null, []], // 0
    [0, 10, 'html', null, []], // 1
    [0, 1, 'HTML', null, ['bid', '0']], // 2
    [2, 1, 'HEAD', null, ['bid', '1']], // 3
    [3, 1, 'TITLE', null, ['bid', '2']], // 4
    [4, 3, '#text', 'My <Task>', []], // 5
    [3, 1, 'SCRIPT', null, ['bid', '3']], // 6
    [6, 3, '#text', 'var x = 1;', []], // 7
    [2, 1, 'BODY', null, ['bid', '4']], // 8
    [8, 1, 'DIV', null, ['id', 'wrap', 'bid', '5', 'browsergym_visibility_ratio', '1', 'aria-roledescription', 'browsergym_id_5 ']], // 9
    [9, 1, 'DIV', null, ['bid', '6']], // 10
    [10, 3, '#text', '\n  hello\n  world ', []], // 11
    [9, 1, 'SPAN', null, ['bid', '7']], // 12
    [9, 1, 'BUTTON', null, ['bid', '8', 'aria-roledescription', 'browsergym_id_8 slide', 'title', `say "hi" & 'bye'`]], // 13
    [13, 3, '#text', 'Click', []], // 14
    [13, 3, '#text', ' Me!', []], // 15
    [9, 1, 'BR', null, ['bid', '9']], // 16
    [9, 1, 'INPUT', null, ['bid', '10', 'value', 'a"b', 'checked', '']], // 17
    [9, 8, '#comment', 'note', []], // 18
    [9, 1, 'P', null, ['bid', '11', 'class', ' x   y ']], // 19
    [19, 1, '::before', null, []], // 20 (pseudo-element)
    [19, 3, '#text', 'para', []], // 21
  ];
  const snap: DomSnapshot = {
    strings,
    documents: [
      {
        nodes: {
          parentIndex: rows.map((r) => r[0]),
          nodeType: rows.map((r) => r[1]),
          nodeName: rows.map((r) => s(r[2])),
          nodeValue: rows.map((r) => (r[3] === null ? -1 : s(r[3]))),
          attributes: rows.map((r) => r[4].map(s)),
          pseudoType: { index: [20], value: [s('before')] },
        },
      },
    ],
  };

  it('unwraps html/body and bid-only div/span/i/p, drops script/style/br/comments, prettifies', () => {
    expect(prunedHtml(snap)).toBe(
      [
        '<head bid="1">',
        ' <title bid="2">',
        '  My &lt;Task&gt;',
        ' </title>',
        '</head>',
        '<div bid="5" id="wrap">',
        ' hello   world', // newlines become spaces, the text is stripped
        ` <button bid="8" aria-roledescription="slide" title="say &quot;hi&quot; &amp; 'bye'">`,
        '  Click Me!', // adjacent DOM texts are one string once parsed
        ' </button>',
        ` <input bid="10" value='a"b' checked=""/>`,
        ' <p bid="11" class="x y">',
        '  para',
        ' </p>',
        '</div>',
      ].join('\n'),
    );
  });
});

// A minimal page that follows the MiniWoB protocol (core object, WOB_* globals, Math.seedrandom, genProblem).
const TEST_PAGE = String.raw`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Observation Test</title>
<style>#area { font-size: 10px; } .far { position: absolute; top: 3000px; }</style></head>
<body><div id="wrap"><div id="query"></div><div id="area"></div></div>
<script>
Math.seedrandom = function (seed) {
  var s = (Number(seed) >>> 0) || 1;
  Math.random = function () { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
};
var WOB_REWARD_GLOBAL = 0, WOB_RAW_REWARD_GLOBAL = 0, WOB_REWARD_REASON = null, WOB_DONE_GLOBAL = false,
    WOB_EPISODE_ID = 0, WOB_TASK_READY = true;
var core = {
  EPISODE_MAX_TIME: 10000, EP_TIMER: null,
  clearTimer: function () {}, canvasDrawClick: function () {},
  createDisplay: function () {
    ['reward-display', 'click-canvas', 'sync-task-cover'].forEach(function (id) {
      if (!document.getElementById(id)) { var d = document.createElement('div'); d.id = id; document.body.appendChild(d); }
    });
  },
  startEpisode: function () { core.createDisplay(); },
  startEpisodeReal: function () {
    genProblem();
    WOB_DONE_GLOBAL = false; WOB_REWARD_GLOBAL = 0; WOB_RAW_REWARD_GLOBAL = 0; WOB_REWARD_REASON = null;
    core.EP_TIMER = setTimeout(function () { core.endEpisode(-1, false, 'timed out'); }, core.EPISODE_MAX_TIME);
  },
  endEpisode: function (r, tp, reason) {
    if (core.EP_TIMER === null) return;
    clearTimeout(core.EP_TIMER); core.EP_TIMER = null;
    WOB_RAW_REWARD_GLOBAL = r; WOB_REWARD_GLOBAL = r; WOB_REWARD_REASON = reason || null; WOB_DONE_GLOBAL = true;
    WOB_EPISODE_ID++; core.startEpisode();
  },
  getUtterance: function () { return document.getElementById('query').textContent.replace(/\s+/g, ' ').trim(); },
};
function genProblem() {
  var n = 2 + Math.floor(Math.random() * 5);
  document.getElementById('query').textContent = 'Type the code ' + n + ' and press Done.';
  var area = document.getElementById('area');
  var words = '';
  for (var i = 0; i < n; i++) words += '<span>w' + Math.floor(Math.random() * 1000) + '</span> ';
  area.innerHTML = '<label for="code">Code</label><input id="code" type="text"><br>' +
    '<input id="agree" type="checkbox"><label for="agree">Agree</label>' +
    '<div role="group" aria-roledescription="slide" aria-label="Slide one">' + words + '</div>' +
    '<button id="add">Add</button><button id="done">Done</button>' +
    '<button class="far" id="far">Far away</button><div id="extra"></div>' +
    '<div style="height: 12px; overflow: hidden"><div style="height: 40px"></div><button id="clip">Clipped</button></div>';
  document.getElementById('add').onclick = function () {
    var b = document.createElement('button'); b.textContent = 'New'; document.getElementById('extra').appendChild(b);
  };
  document.getElementById('far').onclick = function () {};
  document.getElementById('clip').onclick = function () {};
  document.getElementById('done').onclick = function () {
    var ok = document.getElementById('code').value === String(n);
    core.endEpisode(ok ? 1 : -1, ok);
  };
}
window.onload = function () { core.startEpisode(); };
</script></body></html>`;

// The same protocol with a same-origin iframe holding a button and a text field.
const FRAME_PAGE = TEST_PAGE.replace(
  "window.onload = function () { core.startEpisode(); };",
  `window.onload = function () { core.startEpisode(); };
  var oldGen = genProblem;
  genProblem = function () {
    oldGen();
    var fr = document.createElement('iframe');
    fr.srcdoc = '<button onclick="this.textContent = \\'Inner clicked\\'">Inner</button><input aria-label="Inner text">';
    document.getElementById('area').appendChild(fr);
  };`,
);

const TEST_TASKS: TaskSource = {
  origin: 'http://obs.localhost',
  names: () => ['obs-test', 'frames'],
  html: (name) => (name === 'obs-test' ? TEST_PAGE : name === 'frames' ? FRAME_PAGE : undefined),
};

const bidOf = (axtree: string, pattern: RegExp): string => {
  const line = axtree.split('\n').find((l) => pattern.test(l));
  if (!line) throw new Error(`no line matches ${pattern} in\n${axtree}`);
  return /\[([a-zA-Z0-9]+)\]/.exec(line)![1]!;
};

describe('observations of a live page', () => {
  let pool: EnvPool;
  let ep: Episode;
  beforeAll(async () => {
    pool = await EnvPool.launch({ builtinTasks: TEST_TASKS, prunedHtml: true });
    ep = await pool.newEpisode();
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('goal, url, tab-indented tree with BrowserGym skip rules', async () => {
    const o = await ep.reset({ task: 'obs-test', seed: 3 });
    expect(o.goal).toMatch(/^Type the code \d and press Done\.$/);
    expect(o.url).toBe('http://obs.localhost/miniwob/obs-test.html');
    const lines = o.axtree_txt.split('\n');
    expect(lines[0]).toMatch(/^RootWebArea 'Observation Test', focused, url='http:\/\/obs\.localhost\/miniwob\/obs-test\.html'$/);
    let prev = 0;
    for (const l of lines.slice(1)) {
      const depth = /^\t*/.exec(l)![0].length;
      expect(depth).toBeGreaterThanOrEqual(1);
      expect(depth).toBeLessThanOrEqual(prev + 1); // a child is exactly one tab deeper than some printed ancestor
      prev = depth;
      expect(l).not.toMatch(/^\t*LineBreak/);
      expect(l).not.toMatch(/^\t*(\[\w+\] )?generic$/); // generic without properties is skipped
      expect(l).toMatch(/^\t*(\[[a-zA-Z0-9]+\] )?[A-Za-z]+( '.*'| ".*")?( value=.*)?(, .*)?$/);
    }
    // The button's own text is in its name: no redundant StaticText child.
    const doneIdx = lines.findIndex((l) => /\] button 'Done'$/.test(l));
    expect(lines[doneIdx + 1]).not.toMatch(/StaticText 'Done'/);
    expect(o.axtree_txt).toMatch(/\[\d+\] textbox 'Code'/);
    expect(o.axtree_txt).toMatch(/\[\d+\] checkbox 'Agree', checked='false'/);
    // The page's own aria-roledescription survives the bid round trip.
    expect(o.axtree_txt).toMatch(/\[\d+\] group 'Slide one', roledescription='slide'/);
    expect(o.last_action).toBe('');
    expect(o.last_action_error).toBe('');
    expect(o.screenshot).toBeUndefined();
  });

  it('bids follow document order and match the DOM seen in pruned HTML', async () => {
    const o = await ep.observe();
    const htmlBids = [...o.pruned_html.matchAll(/ bid="(\d+)"/g)].map((m) => Number(m[1]));
    expect(htmlBids.length).toBeGreaterThan(8);
    for (let i = 1; i < htmlBids.length; i++) expect(htmlBids[i]).toBeGreaterThan(htmlBids[i - 1]!);
    const done = bidOf(o.axtree_txt, /button 'Done'/);
    expect(o.pruned_html).toContain(`<button bid="${done}" id="done"`);
    const code = bidOf(o.axtree_txt, /textbox 'Code'/);
    expect(o.pruned_html).toContain(`<input bid="${code}" id="code" type="text" value=""/>`);
    // The bid prefix never leaks into what the page or the HTML shows.
    expect(o.pruned_html).toContain('aria-roledescription="slide"');
    expect(o.pruned_html).not.toContain('browsergym_id_');
    expect(o.pruned_html).not.toContain('<script');
    expect(o.pruned_html).not.toContain('<style');
  });

  it('form state, focus and stable bids across steps', async () => {
    const before = await ep.observe();
    const code = bidOf(before.axtree_txt, /textbox 'Code'/);
    const agree = bidOf(before.axtree_txt, /checkbox 'Agree'/);
    const add = bidOf(before.axtree_txt, /button 'Add'/);
    const allBefore = [...before.axtree_txt.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));

    let r = await ep.step(`fill('${code}', 'typed')`);
    expect(r.observation.last_action).toBe(`fill('${code}', 'typed')`);
    expect(r.observation.last_action_error).toBe('');
    expect(r.observation.axtree_txt).toContain(`[${code}] textbox 'Code' value='typed', focused`);
    expect(r.observation.focused_element_bid).toBe(code);
    expect(r.observation.pruned_html).toContain(`value="typed"`);

    r = await ep.step(`click('${agree}')`);
    expect(r.observation.axtree_txt).toContain(`[${agree}] checkbox 'Agree', focused, checked='true'`);

    r = await ep.step(`click('${add}')`);
    const after = r.observation.axtree_txt;
    // Old elements keep their bids; the new button gets a fresh, larger one.
    expect(bidOf(after, /textbox 'Code'/)).toBe(code);
    expect(bidOf(after, /checkbox 'Agree'/)).toBe(agree);
    const fresh = Number(bidOf(after, /button 'New'/));
    expect(fresh).toBeGreaterThan(Math.max(...allBefore));
    expect(r.reward).toBe(0);
    expect(r.done).toBe(false);
  });

  it('same seed → identical observation; different seeds differ', async () => {
    const a = await ep.reset({ task: 'obs-test', seed: 11 });
    const b = await ep.reset({ task: 'obs-test', seed: 11 });
    expect(b.axtree_txt).toBe(a.axtree_txt);
    expect(b.pruned_html).toBe(a.pruned_html);
    expect(b.goal).toBe(a.goal);
    const texts = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5]) texts.add((await ep.reset({ task: 'obs-test', seed })).axtree_txt);
    expect(texts.size).toBeGreaterThan(1);
  });

  it('iframe content gets frame-prefixed bids, sits under the Iframe node, and can be acted on', async () => {
    const fr = await pool.newEpisode();
    try {
      await fr.reset({ task: 'frames', seed: 3 });
      let o = (await fr.step('noop(300)')).observation; // srcdoc frames load after the episode starts
      const lines = o.axtree_txt.split('\n');
      const iframeIdx = lines.findIndex((l) => /^\t*\[a\] Iframe/.test(l));
      expect(iframeIdx).toBeGreaterThan(0);
      const depth = (l: string) => /^\t*/.exec(l)![0].length;
      const innerIdx = lines.findIndex((l) => /\[a\d+\] button 'Inner'/.test(l));
      expect(innerIdx).toBeGreaterThan(iframeIdx);
      expect(depth(lines[innerIdx]!)).toBeGreaterThan(depth(lines[iframeIdx]!));
      const inner = bidOf(o.axtree_txt, /button 'Inner'/);
      const text = bidOf(o.axtree_txt, /textbox 'Inner text'/);
      expect(inner).toMatch(/^a\d+$/);
      let r = await fr.step(`click('${inner}')`);
      expect(r.observation.last_action_error).toBe('');
      expect(r.observation.axtree_txt).toContain(`[${inner}] button 'Inner clicked'`);
      r = await fr.step(`fill('${text}', 'hi')`);
      o = r.observation;
      expect(o.axtree_txt).toContain(`[${text}] textbox 'Inner text' value='hi', focused`);
      expect(o.focused_element_bid).toBe(text);
      expect((await fr.step("click('a999')")).observation.last_action_error).toBe('ValueError: Could not find element with bid "a999"');
      expect((await fr.step("click('b1')")).observation.last_action_error).toBe('ValueError: Could not find element with bid "b1"');
    } finally {
      await fr.close();
    }
  });

  it('optional flags and screenshot', async () => {
    const flagged = await pool.newEpisode({ axtreeFlags: true, screenshot: true });
    try {
      const o = await flagged.reset({ task: 'obs-test', seed: 3 });
      expect(o.axtree_txt).toMatch(/\[\d+\] button 'Done', clickable, visible/);
      // Positioned 3000 px down, outside the 500×320 viewport: clickable but not visible.
      expect(o.axtree_txt).toMatch(/\[\d+\] button 'Far away', clickable$/m);
      // Inside the viewport but cut off by an overflow: hidden parent.
      expect(o.axtree_txt).toMatch(/\[\d+\] button 'Clipped', clickable$/m);
      expect(o.screenshot!.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      await flagged.close();
    }
  });
});
