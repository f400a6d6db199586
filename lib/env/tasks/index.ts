// The built-in task suite: from-scratch pages that follow the MiniWoB page protocol, served by the environment at
// `${BUILTIN_ORIGIN}/miniwob/<task>.html` and set up exactly like real MiniWoB pages.

import { bookFlight } from './book-flight.ts';
import { chooseList } from './choose-list.ts';
import { clickButton } from './click-button.ts';
import { clickCheckboxes } from './click-checkboxes.ts';
import { clickDialog } from './click-dialog.ts';
import { clickLink } from './click-link.ts';
import { clickTest } from './click-test.ts';
import { enterText } from './enter-text.ts';
import { focusText } from './focus-text.ts';
import { loginUser } from './login-user.ts';
import { type BuiltinTask, renderTaskPage } from './page.ts';

export type { BuiltinTask } from './page.ts';

/** Origin the environment routes built-in pages under (never reaches the network). */
export const BUILTIN_ORIGIN = 'http://miniwob.localhost';

const TASKS: readonly BuiltinTask[] = [
  clickTest, clickButton, clickLink, enterText, focusText, clickCheckboxes, loginUser, chooseList, clickDialog,
  bookFlight,
];
const BY_NAME = new Map(TASKS.map((t) => [t.name, t]));
const htmlCache = new Map<string, string>();

export function builtinTaskNames(): string[] {
  return TASKS.map((t) => t.name);
}

/** Full self-contained HTML document of a built-in task, or undefined for an unknown name. */
export function builtinTaskHtml(name: string): string | undefined {
  const task = BY_NAME.get(name);
  if (!task) return undefined;
  let html = htmlCache.get(name);
  if (html === undefined) {
    html = renderTaskPage(task);
    htmlCache.set(name, html);
  }
  return html;
}

/** URL of a built-in task page (MiniWoB layout: base URL `${BUILTIN_ORIGIN}/miniwob/` + task + '.html'). */
export function builtinTaskUrl(name: string): string {
  if (!BY_NAME.has(name)) throw new Error(`unknown built-in task '${name}' (known: ${builtinTaskNames().join(', ')})`);
  return `${BUILTIN_ORIGIN}/miniwob/${name}.html`;
}
