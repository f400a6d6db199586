// Demonstrations files: the header must name this format and the run's prompt settings, and every line must be a
// whole, well-formed record of a known task with a canonical action of the run's action set. Each bad input is an
// error naming the file and the line.

import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../lib/io/config.ts';
import { demoExpectations, readDemoFile, DemoFileError } from '../lib/rl/demo-file.ts';
import { TINY_CONFIG } from './trainer-helpers.ts';
import { root, modelDir, config, record, file, setupDemoFixture } from './demo-fixture.ts';

setupDemoFixture('demo-file');

const expectations = () => demoExpectations(config, modelDir);
const lines = (p: string) => readFileSync(p, 'utf8').split('\n');

describe('demonstrations file', () => {
  it('reads back what was written, with line numbers', () => {
    const p = file('good.jsonl');
    const f = readDemoFile(p, expectations());
    expect(f.header).toMatchObject({ format: 'lfm2-rl-demos', version: 1, source: 'oracle', constrained_actions: true });
    expect(f.header.prompt.system_prompt).toBe(config.system_prompt);
    expect(f.records.map((r) => r.completion)).toEqual(["click('4')", "click('5')"]);
    expect(f.lines).toEqual([2, 3]);
  });

  it('rejects a file made for another prompt format, naming the setting', () => {
    const other = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--axtree_max_tokens', '512']);
    const p = file('other-prompt.jsonl', [record('click-test', "click('4')", 0, other)], other);
    expect(() => readDemoFile(p, expectations())).toThrow(/other-prompt\.jsonl: made for another prompt format \(axtree_max_tokens 512 in the file, 256 here\)/);
    // Another tokenizer counts the tree's tokens differently.
    const header = JSON.parse(lines(p)[0]);
    header.prompt.axtree_max_tokens = 256;
    header.prompt.tokenizer = '0123456789abcdef';
    writeFileSync(p, [JSON.stringify(header), ...lines(p).slice(1)].join('\n'));
    expect(() => readDemoFile(p, expectations())).toThrow(/another prompt format \(tokenizer "0123456789abcdef" in the file, .* here \(another model's tokenizer\)\)/);
  });

  it('reads a file from before prompt_goal_last as goal-first, and rejects it for a goal-last run', () => {
    const p = file('no-goal-key.jsonl');
    const header = JSON.parse(lines(p)[0]);
    delete header.prompt.prompt_goal_last;
    writeFileSync(p, [JSON.stringify(header), ...lines(p).slice(1)].join('\n'));
    expect(readDemoFile(p, expectations()).records).toHaveLength(2);
    const goalLast = demoExpectations({ ...config, prompt_goal_last: true }, modelDir);
    expect(() => readDemoFile(p, goalLast)).toThrow(/another prompt format \(prompt_goal_last false in the file, true here\)/);
  });

  it('rejects empty, header-only, foreign and unversioned files', () => {
    const empty = join(root, 'empty.jsonl');
    writeFileSync(empty, '');
    expect(() => readDemoFile(empty, expectations())).toThrow(/empty\.jsonl: empty file/);
    const headerOnly = file('header-only.jsonl', []);
    expect(() => readDemoFile(headerOnly, expectations())).toThrow(/header-only\.jsonl: no demonstrations/);
    const foreign = join(root, 'foreign.jsonl');
    writeFileSync(foreign, '{"step": 1, "reward": 0.5}\n');
    expect(() => readDemoFile(foreign, expectations())).toThrow(/foreign\.jsonl:1: not a demonstrations file/);
    const p = file('v2.jsonl');
    const header = JSON.parse(lines(p)[0]);
    header.version = 2;
    writeFileSync(p, [JSON.stringify(header), ...lines(p).slice(1)].join('\n'));
    expect(() => readDemoFile(p, expectations())).toThrow(/v2\.jsonl:1: format version 2 is not supported/);
    expect(() => readDemoFile(join(root, 'missing.jsonl'), expectations())).toThrow(/cannot read demonstrations .*missing\.jsonl/);
  });

  it('names the truncated last line and malformed lines', () => {
    const p = file('cut.jsonl');
    const text = readFileSync(p, 'utf8');
    writeFileSync(p, text.slice(0, text.length - 20));
    expect(() => readDemoFile(p, expectations())).toThrow(/cut\.jsonl:3: truncated last line/);
    const q = file('malformed.jsonl');
    const l = lines(q);
    writeFileSync(q, [l[0], '{"task": "click-test", oops}', ...l.slice(1)].join('\n'));
    expect(() => readDemoFile(q, expectations())).toThrow(/malformed\.jsonl:2: not valid JSON/);
    const b = file('blank.jsonl');
    writeFileSync(b, [lines(b)[0], '', ...lines(b).slice(1)].join('\n'));
    expect(() => readDemoFile(b, expectations())).toThrow(/blank\.jsonl:2: empty line/);
  });

  it('names bad fields, unknown tasks and actions the run cannot produce', () => {
    const cases: Array<[string, (r: Record<string, unknown>) => void, RegExp]> = [
      ['unknown task', (r) => (r.task = 'click-nothing'), /:3: unknown task 'click-nothing' \(known: click-test, /],
      ['seed', (r) => (r.seed = -1), /:3: 'seed' must be a whole number >= 0/],
      ['messages', (r) => (r.messages = [{ role: 'user', content: 'hi' }]), /:3: 'messages' must be \[\{role: 'system'/],
      ['system', (r) => ((r.messages as Array<{ content: string }>)[0].content = 'You are helpful.'), /:3: the system message differs from the header's system_prompt/],
      ['step', (r) => (r.step = 4), /:3: the user message does not start with "Step 5"/],
      ['not an action', (r) => (r.completion = 'I would click it'), /:3: completion "I would click it" is not an action \(ValueError: Received an empty action\.\)/],
      ['not canonical', (r) => (r.completion = 'click("5")'), /:3: completion "click\(\\"5\\"\)" is not in canonical form \("click\('5'\)"/],
      ['action set', (r) => (r.completion = "fill('5', 'x')"), /:3: completion "fill\('5', 'x'\)" uses 'fill', which is not in action_set/],
      ['done', (r) => (r.done = 'yes'), /:3: 'done' must be true or false/],
    ];
    for (const [name, edit, re] of cases) {
      const p = file(`field-${name.replace(/ /g, '-')}.jsonl`);
      const l = lines(p);
      const r = JSON.parse(l[2]);
      edit(r);
      l[2] = JSON.stringify(r);
      writeFileSync(p, l.join('\n'));
      expect(() => readDemoFile(p, expectations()), name).toThrow(DemoFileError);
      expect(() => readDemoFile(p, expectations()), name).toThrow(re);
    }
  });

  it('a constrained run rejects demonstrations never checked against the allowed actions', () => {
    const free = loadConfig(TINY_CONFIG, ['--model', modelDir, '--tasks', 'click-test', '--action_set', 'click,hover,focus,scroll', '--constrained_actions', 'false']);
    const p = file('unconstrained.jsonl', [record('click-test', "click('4')", 0, free)], free);
    expect(() => readDemoFile(p, expectations())).toThrow(/unconstrained\.jsonl: made without constrained_actions/);
    expect(readDemoFile(p, demoExpectations(free, modelDir)).records).toHaveLength(1);
  });
});
