// The built-in task suite through the real environment (EnvPool: BrowserGym setup, bid marking, axtree_txt,
// action execution, validation): every task over several seeds is solved by its scripted oracle (reward 1, done),
// the wrong policy never earns reward and ends failing tasks with raw −1, and observations are a function of the
// seed. Also unit tests of the axtree_txt reader the oracles use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import { parseAxLine, parseAxTree, readPyString } from '../lib/env/tasks/axtree-lines.ts';
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

function observation(goal: string, axtree: string): Observation {
  return { goal, axtree_txt: axtree, pruned_html: '', url: '', focused_element_bid: '', last_action: '', last_action_error: '' };
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

  it('fail loudly on an unknown task or an observation that does not fit the task', () => {
    expect(() => oracleActions('no-such-task', observation('', ''))).toThrow(/no scripted policy/);
    expect(() => oracleActions('click-test', observation('Click the button.', "\t[3] link 'x'"))).toThrow(
      /no button 'Click Me!'/,
    );
    expect(() => oracleActions('enter-text', observation('Do something else.', ''))).toThrow(/unexpected goal/);
  });
});

const SEEDS = [0, 1, 2, 3];
const STEP_LIMIT = 14;  // book-flight's oracle needs at most 10 steps (fill+pick ×2, open, ≤2 months, day, search, book)
let pool: EnvPool;

beforeAll(async () => {
  pool = await EnvPool.launch({ headless: true, maxSteps: STEP_LIMIT + 1 });
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
        expect(rawReward, where).toBe(1);  // the oracle earns full credit, not partial
        for (const s of steps) expect(s.observation.last_action_error, where).toBe('');
        for (const s of steps.slice(0, -1)) expect([s.reward, s.done], where).toEqual([0, false]);
      }
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
