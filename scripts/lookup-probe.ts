// Lookup probe: can a model learn to use a click-button goal from demonstrations? Trains (full fine-tuning, the
// engine's sft loss on the target tokens only) a model on the click-button steps of a demonstrations file, with one
// of three targets after the prompt, and prints every --eval-every steps the share of held-out pages (the first
// --held-out records, never trained on) whose whole target has probability > 1/2 at every token:
//   word         the goal's quoted button word: a copy out of the goal;
//   action       the demonstration's action, click('<bid>'): the word must be found in the page and its bid copied;
//   word-action  the word, then the action.
// --goal-last moves the goal paragraph from the top of the user message to just before its closing question;
// --no-question drops that question (with --goal-last the goal then ends the message).
// --also-word P makes a share P of the training samples copy the goal's word in double quotes instead (a first hop,
// attending from the answer to the goal, that the word target learns fast); held-out pages keep the target.
// --relabel trains every page with a goal naming one of its buttons drawn at random (and that button's click as the
// action), hindsight-style, so the page's layout alone never tells the answer; held-out pages keep their own goal.
// --precision exact|fast (default fast) sets the trainer's precision; --weight-decay W is AdamW's decoupled decay;
// --drill P mixes in dense recall drills (below); --two-button-steps N trains the first N steps on two-button pages.
// The share is also given for one-button pages (a third of them, answered without any lookup) and the others: a
// model that ignores the goal gets every one-button page and about half of the two-button ones, ~52% in all.
// --rewrite-check says whether the answer depends on the goal at all (at every evaluation), --show-failures N prints
// N unlearned held-out pages at the end.
// The model folder is read, never written.
//
//   npx tsx scripts/lookup-probe.ts --model runs/models/probe --demos demos.jsonl --target action --steps 1600
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LfmModel } from '../lib/engine/model.ts';
import { Tokenizer, type ChatMessage } from '../lib/engine/tokenizer.ts';
import { TrainerEngine } from '../lib/engine/trainer-engine.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { useThreads } from '../lib/rl/engine-policy.ts';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    demos: { type: 'string' },
    target: { type: 'string', default: 'action' },
    'goal-last': { type: 'boolean', default: false },
    'no-question': { type: 'boolean', default: false },
    relabel: { type: 'boolean', default: false },
    'also-word': { type: 'string', default: '0' },
    steps: { type: 'string', default: '1600' },
    lr: { type: 'string', default: '3e-3' },
    'weight-decay': { type: 'string', default: '0' },
    batch: { type: 'string', default: '16' },
    'held-out': { type: 'string', default: '200' },
    'eval-every': { type: 'string', default: '50' },
    threads: { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    precision: { type: 'string', default: 'fast' },
    drill: { type: 'string', default: '0' },
    'drill-steps': { type: 'string', default: '0' },
    'drill-queries': { type: 'string', default: '8' },
    'two-button-steps': { type: 'string', default: '0' },
    'show-failures': { type: 'string', default: '0' },
    'rewrite-check': { type: 'boolean', default: false },
    'bid-last': { type: 'boolean', default: false },
  },
});
if (!o.model || !o.demos) throw new Error('usage: lookup-probe --model DIR --demos FILE [--target word|action|word-action] [--goal-last] [--steps N]');
if (!['word', 'action', 'word-action'].includes(o.target!)) throw new Error(`--target must be word, action or word-action, got ${o.target}`);
if (o.precision !== 'exact' && o.precision !== 'fast') throw new Error(`--precision must be exact or fast, got ${o.precision}`);
const num = (k: keyof typeof o) => {
  const v = Number(o[k]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number >= 0, got ${o[k]}`);
  return v;
};
const steps = num('steps'), batch = num('batch'), heldOut = num('held-out'), every = num('eval-every');
useThreads(num('threads'));

const GOAL = /Goal: Click on the "([^"]*)" button\.\n\n/;
const tok = Tokenizer.fromDir(o.model);
// FP32 storage whatever the file holds (a BF16 checkpoint is widened): the probe trains in full fine-tuning.
const model = await LfmModel.load(o.model, { dtype: 'f32' });

// A button line of the page tree: bid, name.
const BUTTON = /\t\[(\d+)\] button '([^'\n]*)'/g;
/** Whether every target token has probability > 1/2, and the probability of the whole target. */
const learned = (lps: ArrayLike<number>) => Array.from(lps).every((lp) => lp > Math.log(0.5));
const targetP = (lps: ArrayLike<number>) => Math.exp(Array.from(lps).reduce((a, b) => a + b, 0));

// oneButton: the page has a single button, whose click needs no lookup (a third of click-button pages); goal and
// buttons are kept for --show-failures.
interface Sample { ids: number[]; mask: number[]; first: number; bids?: number[]; oneButton?: boolean; goal?: string; buttons?: string }
function sample(messages: ChatMessage[], completion: string, target = o.target): Sample {
  let user = String(messages[1].content);
  const goal = GOAL.exec(user);
  if (!goal) throw new Error(`not a click-button prompt: ${user.slice(0, 80)}`);
  if (o['goal-last']) user = user.replace(goal[0], '').replace(/What action do you take\?$/, `${goal[0]}What action do you take?`);
  if (o['no-question']) user = user.replace(/\n\nWhat action do you take\?$/, '');
  // --bid-last: each tree line's bid after its name (`button 'ok' [18]`), so the bid token itself sits right after
  // the name that a goal matches.
  if (o['bid-last']) user = user.replace(/^(\t*)\[(\d+)\] (.*)$/gm, '$1$3 [$2]');
  const prompt = tok.applyChatTemplate([messages[0], { role: 'user', content: user }]);
  const word = tok.encode(goal[1]), action = tok.encode(completion);
  const ids = [...prompt, ...(target === 'word' ? word : target === 'action' ? action : target === 'quoted-word' ? tok.encode(`"${goal[1]}"`) : [...word, ...action])];
  const buttons = [...String(messages[1].content).matchAll(BUTTON)].map((m) => `${m[1]}:${m[2]}`);
  return { ids, mask: ids.map((_, i) => (i >= prompt.length ? 1 : 0)), first: prompt.length, oneButton: buttons.length === 1, goal: goal[1], buttons: buttons.join(' ') };
}

const records = readFileSync(o.demos, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l))
  .filter((r) => r.task === 'click-button');
const all = records.map((r) => sample(r.messages, r.completion));
const test = all.slice(0, heldOut), train = all.slice(heldOut);
/** A training sample of record i whose goal names a random button of its page (--relabel), or its own. */
const alsoWord = num('also-word');
const trainWord = alsoWord > 0 ? records.slice(heldOut).map((r) => sample(r.messages, r.completion, 'quoted-word')) : [];
function trainSample(i: number, r: () => number): Sample {
  if (alsoWord > 0 && r() < alsoWord) return trainWord[i]!;
  if (!o.relabel) return train[i]!;
  const rec = records[heldOut + i];
  const user = String(rec.messages[1].content);
  const buttons = [...user.matchAll(BUTTON)];
  if (buttons.length === 0) return train[i]!;
  const [, bid, name] = buttons[Math.floor(r() * buttons.length)]!;
  const content = user.replace(GOAL, `Goal: Click on the "${name}" button.\n\n`);
  return sample([rec.messages[0], { role: 'user', content }], `click('${bid}')`);
}
// --drill P: a share P of each batch (during the first --drill-steps steps, all steps if 0) are dense recall drills:
// a synthetic page of 3-8 buttons named from the demonstrations' button words among their text lines, then
// --drill-queries goal-last turns (the goal's paragraph and question as one user message each), every answer scored.
const drill = num('drill'), drillSteps = num('drill-steps'), drillQueries = num('drill-queries');
// --two-button-steps N: the first N steps draw only pages with exactly two buttons (a two-way choice), then all pages.
const twoButtonSteps = num('two-button-steps');
const twoButton = twoButtonSteps > 0
  ? records.slice(heldOut).flatMap((r, i) => ([...String(r.messages[1].content).matchAll(BUTTON)].length === 2 ? [i] : []))
  : [];
if (twoButtonSteps > 0) {
  if (twoButton.length === 0) throw new Error(`--two-button-steps: ${o.demos} has no training page with two buttons`);
  console.log(`${twoButton.length} training pages with two buttons`);
}
const buttonWords = [...new Set(records.slice(heldOut).flatMap((r) => [...String(r.messages[1].content).matchAll(BUTTON)].map((m) => m[2]!)))];
const textLines = [...new Set(records.slice(heldOut).flatMap((r) => String(r.messages[1].content).split('\n').filter((l) => /^\tStaticText '/.test(l))))];
const QUESTION = 'What action do you take?';
function drillSample(r: () => number): Sample {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const words = [...buttonWords];
  for (let i = words.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [words[i], words[j]] = [words[j]!, words[i]!];
  }
  words.length = Math.min(words.length, 3 + Math.floor(r() * 6));
  const lines: string[] = [];
  const buttons: Array<[string, string]> = [];
  let bid = 8 + Math.floor(r() * 6);
  for (const w of words) {
    if (r() < 0.6) lines.push(pick(textLines));
    if (r() < 0.3) { bid += 2; lines.push(`\t[${bid}] textbox ''`); }
    bid += 1 + Math.floor(r() * 3);
    lines.push(`\t[${bid}] button '${w}'`);
    buttons.push([String(bid), w]);
  }
  const page = `Step 1\n\nPage structure:\nRootWebArea 'Click Button Task', focused, url='http://miniwob.localhost/miniwob/click-button.html'\n${lines.join('\n')}\n\n`;
  const messages: ChatMessage[] = [records[0].messages[0]];
  const answers: number[] = [];
  for (let q = 0; q < drillQueries; q++) {
    const [b, w] = pick(buttons);
    messages.push({ role: 'user', content: `${q === 0 ? page : ''}Goal: Click on the "${w}" button.\n\n${QUESTION}` });
    answers.push(tok.applyChatTemplate(messages).length);
    messages.push({ role: 'assistant', content: `click('${b}')` });
  }
  const ids = tok.applyChatTemplate(messages, { addGenerationPrompt: false });
  const mask = ids.map(() => 0);
  for (const [k, at] of answers.entries()) {
    const action = tok.encode(String(messages[2 + 2 * k].content));
    action.forEach((id, j) => {
      if (ids[at + j] !== id) throw new Error('drill: the rendered chat does not hold the answer where expected');
      mask[at + j] = 1;
    });
  }
  // The bid's token follows `click` and `('` in every answer.
  return { ids, mask, first: answers[0]!, bids: answers.map((at) => at + 2) };
}
if (train.length === 0) throw new Error(`${o.demos}: ${all.length} click-button steps, none left for training after --held-out ${heldOut}`);
console.log(`${o.target}${o['goal-last'] ? ', goal last' : ''}${o.relabel ? ', relabelled goals' : ''}: ${train.length} training pages, ${test.length} held out`);

const trainer = await TrainerEngine.create(model, {
  mode: 'full',
  precision: o.precision,
  optimizer: { learningRate: num('lr'), schedule: 'constant', weightDecay: num('weight-decay') },
});

/** Share of held-out samples whose every target token has probability > 1/2, and the mean probability of the whole target (no gradient kept). */
async function heldOutShare(): Promise<{ share: number; meanP: number; byButtons: string }> {
  let right = 0, meanP = 0;
  const one = [0, 0], several = [0, 0];
  for (let i = 0; i < test.length; i += 50) {
    const part = test.slice(i, i + 50);
    const r = await trainer.computeLogprobs(part.map((s) => s.ids), part.map((s) => s.mask));
    part.forEach((s, k) => {
      const ok = learned(r.logprobs[k].subarray(s.first));
      if (ok) right++;
      const g = s.oneButton ? one : several;
      g[0]! += ok ? 1 : 0;
      g[1]!++;
      meanP += targetP(r.logprobs[k].subarray(s.first)) / test.length;
    });
  }
  const pct = ([a, n]: number[]) => (n ? `${((100 * a!) / n!).toFixed(1)}% of ${n}` : '-');
  return { share: right / test.length, meanP, byButtons: `one-button pages ${pct(one)}, several ${pct(several)}` };
}

const drillTest = drill > 0 ? Array.from({ length: 50 }, (_, i, r = mulberry32(1e6 + i)) => drillSample(r)) : [];
/** Share of the held-out drills' answers whose bid token has probability > 1/2. */
async function drillShare(): Promise<number> {
  if (drillTest.length === 0) return NaN;
  const r = await trainer.computeLogprobs(drillTest.map((s) => s.ids), drillTest.map((s) => s.mask));
  let right = 0, all = 0;
  drillTest.forEach((s, k) => s.bids!.forEach((at) => { all++; if (r.logprobs[k][at]! > Math.log(0.5)) right++; }));
  return right / all;
}
// --rewrite-check: held-out pages rewritten so the goal names each of its buttons in turn (duplicated names skipped),
// scored against that button's click: a model that looks the word up scores them like the pages' own goals; one that
// learned which position is usually right scores the other buttons low.
async function rewriteCheck(): Promise<string> {
  const own: number[] = [], other: number[] = [];
  for (const rec of records.slice(0, Math.min(heldOut, 100))) {
    const user = String(rec.messages[1].content);
    const goal = GOAL.exec(user)![1];
    const buttons = [...user.matchAll(BUTTON)];
    const names = buttons.map((m) => m[2]!);
    const variants = buttons.filter((m) => names.filter((n) => n === m[2]).length === 1).map(([, bid, name]) =>
      ({ own: name === goal, s: sample([rec.messages[0], { role: 'user', content: user.replace(GOAL, `Goal: Click on the "${name}" button.\n\n`) }], `click('${bid}')`) }));
    if (variants.length < 2) continue;
    const r = await trainer.computeLogprobs(variants.map((v) => v.s.ids), variants.map((v) => v.s.mask));
    variants.forEach((v, k) => (v.own ? own : other).push(targetP(r.logprobs[k].subarray(v.s.first))));
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const share = (a: number[]) => a.filter((p) => p > 0.5).length / a.length;
  return `rewritten goals: own button mean p ${mean(own).toFixed(3)} (${(100 * share(own)).toFixed(1)}% > 1/2, ${own.length}), another button ${mean(other).toFixed(3)} (${(100 * share(other)).toFixed(1)}%, ${other.length})`;
}
const rnd = mulberry32(num('seed'));
const t0 = performance.now();
for (let step = 0; step <= steps; step++) {
  if (step % every === 0 || step === steps) {
    const h = await heldOutShare();
    const d = drill > 0 ? `, drill bids ${(100 * (await drillShare())).toFixed(1)}%` : '';
    console.log(`step ${step}: held-out ${(100 * h.share).toFixed(1)}% (mean p ${h.meanP.toFixed(3)}; ${h.byButtons})${d}${o['rewrite-check'] ? `; ${await rewriteCheck()}` : ''}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  if (step === steps) break;
  const drilling = drill > 0 && (drillSteps === 0 || step < drillSteps);
  const b = Array.from({ length: batch }, () =>
    drilling && rnd() < drill ? drillSample(rnd)
      : trainSample(step < twoButtonSteps ? twoButton[Math.floor(rnd() * twoButton.length)]! : Math.floor(rnd() * train.length), rnd));
  await trainer.accumulate({ sequences: b.map((s) => s.ids), completionMasks: b.map((s) => s.mask) }, { lossType: 'sft' });
  await trainer.step();
}
// --show-failures N: the first N held-out pages whose target is not learned, with each target token's probability.
const showFailures = num('show-failures');
if (showFailures > 0) {
  const part = test.slice(0, 100);
  const r = await trainer.computeLogprobs(part.map((s) => s.ids), part.map((s) => s.mask));
  let shown = 0;
  part.forEach((s, k) => {
    const lps = [...r.logprobs[k].subarray(s.first)];
    if (shown >= showFailures || learned(lps)) return;
    shown++;
    const toks = s.ids.slice(s.first).map((id, j) => `${JSON.stringify(tok.decode([id]))}:${Math.exp(lps[j]!).toFixed(2)}`);
    console.log(`goal "${s.goal}" | ${s.buttons} | ${toks.join(' ')}`);
  });
}
