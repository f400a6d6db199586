// A minimal MiniWoB-protocol task page for environment tests: the globals and `core` functions that the environment's
// episode setup and validation use (as real MiniWoB++ pages define them), around a test's own genProblem, for pages
// and failures the built-in tasks cannot produce.
export interface StubPage {
  title: string;
  /** JS defining `function genProblem() {…}`: fills #query and #area and wires the handlers. */
  genProblem: string;
  /** JS expression assigned to Math.seedrandom (default: a no-op, for pages that draw nothing). */
  seedrandom?: string;
  /** Extra top-level JS run at load, before `core` is defined (e.g. load-time counters). */
  globals?: string;
}

export function miniwobStubPage(p: StubPage): string {
  return String.raw`<!DOCTYPE html><html><head><title>${p.title}</title></head><body>
<div id="wrap"><div id="query"></div><div id="area"></div></div>
<script>
Math.seedrandom = ${p.seedrandom ?? 'function () {}'};
var WOB_REWARD_GLOBAL = 0, WOB_RAW_REWARD_GLOBAL = 0, WOB_REWARD_REASON = null, WOB_DONE_GLOBAL = false,
    WOB_EPISODE_ID = 0, WOB_TASK_READY = true;
${p.globals ?? ''}
var core = { EPISODE_MAX_TIME: 10000, EP_TIMER: null, clearTimer: function () {}, canvasDrawClick: function () {},
  createDisplay: function () {}, startEpisode: function () {},
  startEpisodeReal: function () { genProblem(); WOB_DONE_GLOBAL = false; WOB_RAW_REWARD_GLOBAL = 0; core.EP_TIMER = 1; },
  endEpisode: function (r) {
    if (core.EP_TIMER === null) return;
    core.EP_TIMER = null; WOB_RAW_REWARD_GLOBAL = r; WOB_REWARD_GLOBAL = r; WOB_DONE_GLOBAL = true; WOB_EPISODE_ID++;
  },
  getUtterance: function () { return document.getElementById('query').textContent.trim(); } };
${p.genProblem}
</script></body></html>`;
}
