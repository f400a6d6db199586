// Assembles one self-contained task page: MiniWoB skeleton (#wrap > #query + #area), the core script, shared
// helpers and the task's own script (which defines the global genProblem). No external resources.

import { CORE_CSS, CORE_JS } from './core.ts';
import { TASK_UTILS_JS } from './words.ts';

/** One built-in task. `script` is page JavaScript that defines `genProblem()` and the task's event handlers. */
export interface BuiltinTask {
  /** MiniWoB subdomain, e.g. 'click-test'. */
  name: string;
  /** Document title, e.g. 'Click Test Task'. */
  title: string;
  /** Episode budget in ms when it differs from the core default. */
  episodeMaxTimeMs?: number;
  script: string;
  css?: string;
}

function escapeHtmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Scripts are inlined, so a literal `</script` inside one would end it early. */
function inlineScript(source: string): string {
  if (/<\/script/i.test(source)) throw new Error('inline page script must not contain "</script"');
  return `<script>${source}</script>`;
}

export function renderTaskPage(task: BuiltinTask): string {
  const maxTime = task.episodeMaxTimeMs === undefined ? '' : `core.EPISODE_MAX_TIME = ${task.episodeMaxTimeMs};\n`;
  return [
    '<!DOCTYPE html>',
    '<html>',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtmlText(task.title)}</title>`,
    `<style>${CORE_CSS}${task.css ?? ''}</style>`,
    inlineScript(CORE_JS + TASK_UTILS_JS),
    inlineScript(maxTime + task.script),
    '</head>',
    '<body>',
    '<div id="wrap">',
    '<div id="query"></div>',
    '<div id="area"></div>',
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
