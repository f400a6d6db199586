// The built-in task suite through the real environment (EnvPool: BrowserGym setup, bid marking, axtree_txt, pruned
// HTML, action execution, validation): every task over several seeds is solved by its scripted oracle (reward 1,
// done, within the step budget the trainer uses), the wrong policy never earns reward and ends failing tasks with
// raw −1, and observations are a function of the seed. Also unit tests of the axtree_txt and pruned-HTML readers the
// oracles use, and of the policies on hand-written observations shaped like the real MiniWoB++ pages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import { parseAxLine, parseAxTree, readPyString } from '../lib/env/tasks/axtree-lines.ts';
import { prunedHtmlLeaves } from '../lib/env/tasks/html-leaves.ts';
import { builtinTaskNames } from '../lib/env/tasks/index.ts';
import { oracleActions, TASKS_WITH_FAILURE, wrongAction } from '../lib/env/tasks/oracles.ts';
import { runScriptedEpisode } from '../lib/env/tasks/rollout.ts';
import type { Observation } from '../lib/env/types.ts';

describe('axtree_txt reader', () => {
  it('reads bids, roles, names, values and properties (BrowserGym output lines)', () => {
    const tree = [
      "RootWebArea 'Click Test Task', focused, url='file:///x/miniwob/click-test.html'",
      "\t[13] button 'Click Me!'",
      '\t\tInlineTextBox \'Click\'',
      "\t[14] textbox '' value='Ignacio', focused",
      "\t[13] combobox '' value='Macedonia', hasPopup='menu', expanded=False",
      "\t\t[18] checkbox 'z72vdFA', checked='false'",
      '\t[a7] link "it\'s", url=\'https://x/?a=1, b=2\'',
      "\t[9] StaticText 'tab\\there \\'q\\' \\xe9\\u4e2d\\\\'",
      'not a node line',
    ].join('\n');
    const lines = parseAxTree(tree);
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatchObject({ depth: 0, bid: '', role: 'RootWebArea', name: 'Click Test Task' });
    expect(lines[0]!.props.get('focused')).toBe(true);
    expect(lines[0]!.props.get('url')).toBe('file:///x/miniwob/click-test.html');
    expect(lines[1]).toMatchObject({ depth: 1, bid: '13', role: 'button', name: 'Click Me!' });
    expect(lines[1]!.value).toBeUndefined();
    expect(lines[2]).toMatchObject({ depth: 2, bid: '', role: 'InlineTextBox', name: 'Click' });
    expect(lines[3]).toMatchObject({ bid: '14', role: 'textbox', name: '', value: 'Ignacio' });
    expect([...lines[4]!.props]).toEqual([['hasPopup', 'menu'], ['expanded', 'False']]);
    expect(lines[5]!.props.get('checked')).toBe('false');
    expect(lines[6]).toMatchObject({ bid: 'a7', role: 'link', name: "it's" });
    expect(lines[6]!.props.get('url')).toBe('https://x/?a=1, b=2');  // a comma inside a quoted value
    expect(lines[7]!.name).toBe("tab\there 'q' \u00e9\u4e2d\\");
  });

  it('rejects malformed strings instead of guessing', () => {
    expect(readPyString("'unterminated", 0)).toBeUndefined();
    expect(readPyString("'bad \\x4'", 0)).toBeUndefined();
    expect(parseAxLine("\t[3] button 'ok', =x")).toBeUndefined();
  });
});

describe('pruned HTML reader', () => {
  it('finds text-only elements with their bids, decodes entities, skips the head and nested elements', () => {
    const html = [
      '<head bid="1">',
      ' <title bid="2">',
      '  Click Link Task',
      ' </title>',
      '</head>',
      '<div bid="12" id="area">',
      ' Faucibus nibh',
      ' <span bid="13" class="alink">',
      '  nisl',
      ' </span>',
      ' <span bid="14" class="alink">',
      '  a &amp; b &lt;c&gt;',
      ' </span>',
      ' <div bid="15">',
      '  <span bid="16">',
      '   inner',
      '  </span>',
      ' </div>',
      ' <input bid="17" type="text" value=""/>',
      ' <div bid="18" id="query">',
      ' </div>',
      '</div>',
    ].join('\n');
    expect(prunedHtmlLeaves(html)).toEqual([
      { bid: '13', tag: 'span', text: 'nisl' },
      { bid: '14', tag: 'span', text: 'a & b <c>' },
      { bid: '16', tag: 'span', text: 'inner' },
    ]);
    expect(prunedHtmlLeaves('')).toEqual([]);
  });
});

function observation(goal: string, axtree: string, prunedHtml = ''): Observation {
  return { goal, axtree_txt: axtree, pruned_html: prunedHtml, url: '', focused_element_bid: '', last_action: '', last_action_error: '' };
}

describe('scripted policies on hand-written observations', () => {
  it('pick the element the goal names, with Python-literal arguments', () => {
    const boxes = "\t[13] checkbox 'ab', checked='true'\n\t[16] checkbox 'cd', checked='false'\n\t[27] button 'Submit'";
    expect(oracleActions('click-checkboxes', observation('Select cd and click Submit.', boxes))).toBe("click('13')");
    expect(wrongAction('click-checkboxes', observation('Select cd and click Submit.', boxes))).toBe("click('27')");
    expect(oracleActions('click-checkboxes', observation('Select ab, cd and click Submit.', boxes))).toBe("click('16')");
    const text = "\t[12] textbox '' value='x'\n\t[14] button 'Submit'";
    expect(oracleActions('enter-text', observation('Enter "O\'Neil \\ "Q"" into the text field and press Submit.', text)))
      .toBe(`fill('12', "O'Neil \\\\ \\"Q\\"")`);
  });

  it('click-link: a link is a span that only the pruned HTML shows with a bid (MiniWoB++ page)', () => {
    const tree = "RootWebArea 'Click Link Task', focused\n\tStaticText 'Vitae'\n\tStaticText 'eu'\n\tStaticText 'et.'";
    const html = '<div bid="12" id="area">\n Vitae\n <span bid="13" class="alink">\n  eu\n </span>\n' +
      ' <span bid="14" class="alink">\n  et.\n </span>\n</div>';
    const goal = 'Click on the link "et.".';
    expect(oracleActions('click-link', observation(goal, tree, html))).toBe("click('14')");
    expect(wrongAction('click-link', observation(goal, tree, html))).toBe("click('13')");
    expect(() => oracleActions('click-link', observation(goal, tree))).toThrow(/needs pruned_html/);
    // Pages that give links the link role work from the tree alone.
    expect(oracleActions('click-link', observation(goal, "\t[5] link 'eu'\n\t[6] link 'et.'"))).toBe("click('6')");
  });

  it('book-flight: picks the suggestion (an unnamed listitem) holding the airport, steps the picker, books the best', () => {
    const goal = 'Book the shortest one-way flight from: SHG to: Corpus Christi, TX on 11/05/2016.';
    const form = (from: string, to: string, date: string) => [
      "\t[17] heading 'Book Your One-Way Flight'",
      `\t[19] textbox 'From:'${from ? ` value='${from}'` : ''}`,
      `\t[21] textbox 'To:'${to ? ` value='${to}'` : ''}`,
      "\tStaticText 'Departure Date'",
      `\t[25] textbox ''${date ? ` value='${date}'` : ''}`,
      "\t[27] button 'Search'",
    ];
    const menu = ['\t[29] list \'\'', ...['Shageluk, AK (SHX)', 'Shungnak, AK (SHG)'].flatMap((e, i) => [
      `\t\t[${34 + i}] listitem ''`, "\t\t\tListMarker ''", "\t\t\t\timage ''", `\t\t\tStaticText '${e}'`])];
    const act = (lines: string[]) => oracleActions('book-flight', observation(goal, lines.join('\n')));
    expect(act(form('', '', ''))).toBe(`fill('19', "SHG")`);
    expect(act([...form('SHG', '', ''), ...menu])).toBe("click('35')");
    expect(act(form('Shungnak, AK (SHG)', '', ''))).toBe(`fill('21', "Corpus Christi, TX")`);
    // Typed, but the list is not there yet: wait once, then type again.
    const typed = observation(goal, form('SHG', '', '').join('\n'));
    expect(oracleActions('book-flight', { ...typed, last_action: `fill('19', "SHG")` })).toBe('noop()');
    expect(oracleActions('book-flight', { ...typed, last_action: 'noop()' })).toBe(`fill('19', "SHG")`);
    const done = form('Shungnak, AK (SHG)', 'Corpus Christi, TX (CRP)', '');
    expect(act(done)).toBe("click('25')");
    const picker = (month: string) => ["\t[43] link 'Prev'", "\t\tStaticText 'Prev'", "\tStaticText 'Next'",
      `\tStaticText '${month}'`, "\tStaticText ''", "\tStaticText '2016'", "\t\t\t\t[82] cell '5'",
      "\t\t\t\t\t[83] link '5', url='file:///x/book-flight.html#'"];
    expect(act([...done, ...picker('December')])).toBe("click('43')");
    expect(act([...done, ...picker('November')])).toBe("click('83')");
    expect(act(form('Shungnak, AK (SHG)', 'Corpus Christi, TX (CRP)', '11/05/2016'))).toBe("click('27')");
    const results = ['\t[141] button \'Back\'', ...[[479, '28h 49m'], [991, '2h 25m'], [539, '2h 31m']].flatMap(([p, d]) => [
      "\t[163] LabelText ''", "\t\tStaticText 'Duration:'", `\tStaticText '${d}'`, `\t[${p}] button 'Book flight for $${p}'`])];
    expect(act(results)).toBe("click('991')");
    expect(wrongAction('book-flight', observation(goal, results.join('\n')))).toBe("click('479')");
  });

  it('fail loudly on an unknown task or an observation that does not fit the task', () => {
    expect(() => oracleActions('no-such-task', observation('', ''))).toThrow(/no scripted policy/);
    expect(() => oracleActions('click-test', observation('Click the button.', "\t[3] link 'x'"))).toThrow(
      /no button 'Click Me!'/,
    );
    expect(() => oracleActions('enter-text', observation('Do something else.', ''))).toThrow(/unexpected goal/);
  });
});

const SEEDS = [0, 1, 2, 3];
const STEP_LIMIT = 14;
/** book-flight's oracle: fill + pick ×2, open the picker, ≤ 2 months back from December, day, search, book. */
const ORACLE_MAX_STEPS = 10;
let pool: EnvPool;

beforeAll(async () => {
  // Pruned HTML: click-link's links have a bid only there.
  pool = await EnvPool.launch({ headless: true, maxSteps: STEP_LIMIT + 1, prunedHtml: true });
});
afterAll(async () => {
  await pool?.close();
});

describe('built-in tasks through EnvPool', () => {
  it('the oracle solves every task on every seed: reward 1, done, no action errors', async () => {
    const ep = await pool.newEpisode();
    for (const task of builtinTaskNames()) {
      for (const seed of SEEDS) {
        const { actions, steps, reward, done, rawReward } = await runScriptedEpisode(ep, { task, seed }, oracleActions, STEP_LIMIT);
        const where = `${task} seed ${seed}: ${actions.join(' ; ')}`;
        expect(done, where).toBe(true);
        expect(reward, where).toBe(1);
        // Waits for slow suggestions (noop) depend on the machine's load, not on the plan.
        expect(actions.filter((a) => a !== 'noop()').length, where).toBeLessThanOrEqual(ORACLE_MAX_STEPS);
        expect(rawReward, where).toBe(1);  // the oracle earns full credit, not partial
        for (const s of steps) expect(s.observation.last_action_error, where).toBe('');
        for (const s of steps.slice(0, -1)) expect([s.reward, s.done], where).toEqual([0, false]);
      }
    }
    await ep.close();
  });

  it('book-flight is solved when a step does not wait for the suggestions (settleMs 0): the oracle waits with noop', async () => {
    const ep = await pool.newEpisode({ settleMs: 0 });
    for (const seed of SEEDS.slice(0, 2)) {
      const { actions, reward } = await runScriptedEpisode(ep, { task: 'book-flight', seed }, oracleActions, STEP_LIMIT);
      const where = `seed ${seed}: ${actions.join(' ; ')}`;
      expect(reward, where).toBe(1);
      expect(actions.filter((a) => a !== 'noop()').length, where).toBeLessThanOrEqual(ORACLE_MAX_STEPS);
    }
    await ep.close();
  });

  it('the wrong policy earns 0; failing tasks end with raw -1, the others stay open', async () => {
    const ep = await pool.newEpisode();
    const failedTasks = new Set<string>();
    for (const task of builtinTaskNames()) {
      for (const seed of SEEDS.slice(0, 3)) {
        const limit = TASKS_WITH_FAILURE.has(task) ? STEP_LIMIT : 3;
        const { actions, steps, done, rawReward } = await runScriptedEpisode(ep, { task, seed }, wrongAction, limit);
        const where = `${task} seed ${seed}: ${actions.join(' ; ')}`;
        for (const s of steps) {
          expect(s.reward, where).toBe(0);
          expect(s.observation.last_action_error, where).toBe('');
        }
        // click-button / click-link hover the target when the page has no other button / link to click.
        const endsInFailure = TASKS_WITH_FAILURE.has(task) && !actions[0]!.startsWith('hover(');
        if (endsInFailure) {
          expect(done, where).toBe(true);
          expect(rawReward, where).toBe(-1);
          failedTasks.add(task);
        } else {
          expect(steps, where).toHaveLength(limit);  // never ends, never rewards
          expect(done, where).toBe(false);
        }
      }
    }
    expect([...failedTasks].sort()).toEqual([...TASKS_WITH_FAILURE].sort());  // every failure rule was exercised
    await ep.close();
  });

  it('runScriptedEpisode rejects a non-positive step budget', async () => {
    const ep = await pool.newEpisode();
    await expect(runScriptedEpisode(ep, { task: 'click-test', seed: 0 }, oracleActions, 0)).rejects.toThrow(/maxSteps/);
    await ep.close();
  });

  it('same seed → same observation text; different seeds → different', async () => {
    // Pruned HTML too: in click-test / focus-text / click-dialog only the geometry (inline styles) varies.
    const [a, b] = [await pool.newEpisode({ prunedHtml: true }), await pool.newEpisode({ prunedHtml: true })];
    for (const task of builtinTaskNames()) {
      const text = (o: Observation) => `${o.goal}\n${o.axtree_txt}\n${o.pruned_html}`;
      const first = text(await a.reset({ task, seed: 7 }));
      expect(text(await b.reset({ task, seed: 7 })), task).toBe(first);
      expect(text(await b.reset({ task, seed: 8 })), task).not.toBe(first);
    }
    await Promise.all([a.close(), b.close()]);
  });
});
