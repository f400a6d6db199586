// The action language: BrowserGym's high-level actions (browsergym/core/action/functions.py) that this environment
// executes. Names, parameter names, order and defaults match BrowserGym so prompts and completions carry over.

export type MouseButton = 'left' | 'middle' | 'right';
export type KeyModifier = 'Alt' | 'Control' | 'ControlOrMeta' | 'Meta' | 'Shift';

/** Typed arguments of every action, after defaults are filled in. */
export interface ActionArgs {
  click: { bid: string; button: MouseButton; modifiers: KeyModifier[] };
  dblclick: { bid: string; button: MouseButton; modifiers: KeyModifier[] };
  hover: { bid: string };
  fill: { bid: string; value: string; enable_autocomplete_menu: boolean };
  clear: { bid: string };
  select_option: { bid: string; options: string | string[] };
  check: { bid: string };
  uncheck: { bid: string };
  focus: { bid: string };
  press: { bid: string; key_comb: string };
  scroll: { delta_x: number; delta_y: number };
  noop: { wait_ms: number };
  go_back: Record<string, never>;
  go_forward: Record<string, never>;
  send_msg_to_user: { text: string };
  keyboard_press: { key: string };
  keyboard_type: { text: string };
}
export type ActionName = keyof ActionArgs;

/** Value types a parameter accepts. `bid` is a string that names an element (BrowserGym's error text differs). */
export type ParamType = 'bid' | 'str' | 'number' | 'bool' | 'str_or_str_list' | 'str_list';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Present when the parameter is optional. */
  default?: string | number | boolean | string[];
  /** Allowed values (for each list item when the type is a list). */
  choices?: readonly string[];
  /** Inclusive range of a `number` parameter; every number parameter has one (values outside are a ValueError). */
  range?: readonly [min: number, max: number];
}

export interface ActionSignature {
  params: readonly ParamSpec[];
  /** Python-style signature shown to a model, e.g. `click(bid: str, button: ... = 'left', ...)`. */
  signature: string;
  description: string;
  examples: readonly string[];
}

const BUTTONS = ['left', 'middle', 'right'] as const;
const MODIFIERS = ['Alt', 'Control', 'ControlOrMeta', 'Meta', 'Shift'] as const;
/** noop() waits at most this long: a model asking for hours would stall a whole rollout batch. */
export const MAX_NOOP_MS = 10_000;
/**
 * Largest scroll() delta in pixels, either way. A wheel delta beyond the float32 range leaves Chromium's input
 * pipeline for that page stuck (every later click or key press waits forever); a MiniWoB page is a few hundred
 * pixels tall, so a million already means "to the end", and anything larger is rejected before the browser sees it.
 */
export const MAX_SCROLL_PX = 1_000_000;
/**
 * Longest action text accepted, in characters (UTF-16 code units); a longer one is a ValueError without being
 * parsed. About 5,000 tokens of text: above any completion budget a run uses, far below the server's 1 MiB body
 * limit, and small enough that no action can keep a step (or the server's event loop) busy for long.
 */
export const MAX_ACTION_CHARS = 20_000;

const bid: ParamSpec = { name: 'bid', type: 'bid' };
const button: ParamSpec = { name: 'button', type: 'str', default: 'left', choices: BUTTONS };
const modifiers: ParamSpec = { name: 'modifiers', type: 'str_list', default: [], choices: MODIFIERS };
const BUTTON_T = "Literal['left', 'middle', 'right']";
const MODS_T = "list[Literal['Alt', 'Control', 'ControlOrMeta', 'Meta', 'Shift']]";

export const ACTION_SIGNATURES: { readonly [K in ActionName]: ActionSignature } = {
  click: {
    params: [bid, button, modifiers],
    signature: `click(bid: str, button: ${BUTTON_T} = 'left', modifiers: ${MODS_T} = [])`,
    description: 'Click an element.',
    examples: ["click('a51')", "click('b22', button='right')", "click('48', button='middle', modifiers=['Shift'])"],
  },
  dblclick: {
    params: [bid, button, modifiers],
    signature: `dblclick(bid: str, button: ${BUTTON_T} = 'left', modifiers: ${MODS_T} = [])`,
    description: 'Double click an element.',
    examples: ["dblclick('12')", "dblclick('ca42', button='right')"],
  },
  hover: {
    params: [bid],
    signature: 'hover(bid: str)',
    description: 'Hover over an element.',
    examples: ["hover('b8')"],
  },
  fill: {
    params: [bid, { name: 'value', type: 'str' }, { name: 'enable_autocomplete_menu', type: 'bool', default: false }],
    signature: 'fill(bid: str, value: str, enable_autocomplete_menu: bool = False)',
    description:
      'Fill out a form field. It focuses the element and triggers an input event with the entered text. ' +
      'It works for <input>, <textarea> and [contenteditable] elements. With enable_autocomplete_menu=True the ' +
      'last character is typed so that autocomplete menus open.',
    examples: [
      "fill('237', 'example value')",
      'fill(\'45\', "multi-line\\nexample")',
      'fill(\'a12\', "example with \\"quotes\\"")',
    ],
  },
  clear: {
    params: [bid],
    signature: 'clear(bid: str)',
    description: 'Clear the input field.',
    examples: ["clear('996')"],
  },
  select_option: {
    params: [bid, { name: 'options', type: 'str_or_str_list' }],
    signature: 'select_option(bid: str, options: str | list[str])',
    description:
      'Select one or multiple options in a <select> element. You can specify option value or label to select. ' +
      'Multiple options can be selected.',
    examples: ["select_option('a48', 'blue')", "select_option('c48', ['red', 'green', 'blue'])"],
  },
  check: {
    params: [bid],
    signature: 'check(bid: str)',
    description: 'Ensure a checkbox or radio element is checked.',
    examples: ["check('55')"],
  },
  uncheck: {
    params: [bid],
    signature: 'uncheck(bid: str)',
    description: 'Ensure a checkbox or radio element is unchecked.',
    examples: ["uncheck('a5289')"],
  },
  focus: {
    params: [bid],
    signature: 'focus(bid: str)',
    description: 'Focus the matching element.',
    examples: ["focus('b455')"],
  },
  press: {
    params: [bid, { name: 'key_comb', type: 'str' }],
    signature: 'press(bid: str, key_comb: str)',
    description:
      'Focus the matching element and press a combination of keys. It accepts the logical key names that are ' +
      'emitted in the keyboardEvent.key property of the keyboard events: Backquote, Minus, Equal, Backslash, ' +
      'Backspace, Tab, Delete, Escape, ArrowDown, End, Enter, Home, Insert, PageDown, PageUp, ArrowRight, ArrowUp, ' +
      'F1 - F12, Digit0 - Digit9, KeyA - KeyZ, etc. You can alternatively specify a single character you would like ' +
      'to produce such as "a" or "#". Following modification shortcuts are also supported: Shift, Control, Alt, Meta.',
    examples: ["press('88', 'Backspace')", "press('a26', 'ControlOrMeta+a')", "press('a61', 'Meta+Shift+t')"],
  },
  scroll: {
    params: [
      { name: 'delta_x', type: 'number', range: [-MAX_SCROLL_PX, MAX_SCROLL_PX] },
      { name: 'delta_y', type: 'number', range: [-MAX_SCROLL_PX, MAX_SCROLL_PX] },
    ],
    signature: 'scroll(delta_x: float, delta_y: float)',
    description:
      'Scroll horizontally and vertically. Amounts in pixels, positive for right or down scrolling, negative for ' +
      'left or up scrolling. Dispatches a wheel event.',
    examples: ['scroll(0, 200)', 'scroll(-50.2, -100.5)'],
  },
  noop: {
    params: [{ name: 'wait_ms', type: 'number', default: 1000, range: [0, MAX_NOOP_MS] }],
    signature: 'noop(wait_ms: float = 1000)',
    description: 'Do nothing, and optionally wait for the given time (in milliseconds).',
    examples: ['noop()', 'noop(500)'],
  },
  go_back: {
    params: [],
    signature: 'go_back()',
    description: 'Navigate to the previous page in history.',
    examples: ['go_back()'],
  },
  go_forward: {
    params: [],
    signature: 'go_forward()',
    description: 'Navigate to the next page in history.',
    examples: ['go_forward()'],
  },
  send_msg_to_user: {
    params: [{ name: 'text', type: 'str' }],
    signature: 'send_msg_to_user(text: str)',
    description: 'Sends a message to the user.',
    examples: ["send_msg_to_user('Based on the results of my search, the city was built in 1751.')"],
  },
  keyboard_press: {
    params: [{ name: 'key', type: 'str' }],
    signature: 'keyboard_press(key: str)',
    description: 'Press a combination of keys on the focused element, e.g. Enter, Backspace, Control+a.',
    examples: ["keyboard_press('Backspace')", "keyboard_press('ControlOrMeta+a')"],
  },
  keyboard_type: {
    params: [{ name: 'text', type: 'str' }],
    signature: 'keyboard_type(text: str)',
    description: 'Types a string of text through the keyboard into the focused element.',
    examples: ["keyboard_type('Hello world!')"],
  },
};

export function isActionName(name: string): name is ActionName {
  return Object.prototype.hasOwnProperty.call(ACTION_SIGNATURES, name);
}

/** BrowserGym-style description of a set of actions, for prompts. */
export function describeActions(names: readonly ActionName[] = Object.keys(ACTION_SIGNATURES) as ActionName[]): string {
  const parts = [`${names.length} different types of actions are available.\n`];
  for (const n of names) {
    const s = ACTION_SIGNATURES[n];
    const examples = s.examples.map((e) => `        ${e}\n`).join('');
    parts.push(`${s.signature}\n    Description: ${s.description}\n    Examples:\n${examples}`);
  }
  return parts.join('\n');
}
