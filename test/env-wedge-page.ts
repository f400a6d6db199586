// A MiniWoB-protocol task page whose buttons make the renderer stop responding, for the step-deadline and server
// hardening tests.
import type { TaskSource } from '../lib/env/episode.ts';
import type { Observation } from '../lib/env/types.ts';
import { miniwobStubPage } from './miniwob-stub-page.ts';

// MiniWoB-protocol page: 'Loop' spins forever in its click handler, 'Later' starts spinning in a timer right after
// its click, 'Busy' blocks for BUSY_MS and then wins, 'Win' wins at once.
export const BUSY_MS = 1300;
const WEDGE_PAGE = miniwobStubPage({
  title: 'Wedge Task',
  genProblem: String.raw`function genProblem() {
  document.getElementById('query').textContent = 'Do not click Loop.';
  document.getElementById('area').innerHTML = '<button id="loop">Loop</button><button id="later">Later</button>' +
    '<button id="busy">Busy</button><button id="win">Win</button>';
  document.getElementById('loop').onclick = function () { for (;;) {} };
  document.getElementById('later').onclick = function () { setTimeout(function () { for (;;) {} }, 0); };
  document.getElementById('busy').onclick = function () {
    var t = Date.now(); while (Date.now() - t < ${BUSY_MS}) {} core.endEpisode(1, true);
  };
  document.getElementById('win').onclick = function () { core.endEpisode(1, true); };
}`,
});
export const WEDGE_TASKS: TaskSource = {
  origin: 'http://wedge.localhost',
  names: () => ['wedge'],
  html: (n) => (n === 'wedge' ? WEDGE_PAGE : undefined),
};

/** bid of the button labelled `name`. */
export function buttonBid(o: Observation, name: string): string {
  const m = new RegExp(`\\[(\\w+)\\] button '${name}'`).exec(o.axtree_txt);
  if (!m) throw new Error(`no button '${name}' in\n${o.axtree_txt}`);
  return m[1]!;
}
