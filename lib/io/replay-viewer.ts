// The episode viewer of report.html: pick a recording (training step and source, or an `lfm2-rl eval --record`
// folder), a task and an episode, then step through it (buttons or ← →) to see each step's screenshot (the action's
// target outlined), action, error, reward, done flag, prompt and completion, and finally the page after the last step.
// The episodes' text is embedded in the page as JSON; screenshots are referenced by paths relative to the report, so
// the report shows them as long as it stays beside its replay folders. A plain script, no external resources.
import type { ViewerRecording } from './replay-catalog.ts';
import { taskTableHtml } from './task-table.ts';

export const REPLAY_VIEWER_CSS = `
.rv-bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.rv-bar select,.rv-bar button{font:inherit}
.rv-main{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.rv-shot{width:500px;max-width:100%;min-height:120px;border:1px solid #ddd;display:flex;align-items:center;justify-content:center;background:#fafafa}
.rv-shot img{max-width:100%;display:block}
.rv-info{flex:1 1 360px;min-width:0;margin:0}
.rv-info dt{font-weight:600;margin-top:6px}
.rv-info dd{margin:0 0 0 0;font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-word}
.rv-err{color:#b00020}
.rv-prompt{max-height:320px;margin:4px 0 0;white-space:pre-wrap;word-break:break-word}
.rv-note{color:#555}
`;

/** JSON for a <script> element: '<' escaped so no text inside can end the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const SCRIPT = String.raw`(() => {
  const data = JSON.parse(document.getElementById('rv-data').textContent);
  const $ = (id) => document.getElementById(id);
  const rec = $('rv-rec'), task = $('rv-task'), ep = $('rv-ep'), prev = $('rv-prev'), next = $('rv-next');
  const fmt = (x) => (Number.isInteger(x) ? String(x) : Number(x).toFixed(3));
  let frames = [];
  let pos = 0;
  const fill = (sel, items) => {
    sel.replaceChildren(...items.map(([value, text]) => {
      const o = document.createElement('option');
      o.value = String(value);
      o.textContent = text;
      return o;
    }));
  };
  const recording = () => data[Number(rec.value)];
  const episode = () => recording().episodes[Number(ep.value)];
  function showRecording() {
    const r = recording();
    for (const t of document.querySelectorAll('.rv-table')) t.hidden = t.dataset.rec !== rec.value;
    $('rv-note').textContent = r.note;
    const tasks = [...new Set(r.episodes.map((e) => e.task))];
    fill(task, tasks.map((t) => [t, t]));
    showTask();
  }
  function showTask() {
    const eps = recording().episodes.map((e, i) => [i, e]).filter(([, e]) => e.task === task.value);
    fill(ep, eps.map(([i, e]) => [i, 'episode ' + e.episode + ' · seed ' + e.seed + ' · ' + (e.success ? 'solved' : 'failed') + ' · reward ' + fmt(e.reward)]));
    showEpisode();
  }
  function showEpisode() {
    const e = episode();
    frames = e.steps.map((s, k) => ({ k, s }));
    frames.push({ k: -1, s: null });
    pos = 0;
    render();
  }
  function render() {
    const e = episode();
    const f = frames[pos];
    const n = e.steps.length;
    $('rv-step').textContent = f.s ? 'step ' + (f.k + 1) + ' of ' + n : 'after the last step (' + n + ' step' + (n === 1 ? '' : 's') + ')';
    const src = f.s ? f.s.image : e.final;
    const img = $('rv-img');
    img.hidden = !src;
    if (src) img.src = src;
    else img.removeAttribute('src');
    $('rv-noimg').hidden = !!src;
    $('rv-action').textContent = f.s ? (f.s.action || '(no valid action)') : '–';
    $('rv-error').textContent = f.s ? (f.s.error || '–') : '–';
    $('rv-error').classList.toggle('rv-err', !!(f.s && f.s.error));
    $('rv-reward').textContent = f.s ? fmt(f.s.reward) : 'episode reward ' + fmt(e.reward) + (e.success ? ' (solved)' : ' (not solved)');
    $('rv-done').textContent = f.s ? String(f.s.done) : '–';
    $('rv-completion').textContent = f.s ? f.s.completion : '–';
    $('rv-prompt').textContent = f.s ? f.s.prompt : '–';
    prev.disabled = pos === 0;
    next.disabled = pos === frames.length - 1;
  }
  const go = (d) => {
    const p = Math.min(frames.length - 1, Math.max(0, pos + d));
    if (p !== pos) {
      pos = p;
      render();
    }
  };
  rec.addEventListener('change', showRecording);
  task.addEventListener('change', showTask);
  ep.addEventListener('change', showEpisode);
  prev.addEventListener('click', () => go(-1));
  next.addEventListener('click', () => go(1));
  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLSelectElement || ev.target instanceof HTMLInputElement) return;
    if (ev.key === 'ArrowLeft') go(-1);
    else if (ev.key === 'ArrowRight') go(1);
  });
  fill(rec, data.map((r, i) => [i, r.label + ' (' + r.episodes.length + ' episode' + (r.episodes.length === 1 ? '' : 's') + ')']));
  rec.value = String(data.length - 1);
  showRecording();
})();`;

/** The viewer section (heading, controls, per-task tables, data and script); '' when there is nothing recorded. */
export function replayViewerHtml(recordings: readonly ViewerRecording[], escape: (s: string) => string): string {
  const usable = recordings.filter((r) => r.episodes.length > 0);
  if (usable.length === 0) return '';
  const tables = usable
    .map((r, i) => (r.tasks.length > 0 ? `<div class="rv-table" data-rec="${i}" hidden>${taskTableHtml(r.tasks, escape)}</div>` : ''))
    .join('');
  return `<section id="replays">
<h2>Episode replays</h2>
<div class="rv-bar">
<label>recording <select id="rv-rec"></select></label>
<label>task <select id="rv-task"></select></label>
<label>episode <select id="rv-ep"></select></label>
</div>
<div class="rv-note" id="rv-note"></div>
<h3>Recorded episodes by task</h3>
${tables}
<div class="rv-bar"><button id="rv-prev" type="button">◀ previous</button><span id="rv-step"></span><button id="rv-next" type="button">next ▶</button></div>
<div class="rv-main">
<div class="rv-shot"><img id="rv-img" alt="screenshot of the page before the action, its target outlined"><span id="rv-noimg" hidden>no screenshot</span></div>
<dl class="rv-info">
<dt>action</dt><dd id="rv-action"></dd>
<dt>error</dt><dd id="rv-error"></dd>
<dt>reward</dt><dd id="rv-reward"></dd>
<dt>done</dt><dd id="rv-done"></dd>
<dt>completion</dt><dd id="rv-completion"></dd>
<dt>prompt</dt><dd><pre id="rv-prompt" class="rv-prompt"></pre></dd>
</dl>
</div>
<script type="application/json" id="rv-data">${scriptJson(usable)}</script>
<script>${SCRIPT}</script>
</section>`;
}
