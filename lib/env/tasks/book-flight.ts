// book-flight (30 s budget), laid out and behaving like the reference page's jQuery UI widgets as the accessibility
// tree shows them:
// - heading "Book Your One-Way Flight"; From / To text fields named by their placeholders ("From:", "To:");
// - autocomplete: shortly after each edit, a list (`list` > `listitem`s, each a list marker and the entry text
//   "City, ST (CODE)") of every airport whose entry contains the typed text, case-insensitively; clicking an entry
//   (or ArrowDown/ArrowUp then Enter) puts it in the field; leaving the field closes the list. A hidden `status` live
//   region per field announces the result count and the chosen entry;
// - "Departure Date" caption over a read-only, unnamed text field; focusing or clicking it opens a date picker:
//   `link 'Prev'` / `link 'Next'` (plain text when the month is out of range), the month and year as separate texts,
//   a table with weekday column headers and one `cell` per day holding `link '<day>'`. Only Oct-Dec 2016 can be
//   picked; with no date yet it opens on December (the real widget opens on today, clamped to the range).
// - Search: a field whose value is not exactly an airport entry, or an empty date, gets a red `error` border and
//   nothing else happens; otherwise the form is replaced by the results: a Back button, "ABC to XYZ | date", and per
//   flight labelled Depart: / Arrives: times, days and cities, Duration: "Xh Ym" and "Book flight for $P".
// Query `Book the <cheapest|shortest> one-way flight from: <o> to: <d> on <MM/DD/YYYY>.`, o and d shown as "City, ST"
// or as the airport code. The search is right when each field's entry contains the goal's text for it and the date
// is the goal's; it lists 3-4 flights drawn with the problem (distinct prices and durations); any other search lists
// made-up flights. "Book flight for $P": +1 (decayed) if the search was right and the flight is the cheapest /
// shortest of it, else -1.
// Every widget lives inside #wrap (the pop-ups after #area), so the page resets in place like the others.
import type { BuiltinTask } from './page.ts';

export const BOOK_FLIGHT_EPISODE_MAX_TIME_MS = 30000;
/** Delay between an edit and the suggestion list (the reference widget waits 300 ms; short keeps steps fast). */
export const AUTOCOMPLETE_DELAY_MS = 20;

export const bookFlight: BuiltinTask = {
  name: 'book-flight',
  title: 'Book Flight Task',
  episodeMaxTimeMs: BOOK_FLIGHT_EPISODE_MAX_TIME_MS,
  script: `
var MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];
var WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
var FIRST_MONTH = 10, LAST_MONTH = 12;  // the pickable range, Oct-Dec 2016
var AUTOCOMPLETE_DELAY_MS = ${AUTOCOMPLETE_DELAY_MS};
function pad2(n) { return (n < 10 ? '0' : '') + n; }
function dateText(month, day) { return pad2(month) + '/' + pad2(day) + '/2016'; }
/** 2016-month-day plus offset days, as the pieces of a UTC date (page time zone never matters). */
function calendarDay(month, day, offset) { return new Date(Date.UTC(2016, month - 1, day + (offset || 0))); }
/** "Mon Dec 05 2016". */
function dayText(d) {
  return WEEKDAYS[d.getUTCDay()].slice(0, 3) + ' ' + MONTH_NAMES[d.getUTCMonth()].slice(0, 3) + ' ' +
    pad2(d.getUTCDate()) + ' ' + d.getUTCFullYear();
}
/** Minutes after midnight → "1:05 PM". */
function clockText(minutes) {
  var m = minutes % (24 * 60), h = Math.floor(m / 60);
  return (h % 12 === 0 ? 12 : h % 12) + ':' + pad2(m % 60) + ' ' + (h < 12 ? 'AM' : 'PM');
}
function durationText(minutes) { return Math.floor(minutes / 60) + 'h ' + (minutes % 60) + 'm'; }
function airportLabel(a) { return a[0] + ' (' + a[1] + ')'; }
/** n flights leaving on the searched day, arriving within 36 h of its start; distinct prices and durations. */
function drawFlights(n) {
  var flights = [], prices = {}, durations = {};
  while (flights.length < n) {
    var depart = core.randi(0, 24 * 60);
    var arrive = core.randi(depart + 30, 36 * 60);
    var price = core.randi(50, 1200);
    if (prices[price] || durations[arrive - depart]) continue;
    prices[price] = durations[arrive - depart] = true;
    flights.push({ depart: depart, arrive: arrive, duration: arrive - depart, price: price });
  }
  return flights;
}

function genProblem() {
  var area = ui.resetArea();
  var wrap = document.getElementById('wrap');
  var oldPopups = document.getElementById('popups');
  if (oldPopups) oldPopups.remove();
  var pair = ui.sampleDistinct(WORDS.airports, 2);
  var shown = function (a) { return Math.random() < 0.5 ? a[0] : a[1]; };
  var wantOrigin = shown(pair[0]), wantDest = shown(pair[1]);
  var dayIndex = core.randi(0, 92);                    // Oct 1 .. Dec 31 2016
  var month = dayIndex < 31 ? 10 : dayIndex < 61 ? 11 : 12;
  var day = dayIndex < 31 ? dayIndex + 1 : dayIndex < 61 ? dayIndex - 30 : dayIndex - 60;
  var wantDate = dateText(month, day);
  var criterion = core.sample(['cheapest', 'shortest']);
  ui.setQuery('Book the ' + criterion + ' one-way flight from: ' + wantOrigin + ' to: ' + wantDest + ' on ' +
    wantDate + '.');
  var correctFlights = drawFlights(core.randi(3, 5));
  var labels = WORDS.airports.map(airportLabel);

  // ---- search form ----
  var form = ui.el('div', { id: 'menu' });
  form.appendChild(ui.el('h2', { id: 'header-book' }, 'Book Your One-Way Flight'));
  function container(cls, child) { var c = ui.el('div', { 'class': cls }); c.appendChild(child); return c; }
  var fromField = ui.el('input', { id: 'flight-from', 'class': 'flight-input', type: 'text', placeholder: 'From:',
    autocomplete: 'off' });
  var toField = ui.el('input', { id: 'flight-to', 'class': 'flight-input', type: 'text', placeholder: 'To:',
    autocomplete: 'off' });
  var dateField = ui.el('input', { id: 'datepicker', 'class': 'flight-input', type: 'text', readonly: '' });
  form.appendChild(container('input-container', fromField));
  form.appendChild(container('input-container', toField));
  var departure = form.appendChild(ui.el('div', { 'class': 'departure-container' }));
  departure.appendChild(ui.el('div', { 'class': 'departure-header' }, 'Departure Date'));
  departure.appendChild(container('input-container', dateField));
  var searchButton = ui.el('button', { id: 'search' }, 'Search');
  form.appendChild(container('search-container', searchButton));
  var results = ui.el('div', { id: 'results', style: 'display: none;' });
  area.appendChild(form);
  area.appendChild(results);

  // ---- pop-ups, after #area: suggestion lists, their live regions, the date picker ----
  var popups = ui.el('div', { id: 'popups' });
  wrap.appendChild(popups);
  /** Puts a pop-up just below (or, with above, over) a field, in #wrap's coordinates. */
  function placeNear(popup, field, above) {
    var f = field.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    popup.style.left = Math.round(f.left - w.left) + 'px';
    popup.style.top = Math.round(above ? Math.max(0, f.top - w.top - 100) : f.bottom - w.top) + 'px';
  }

  function attachAutocomplete(field, name) {
    var menu = popups.appendChild(ui.el('ul', { id: name + '-menu', 'class': 'autocomplete', style: 'display: none;' }));
    var status = popups.appendChild(ui.el('div', { role: 'status', 'aria-live': 'assertive',
      'aria-relevant': 'additions', 'class': 'visually-hidden' }));
    var timer = null, entries = [], active = -1;
    function announce(text) { status.innerHTML = ''; status.appendChild(ui.el('div', null, text)); }
    function close() { menu.innerHTML = ''; menu.style.display = 'none'; entries = []; active = -1; }
    function choose(label) { field.value = label; close(); announce(label); }
    function search() {
      timer = null;
      close();
      var term = field.value.toLowerCase();
      if (!term) return;
      entries = labels.filter(function (l) { return l.toLowerCase().indexOf(term) >= 0; });
      if (!entries.length) { announce('No search results.'); return; }
      entries.forEach(function (label) {
        var item = ui.el('li', { 'class': 'menu-item' });
        item.appendChild(ui.el('div', { 'class': 'menu-item-wrapper' }, label));
        item.addEventListener('mousedown', function (event) { event.preventDefault(); });  // the field keeps focus
        item.addEventListener('click', function () { choose(label); });
        menu.appendChild(item);
      });
      placeNear(menu, field, false);
      menu.style.display = 'block';
      announce(entries.length + (entries.length === 1 ? ' result is' : ' results are') +
        ' available, use up and down arrow keys to navigate.');
    }
    field.addEventListener('input', function () {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(search, AUTOCOMPLETE_DELAY_MS);
    });
    field.addEventListener('keydown', function (event) {
      if (!entries.length) return;
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        // Keyboard focus on an entry shows it in the field, as the reference widget does.
        if (event.key === 'ArrowDown') active = active < 0 ? 0 : (active + 1) % entries.length;
        else active = active <= 0 ? entries.length - 1 : active - 1;
        var items = menu.querySelectorAll('li');
        for (var i = 0; i < items.length; i++) items[i].classList.toggle('menu-item-active', i === active);
        field.value = entries[active];
        event.preventDefault();
      } else if (event.key === 'Enter' && active >= 0) {
        choose(entries[active]);
        event.preventDefault();
      } else if (event.key === 'Escape') close();
    });
    field.addEventListener('focus', hidePicker);
    field.addEventListener('blur', function () {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      close();
    });
  }

  var picker = ui.el('div', { id: 'datepicker-popup', style: 'display: none;' });
  var shownMonth = LAST_MONTH;
  function hidePicker() { picker.innerHTML = ''; picker.style.display = 'none'; }
  function navLink(text, step) {
    var enabled = shownMonth + step >= FIRST_MONTH && shownMonth + step <= LAST_MONTH;
    var link = ui.el('a', { 'class': 'dp-' + text.toLowerCase() + (enabled ? '' : ' dp-disabled'), title: text });
    link.appendChild(ui.el('span', null, text));
    // Without a click handler (out of range) the anchor is plain text to the accessibility tree.
    if (enabled) link.addEventListener('click', function () { shownMonth += step; renderPicker(); });
    return link;
  }
  function renderPicker() {
    picker.innerHTML = '';
    var header = picker.appendChild(ui.el('div', { 'class': 'dp-header' }));
    header.appendChild(navLink('Prev', -1));
    header.appendChild(navLink('Next', 1));
    var title = header.appendChild(ui.el('div', { 'class': 'dp-title' }));
    title.appendChild(ui.el('span', null, MONTH_NAMES[shownMonth - 1]));
    title.appendChild(document.createTextNode('\\u00a0'));
    title.appendChild(ui.el('span', null, '2016'));
    var table = picker.appendChild(ui.el('table', { 'class': 'dp-calendar' }));
    var headRow = table.appendChild(ui.el('thead')).appendChild(ui.el('tr'));
    WEEKDAYS.forEach(function (w) {
      headRow.appendChild(ui.el('th', { scope: 'col' })).appendChild(ui.el('span', { title: w }, w.slice(0, 2)));
    });
    var body = table.appendChild(ui.el('tbody'));
    var lead = calendarDay(shownMonth, 1).getUTCDay();
    var days = calendarDay(shownMonth + 1, 0).getUTCDate();
    var row = null;
    for (var cell = 0; cell < Math.ceil((lead + days) / 7) * 7; cell++) {
      if (cell % 7 === 0) row = body.appendChild(ui.el('tr'));
      var d = cell - lead + 1;
      if (d < 1 || d > days) { row.appendChild(ui.el('td', null, '\\u00a0')); continue; }
      var td = row.appendChild(ui.el('td', { 'class': 'dp-day' }));
      td.appendChild(ui.el('a', { href: '#' }, String(d)));
      td.addEventListener('click', (function (picked) {
        return function (event) {
          event.preventDefault();  // the day is a '#' link: leaving the page would end the episode
          dateField.value = dateText(shownMonth, picked);
          hidePicker();
        };
      })(d));
    }
    placeNear(picker, dateField, true);
    picker.style.display = 'block';
  }
  function openPicker() {
    if (picker.style.display === 'block') return;
    var m = /^(\\d\\d)\\//.exec(dateField.value);
    shownMonth = m ? parseInt(m[1], 10) : LAST_MONTH;
    renderPicker();
  }

  attachAutocomplete(fromField, 'flight-from');
  attachAutocomplete(toField, 'flight-to');
  popups.appendChild(picker);
  dateField.addEventListener('focus', openPicker);
  dateField.addEventListener('click', openPicker);
  // A press anywhere else in the form or the results closes the picker (the reference widget does so on any press
  // outside it).
  form.addEventListener('mousedown', function (event) { if (event.target !== dateField) hidePicker(); });

  // ---- search, results and booking ----
  function codeOf(label) { return label.slice(-4, -1); }
  function showResults(flights, correct) {
    results.innerHTML = '';
    var header = results.appendChild(ui.el('div', { 'class': 'flight-header' }));
    var back = header.appendChild(ui.el('span')).appendChild(ui.el('button', { id: 'menu-back' }, 'Back'));
    back.addEventListener('click', function () { results.style.display = 'none'; form.style.display = 'block'; });
    var summary = header.appendChild(ui.el('div', { 'class': 'flight-summary' }));
    summary.appendChild(ui.el('span', null, codeOf(fromField.value) + ' to ' + codeOf(toField.value)));
    summary.appendChild(document.createTextNode(' '));
    summary.appendChild(ui.el('span', null, ' | '));
    summary.appendChild(document.createTextNode(' '));
    summary.appendChild(ui.el('span', null, dateField.value));
    var best = { price: Infinity, duration: Infinity };
    flights.forEach(function (f) {
      best.price = Math.min(best.price, f.price);
      best.duration = Math.min(best.duration, f.duration);
    });
    var m = /^(\\d\\d)\\/(\\d\\d)/.exec(dateField.value), searchedMonth = +m[1], searchedDay = +m[2];
    flights.forEach(function (f) {
      var box = results.appendChild(ui.el('div', { 'class': 'flight' }));
      function part(cls, label, lines) {
        var p = box.appendChild(ui.el('div', { 'class': cls }));
        p.appendChild(ui.el('div', { 'class': 'label-container' })).appendChild(ui.el('label', null, label));
        var details = p.appendChild(ui.el('div', { 'class': 'details-container' }));
        lines.forEach(function (text) { details.appendChild(ui.el('div', null, text)); });
      }
      part('flight-depart', 'Depart:', [clockText(f.depart),
        dayText(calendarDay(searchedMonth, searchedDay)), fromField.value]);
      part('flight-arrive', 'Arrives:', [clockText(f.arrive),
        dayText(calendarDay(searchedMonth, searchedDay, Math.floor(f.arrive / (24 * 60)))), toField.value]);
      part('flight-duration', 'Duration:', [durationText(f.duration)]);
      var book = box.appendChild(ui.el('div', { 'class': 'book' }))
        .appendChild(ui.el('button', { 'class': 'flight-price' }, 'Book flight for $' + f.price));
      book.addEventListener('click', function () {
        var isBest = criterion === 'cheapest' ? f.price === best.price : f.duration === best.duration;
        core.endEpisodeScored(correct && isBest ? 1 : -1);
      });
    });
    form.style.display = 'none';
    results.style.display = 'block';
  }
  searchButton.addEventListener('click', function () {
    hidePicker();
    var fields = [fromField, toField, dateField];
    var ok = [labels.indexOf(fromField.value) >= 0, labels.indexOf(toField.value) >= 0, dateField.value !== ''];
    for (var i = 0; i < 3; i++) fields[i].classList.toggle('error', !ok[i]);
    if (!(ok[0] && ok[1] && ok[2])) return;
    var correct = fromField.value.indexOf(wantOrigin) >= 0 && toField.value.indexOf(wantDest) >= 0 &&
      dateField.value === wantDate;
    showResults(correct ? correctFlights : drawFlights(core.randi(3, 5)), correct);
  });
}
`,
  css: `
#area { height: 156px; overflow-y: auto; position: relative; background: #e6eef6; }
#header-book { font-size: 10px; font-weight: bold; margin: 2px; }
.input-container { padding: 2px; }
.flight-input { width: 100px; font-size: 10px; border: 1px solid #666; padding: 2px; border-radius: 3px; }
.flight-input.error { border: 1px solid #f00; }
.departure-container { margin-top: 8px; }
.departure-header { background: #039; color: #fff; font-weight: bold; padding: 2px; width: 124px; }
.search-container { margin-top: 3px; }
#popups { position: absolute; left: 0; top: 0; width: 0; height: 0; }
.autocomplete { position: absolute; z-index: 10; margin: 0; padding: 0 0 0 2px; width: 126px; max-height: 80px;
  overflow-y: auto; background: #fff; border: 1px solid #999; font-size: 10px;
  list-style-image: url(data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7); }
.menu-item { cursor: pointer; }
.menu-item:hover, .menu-item-active { background: #ddd; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
#datepicker-popup { position: absolute; z-index: 10; width: 150px; background: #fff; border: 1px solid #999;
  font-size: 7px; }
.dp-header { position: relative; height: 14px; text-align: center; font-weight: bold; }
.dp-prev { position: absolute; left: 2px; top: 2px; cursor: pointer; }
.dp-next { position: absolute; right: 2px; top: 2px; cursor: pointer; }
.dp-disabled { color: #aaa; cursor: default; }
.dp-title { line-height: 14px; }
.dp-calendar { width: 100%; border-collapse: collapse; }
.dp-calendar td, .dp-calendar th { padding: 0; text-align: center; }
.dp-day a { color: #333; text-decoration: none; }
.flight-header { margin: 2px; }
.flight-summary { margin: 2px 0; text-align: center; color: #fff; background: #333; padding: 2px; }
.flight { background: #fff; width: 140px; padding: 2px; margin: 3px 1px; border-radius: 3px; }
.label-container { display: inline-block; width: 29%; vertical-align: top; color: #666; }
.details-container { display: inline-block; width: 69%; }
.book { text-align: center; }
.flight-price { margin: 2px; width: 126px; }
`,
};
