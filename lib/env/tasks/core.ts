// The shared `core` page script of the built-in task suite: the MiniWoB page protocol written from scratch.
//
// Contract (what BrowserGym's MiniWoB setup and validate rely on, see docs/environment.md §1.2–1.3):
// - globals WOB_REWARD_GLOBAL (time-decayed), WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON, WOB_DONE_GLOBAL,
//   WOB_EPISODE_ID, WOB_TASK_READY, WOB_DATA_MODE;
// - core.startEpisode() shows the human HUD (#reward-display, #click-canvas) and the START cover (#sync-task-cover);
//   core.startEpisodeReal() calls the page's genProblem() and arms the episode timer (core.EPISODE_MAX_TIME ms);
//   core.endEpisode(reward, timeProportional, reason) — only the first call per episode counts;
//   core.getUtterance() — #query text, whitespace collapsed;
// - core.clearTimer(), core.canvasDrawClick and core.createDisplay(): BrowserGym's display-removal script calls
//   these, so they must exist. clearTimer stops only the HUD countdown, never the episode timer (otherwise the
//   next endEpisode would be ignored).
// - core.resetToLoadedState(): puts the page back as it was right after load (task skeleton #wrap rebuilt from its
//   loaded copy, WOB_* globals and episode counters at their initial values, episode timer stopped, focus dropped),
//   so a harness can start the next episode in place instead of reloading. For this to equal a fresh load, task
//   pages build everything inside #wrap from genProblem() and keep no other state across episodes.
// Task pages call core.* through property lookups so that a harness can wrap endEpisode / startEpisodeReal.

import { PRNG_JS } from './prng.ts';

/** Default episode budget in ms (tasks may reassign core.EPISODE_MAX_TIME at script load). */
export const DEFAULT_EPISODE_MAX_TIME_MS = 10000;

export const CORE_JS = `${PRNG_JS}
var WOB_REWARD_GLOBAL = 0;
var WOB_RAW_REWARD_GLOBAL = 0;
var WOB_REWARD_REASON = null;
var WOB_DONE_GLOBAL = false;
var WOB_EPISODE_ID = 0;
var WOB_TASK_READY = true;
var WOB_DATA_MODE = 'default';
var core = (function () {
  var core = {};
  core.EPISODE_MAX_TIME = ${DEFAULT_EPISODE_MAX_TIME_MS};
  core.EP_TIMER = null;     // episode timeout; null once the episode has ended
  core.HUD_TIMER = null;    // countdown shown in #reward-display
  core.ept0 = 0;            // episode start time (ms)
  core.recentRewards = [];  // decayed rewards of the last 10 episodes, for the HUD

  // ---- seeded helpers (Math.random is replaced by Math.seedrandom) ----
  /** Integer in [min, max): max is exclusive. */
  core.randi = function (min, max) { return Math.floor(Math.random() * (max - min) + min); };
  core.randf = function (min, max) { return Math.random() * (max - min) + min; };
  core.sample = function (items) { return items[core.randi(0, items.length)]; };
  /** In-place Fisher-Yates shuffle; returns the array. */
  core.shuffle = function (items) {
    for (var i = items.length - 1; i > 0; i--) {
      var j = core.randi(0, i + 1);
      var t = items[i]; items[i] = items[j]; items[j] = t;
    }
    return items;
  };
  core.setDataMode = function (mode) { WOB_DATA_MODE = String(mode); };

  // ---- human display ----
  function makeDiv(id, parent) {
    var d = document.createElement('div'); d.id = id; parent.appendChild(d); return d;
  }
  core.createDisplay = function () {
    var display = document.getElementById('reward-display');
    if (!display) {
      display = makeDiv('reward-display', document.body);
      makeDiv('reward-last', display);
      makeDiv('reward-avg', display);
      makeDiv('timer-countdown', display);
      makeDiv('episode-count', display);
    }
    var last = core.recentRewards.length ? core.recentRewards[core.recentRewards.length - 1] : 0;
    var avg = 0;
    for (var i = 0; i < core.recentRewards.length; i++) avg += core.recentRewards[i];
    if (core.recentRewards.length) avg /= core.recentRewards.length;
    setText('reward-last', 'Last reward: ' + last.toFixed(2));
    setText('reward-avg', 'Last 10 average: ' + avg.toFixed(2));
    setText('episode-count', 'Episodes done: ' + WOB_EPISODE_ID);
    if (!document.getElementById('click-canvas')) {
      var canvas = document.createElement('canvas');
      canvas.id = 'click-canvas'; canvas.width = 160; canvas.height = 210;
      document.body.appendChild(canvas);
    }
    document.body.addEventListener('click', core.canvasDrawClick);
  };
  function setText(id, text) { var e = document.getElementById(id); if (e) e.textContent = text; }
  /** Marks each click on the HUD canvas (a human watching sees where the agent clicked). */
  core.canvasDrawClick = function (event) {
    var canvas = document.getElementById('click-canvas');
    if (!canvas || !canvas.getContext) return;
    var ctx = canvas.getContext('2d');
    if (!ctx) return;
    var box = canvas.getBoundingClientRect();
    ctx.fillStyle = 'rgba(255, 0, 0, 0.6)';
    ctx.beginPath();
    ctx.arc(event.clientX - box.left, event.clientY - box.top, 3, 0, 2 * Math.PI);
    ctx.fill();
  };
  function clearCanvas() {
    var canvas = document.getElementById('click-canvas');
    var ctx = canvas && canvas.getContext ? canvas.getContext('2d') : null;
    if (ctx) ctx.clearRect(0, 0, canvas.width, canvas.height);
  }
  core.startTimer = function () {
    core.clearTimer();
    var tick = function () {
      var left = Math.max(0, core.EPISODE_MAX_TIME - (Date.now() - core.ept0));
      setText('timer-countdown', 'Time left: ' + (left / 1000).toFixed(1) + ' s');
    };
    tick();
    core.HUD_TIMER = setInterval(tick, 100);
  };
  /** Stops the HUD countdown only; the episode timer keeps running. */
  core.clearTimer = function () {
    if (core.HUD_TIMER !== null) clearInterval(core.HUD_TIMER);
    core.HUD_TIMER = null;
  };

  // ---- episode lifecycle ----
  core.startEpisode = function () {
    core.createDisplay();
    var cover = document.getElementById('sync-task-cover');
    if (!cover) {
      cover = makeDiv('sync-task-cover', document.body);
      cover.textContent = 'START';
      cover.addEventListener('click', function () { core.startEpisodeReal(); });
    }
    cover.style.display = 'block';
  };
  core.startEpisodeReal = function () {
    if (typeof window.genProblem !== 'function') throw new Error('task page defines no genProblem()');
    window.genProblem();
    WOB_DONE_GLOBAL = false;
    WOB_REWARD_GLOBAL = 0;
    WOB_RAW_REWARD_GLOBAL = 0;
    WOB_REWARD_REASON = null;
    if (window.getSelection) window.getSelection().removeAllRanges();
    clearCanvas();
    window.scrollTo(0, 0);
    var cover = document.getElementById('sync-task-cover');
    if (cover) cover.style.display = 'none';
    core.ept0 = Date.now();
    core.startTimer();
    if (core.EP_TIMER !== null) clearTimeout(core.EP_TIMER);
    core.EP_TIMER = setTimeout(function () { core.endEpisode(-1, false, 'timed out'); }, core.EPISODE_MAX_TIME);
  };
  core.endEpisode = function (reward, timeProportional, reason) {
    if (core.EP_TIMER === null) return;  // first end of an episode wins
    reward = Number(reward);
    if (!isFinite(reward)) throw new Error('endEpisode: reward must be a finite number');
    clearTimeout(core.EP_TIMER);
    core.EP_TIMER = null;
    core.clearTimer();
    WOB_RAW_REWARD_GLOBAL = reward;
    WOB_REWARD_REASON = reason === undefined ? null : reason;
    if (timeProportional) reward *= Math.max(0, 1 - (Date.now() - core.ept0) / core.EPISODE_MAX_TIME);
    WOB_REWARD_GLOBAL = reward;
    WOB_DONE_GLOBAL = true;
    WOB_EPISODE_ID++;
    core.recentRewards.push(reward);
    if (core.recentRewards.length > 10) core.recentRewards.shift();
    core.startEpisode();
  };
  /** The MiniWoB convention: positive rewards decay with time, failures never do. */
  core.endEpisodeScored = function (reward) { core.endEpisode(reward, reward > 0); };
  core.getUtterance = function () {
    var query = document.getElementById('query');
    return query ? query.textContent.replace(/\\s+/g, ' ').trim() : '';
  };

  // #wrap as parsed, before any episode touched it (taken on load, before the first startEpisode).
  var loadedWrap = null;
  core.resetToLoadedState = function () {
    if (loadedWrap === null) throw new Error('resetToLoadedState: the page has not finished loading');
    if (core.EP_TIMER !== null) clearTimeout(core.EP_TIMER);
    core.EP_TIMER = null;
    core.clearTimer();
    WOB_REWARD_GLOBAL = 0;
    WOB_RAW_REWARD_GLOBAL = 0;
    WOB_REWARD_REASON = null;
    WOB_DONE_GLOBAL = false;
    WOB_EPISODE_ID = 0;
    WOB_TASK_READY = true;
    core.recentRewards = [];
    var active = document.activeElement;
    if (active && active !== document.body && typeof active.blur === 'function') active.blur();
    // A new copy rather than emptying #area: scroll offsets and attributes of the old nodes must not carry over.
    var wrap = document.getElementById('wrap');
    if (wrap) wrap.replaceWith(loadedWrap.cloneNode(true));
    else document.body.insertBefore(loadedWrap.cloneNode(true), document.body.firstChild);
  };

  var modeMatch = /[?&]mode=([^&#]*)/.exec(window.location.search);
  if (modeMatch) core.setDataMode(decodeURIComponent(modeMatch[1]));
  window.addEventListener('load', function () {
    var wrap = document.getElementById('wrap');
    loadedWrap = wrap ? wrap.cloneNode(true) : null;
    core.startEpisode();
  });
  return core;
})();
`;

/** Page frame: the 160x210 task box, yellow query bar, HUD to its right, START cover over the box. */
export const CORE_CSS = `
body { margin: 0; padding: 0; font-family: Arial, Helvetica, sans-serif; }
#wrap { position: relative; width: 160px; height: 210px; background: #fff; }
#query { background: #ff0; font-size: 10px; height: 44px; padding: 3px; box-sizing: content-box; }
#area { font-size: 10px; padding: 2px; }
#reward-display { position: absolute; left: 165px; top: 0; width: 150px; font-size: 10px; }
#click-canvas { position: absolute; left: 0; top: 0; pointer-events: none; }
#sync-task-cover { position: absolute; left: 0; top: 0; width: 160px; height: 210px; background: #000;
  color: #fff; font-size: 24px; line-height: 210px; text-align: center; cursor: pointer; z-index: 9999; }
`;
