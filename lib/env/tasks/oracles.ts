// Scripted policies for the ten reference tasks, on the built-in pages and on the real MiniWoB++ ones alike. They
// read only the observation text (goal + axtree_txt; for click-link, whose links have no bid in the axtree, also the
// pruned HTML) and return the next BrowserGym action string, one step at a time (call again after each step).
// `oracleActions` solves the task; `wrongAction` is a legal policy that does the wrong thing: it drives tasks that
// have a failure path into their −1 ending (BrowserGym reward 0) and, on tasks without one, acts harmlessly (hover)
// so the episode stays open. Used by tests and by the trainer's sanity checks.

import type { Observation } from '../types.ts';
import { type AxLine, parseAxTree } from './axtree-lines.ts';
import { type HtmlLeaf, prunedHtmlLeaves } from './html-leaves.ts';

export class OracleError extends Error {
  constructor(task: string, message: string) {
    super(`${task}: ${message}`);
    this.name = 'OracleError';
  }
}

/** Python string literal for an action argument (JSON's escapes are valid Python escapes). */
function lit(text: string): string {
  return JSON.stringify(text);
}
const click = (bid: string) => `click('${bid}')`;
const hover = (bid: string) => `hover('${bid}')`;
const fill = (bid: string, text: string) => `fill('${bid}', ${lit(text)})`;
const selectOption = (bid: string, option: string) => `select_option('${bid}', ${lit(option)})`;

/** The observation's nodes plus lookups that fail loudly when the page is not what the policy expects. */
class View {
  readonly lines: AxLine[];
  constructor(
    readonly task: string,
    readonly obs: Observation,
  ) {
    this.lines = parseAxTree(obs.axtree_txt);
  }
  all(role: string, name?: string | RegExp): AxLine[] {
    return this.lines.filter(
      (l) => l.bid !== '' && l.role === role &&
        (name === undefined || (typeof name === 'string' ? l.name === name : name.test(l.name))),
    );
  }
  one(role: string, name?: string | RegExp): AxLine {
    const found = this.all(role, name)[0];
    if (!found) throw new OracleError(this.task, `no ${role}${name === undefined ? '' : ` '${name}'`} in the observation`);
    return found;
  }
  /** Names of the StaticText lines inside the subtree of `line` (e.g. the entry text of an unnamed listitem). */
  textOf(line: AxLine): string {
    const i = this.lines.indexOf(line);
    const texts: string[] = [];
    for (let j = i + 1; j < this.lines.length && this.lines[j]!.depth > line.depth; j++) {
      if (this.lines[j]!.role === 'StaticText') texts.push(this.lines[j]!.name);
    }
    return texts.join(' ');
  }
  /** Text-only elements of the pruned HTML whose bid the axtree does not show. */
  hiddenLeaves(): HtmlLeaf[] {
    const shown = new Set(this.lines.map((l) => l.bid));
    return prunedHtmlLeaves(this.obs.pruned_html).filter((leaf) => !shown.has(leaf.bid));
  }
  goal(pattern: RegExp): RegExpExecArray {
    const m = pattern.exec(this.obs.goal);
    if (!m) throw new OracleError(this.task, `unexpected goal ${JSON.stringify(this.obs.goal)}`);
    return m;
  }
}

const GOALS = {
  clickButton: /^Click on the "(.*)" button\.$/,
  clickLink: /^Click on the link "(.*)"\.$/,
  enterText: /^Enter "(.*)" into the text field and press Submit\.$/,
  clickCheckboxes: /^Select (.*) and click Submit\.$/,
  loginUser: /^Enter the username "(.*)" and the password "(.*)" into the text fields and press login\.$/,
  chooseList: /^Select (.*) from the list and click Submit\.$/,
  bookFlight: /^Book the (cheapest|shortest) one-way flight from: (.+) to: (.+) on (\d\d)\/(\d\d)\/(2016)\.$/,
};

/** Names the goal of click-checkboxes asks to select ("nothing" → none). */
function wantedCheckboxes(v: View): Set<string> {
  const list = v.goal(GOALS.clickCheckboxes)[1]!;
  return new Set(list === 'nothing' ? [] : list.split(', '));
}

/** Clicks checkboxes until each one's state equals want(name), then Submit. */
function checkboxPolicy(v: View, want: (name: string) => boolean): string {
  for (const box of v.all('checkbox')) {
    if ((box.props.get('checked') === 'true') !== want(box.name)) return click(box.bid);
  }
  return click(v.one('button', 'Submit').bid);
}

/**
 * click-link's links as (bid, text): `link` lines when the page gives its links that role, else the link spans of
 * the pruned HTML (on MiniWoB's page a link is a bare span, which the axtree shows as bid-less StaticText).
 */
function pageLinks(v: View): Array<{ bid: string; text: string }> {
  const links = v.all('link').map((l) => ({ bid: l.bid, text: l.name }));
  if (links.length > 0) return links;
  if (v.obs.pruned_html === '') {
    throw new OracleError(v.task, 'the links have no bid in axtree_txt; the observation needs pruned_html (prunedHtml: true)');
  }
  return v.hiddenLeaves().map((leaf) => ({ bid: leaf.bid, text: leaf.text }));
}

function textboxes(v: View): AxLine[] {
  return v.all('textbox');
}

/** login-user with the given password (the right one, or a wrong one for the failing policy). */
function loginPolicy(v: View, password: string): string {
  const user = v.goal(GOALS.loginUser)[1]!;
  const [userBox, passwordBox] = textboxes(v);
  if (!userBox || !passwordBox) throw new OracleError(v.task, 'expected two text fields');
  if ((userBox.value ?? '') !== user) return fill(userBox.bid, user);
  // Password fields expose a masked value (one bullet per character), so compare lengths.
  if ((passwordBox.value ?? '').length !== password.length) return fill(passwordBox.bid, password);
  return click(v.one('button', 'Login').bid);
}

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];

/** Is `entry` ("City, ST (CODE)") the airport the goal names (as "City, ST" or "CODE")? */
function airportMatches(entry: string, place: string): boolean {
  return entry.startsWith(place + ' (') || entry.endsWith(`(${place})`);
}

/** book-flight's date field: the text field under the "Departure Date" caption (or named so). */
function departureField(v: View): AxLine {
  const caption = v.lines.findIndex((l) => l.name === 'Departure Date');
  const field = v.lines.slice(caption + 1).find((l) => l.bid !== '' && l.role === 'textbox');
  if (caption < 0 || !field) throw new OracleError(v.task, 'no Departure Date field in the observation');
  return field;
}

/**
 * book-flight: type each airport as the goal gives it and click its suggestion, open the date picker, step to the
 * month, click the day, search, then book the cheapest / shortest flight (or, for the wrong policy, the worst one).
 * At most 10 steps: 2 × (fill + pick), open, ≤ 2 month steps (the picker opens on December), day, search, book;
 * one more (a wait) each time the suggestions are slower than a step.
 */
function bookFlightPolicy(v: View, bookBest: boolean): string {
  const [, criterion, origin, dest, mm, dd] = v.goal(GOALS.bookFlight);
  // Results: each flight's "Xh Ym" duration text precedes its booking button.
  const flights: { bid: string; price: number; minutes: number }[] = [];
  let minutes = NaN;
  for (const l of v.lines) {
    const d = l.role === 'StaticText' ? /^(?:Duration: )?(\d+)h (\d+)m$/.exec(l.name) : null;
    if (d) minutes = Number(d[1]) * 60 + Number(d[2]);
    const b = l.role === 'button' && l.bid ? /^Book flight for \$(\d+)$/.exec(l.name) : null;
    if (b) flights.push({ bid: l.bid, price: Number(b[1]), minutes });
  }
  if (flights.length > 0) {
    const cost = (f: (typeof flights)[number]) => (criterion === 'cheapest' ? f.price : f.minutes);
    if (flights.some((f) => Number.isNaN(cost(f)))) throw new OracleError(v.task, 'flight without a duration');
    const sorted = [...flights].sort((a, b) => cost(a) - cost(b));
    return click((bookBest ? sorted[0]! : sorted[sorted.length - 1]!).bid);
  }
  for (const [fieldName, place] of [['From:', origin!], ['To:', dest!]] as const) {
    const field = v.one('textbox', fieldName);
    if (airportMatches(field.value ?? '', place)) continue;
    // Suggestions: unnamed listitems holding the entry text (jQuery UI's menu), or named options.
    const suggestion = [...v.all('listitem').map((l) => ({ bid: l.bid, text: v.textOf(l) })),
      ...v.all('option').map((l) => ({ bid: l.bid, text: l.name }))].find((s) => airportMatches(s.text, place));
    if (suggestion) return click(suggestion.bid);
    // The list shows a moment after typing (300 ms on the real page); on a slow step it is not there yet: wait once
    // rather than typing again (which restarts the delay).
    if (field.value === place && v.obs.last_action === fill(field.bid, place)) return 'noop()';
    return fill(field.bid, place);
  }
  const wantedDate = `${mm}/${dd}/2016`;
  const dateField = departureField(v);
  if ((dateField.value ?? '') !== wantedDate) {
    const title = v.lines.find((l) => l.role === 'StaticText' && MONTH_NAMES.includes(l.name));
    if (!title) return click(dateField.bid);
    const shown = MONTH_NAMES.indexOf(title.name) + 1;
    const wanted = Number(mm);
    if (shown !== wanted) return click(v.one('link', shown < wanted ? 'Next' : 'Prev').bid);
    return click(v.one('link', String(Number(dd))).bid);
  }
  return click(v.one('button', 'Search').bid);
}

type Policy = (v: View) => string;

const ORACLES: Record<string, Policy> = {
  'click-test': (v) => click(v.one('button', 'Click Me!').bid),
  'click-button': (v) => click(v.one('button', v.goal(GOALS.clickButton)[1]!).bid),
  'click-link': (v) => {
    const target = v.goal(GOALS.clickLink)[1]!;
    const link = pageLinks(v).find((l) => l.text === target);
    if (!link) throw new OracleError(v.task, `no link '${target}' in the observation`);
    return click(link.bid);
  },
  'enter-text': (v) => {
    const name = v.goal(GOALS.enterText)[1]!;
    const box = v.one('textbox');
    return (box.value ?? '') === name ? click(v.one('button', 'Submit').bid) : fill(box.bid, name);
  },
  'focus-text': (v) => click(v.one('textbox').bid),
  'click-checkboxes': (v) => {
    const wanted = wantedCheckboxes(v);
    return checkboxPolicy(v, (name) => wanted.has(name));
  },
  'login-user': (v) => loginPolicy(v, v.goal(GOALS.loginUser)[2]!),
  'choose-list': (v) => {
    const target = v.goal(GOALS.chooseList)[1]!;
    const list = v.one('combobox');
    return list.value === target ? click(v.one('button', 'Submit').bid) : selectOption(list.bid, target);
  },
  'click-dialog': (v) => click(v.one('button', 'Close').bid),
  'book-flight': (v) => bookFlightPolicy(v, true),
};

const WRONG: Record<string, Policy> = {
  'click-test': (v) => hover(v.one('button', 'Click Me!').bid),
  'click-button': (v) => {
    const target = v.goal(GOALS.clickButton)[1]!;
    const other = v.all('button').find((b) => b.name !== target);
    return other ? click(other.bid) : hover(v.one('button', target).bid);
  },
  'click-link': (v) => {
    const target = v.goal(GOALS.clickLink)[1]!;
    const links = pageLinks(v);
    const other = links.find((l) => l.text !== target);
    if (other) return click(other.bid);
    const link = links.find((l) => l.text === target);
    if (!link) throw new OracleError(v.task, `no link '${target}' in the observation`);
    return hover(link.bid);
  },
  'enter-text': (v) => {
    const wrong = v.goal(GOALS.enterText)[1]!.toLowerCase() + 'x';  // case and length both differ
    const box = v.one('textbox');
    return (box.value ?? '') === wrong ? click(v.one('button', 'Submit').bid) : fill(box.bid, wrong);
  },
  'focus-text': (v) => hover(v.one('textbox').bid),
  'click-checkboxes': (v) => {
    const wanted = wantedCheckboxes(v);
    return checkboxPolicy(v, (name) => !wanted.has(name));  // every box wrong → raw reward −1
  },
  'login-user': (v) => loginPolicy(v, v.goal(GOALS.loginUser)[2]! + '0'),
  'choose-list': (v) => {
    const target = v.goal(GOALS.chooseList)[1]!;
    const list = v.one('combobox');
    if (list.value !== undefined && list.value !== target) return click(v.one('button', 'Submit').bid);
    const other = v.all('option').find((o) => o.name !== target);
    if (!other) throw new OracleError(v.task, 'no other option to choose');
    return selectOption(list.bid, other.name);
  },
  'click-dialog': (v) => click(v.one('dialog').bid),
  'book-flight': (v) => bookFlightPolicy(v, false),
};

function run(table: Record<string, Policy>, task: string, obs: Observation): string {
  const policy = table[task];
  if (!policy) throw new OracleError(task, `no scripted policy (known: ${Object.keys(table).join(', ')})`);
  return policy(new View(task, obs));
}

/** Next action of the scripted solver for a built-in task. */
export function oracleActions(task: string, obs: Observation): string {
  return run(ORACLES, task, obs);
}

/** Next action of a legal but wrong policy (see the file comment for what it does per task). */
export function wrongAction(task: string, obs: Observation): string {
  return run(WRONG, task, obs);
}

/** Tasks whose rules have a failure ending (−1 raw reward) that `wrongAction` drives into. */
export const TASKS_WITH_FAILURE = new Set([
  'click-button', 'click-link', 'enter-text', 'click-checkboxes', 'login-user', 'choose-list', 'book-flight',
]);
