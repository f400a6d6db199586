// book-flight (30 s budget): From/To fields with an autocomplete list (a value counts only if it is an exact list
// entry "City, ST (CODE)"; otherwise Search marks the field with a red error border), a read-only date field with
// a month calendar limited to Oct-Dec 2016, and Search. Query
// `Book the <cheapest|shortest> one-way flight from: <o> to: <d> on <MM/DD/YYYY>.`, where o and d are shown as
// "City, ST" or as the airport code. The correct search lists 3-4 pre-drawn flights with distinct prices and
// durations (so the best is unique); any other search lists made-up flights.
// "Book flight for $X": +1 (decayed) if it is the best flight of the correct search, else -1; after a wrong
// search every booking is -1.
import type { BuiltinTask } from './page.ts';

export const BOOK_FLIGHT_EPISODE_MAX_TIME_MS = 30000;

export const bookFlight: BuiltinTask = {
  name: 'book-flight',
  title: 'Book Flight Task',
  episodeMaxTimeMs: BOOK_FLIGHT_EPISODE_MAX_TIME_MS,
  script: `
var MONTH_NAMES = { 10: 'October', 11: 'November', 12: 'December' };
var MONTH_DAYS = { 10: 31, 11: 30, 12: 31 };
var WEEKDAYS = ['Su', 'Mo', 'Tu', 'We', 'Th', 'Fr', 'Sa'];
function pad2(n) { return (n < 10 ? '0' : '') + n; }
function dateText(month, day) { return pad2(month) + '/' + pad2(day) + '/2016'; }
function airportLabel(a) { return a[0] + ' (' + a[1] + ')'; }
function clockText(minutes) {
  var m = minutes % (24 * 60), h = Math.floor(m / 60), ampm = h < 12 ? 'AM' : 'PM';
  var h12 = h % 12 === 0 ? 12 : h % 12;
  return h12 + ':' + pad2(m % 60) + ' ' + ampm + (minutes >= 24 * 60 ? ' (+1 day)' : '');
}
function durationText(minutes) { return Math.floor(minutes / 60) + 'h ' + pad2(minutes % 60) + 'm'; }
/** n flights with distinct prices and distinct durations, so cheapest and shortest are unique. */
function drawFlights(n) {
  var prices = [], durations = [], flights = [];
  while (prices.length < n) { var p = core.randi(59, 900); if (prices.indexOf(p) < 0) prices.push(p); }
  while (durations.length < n) { var d = 5 * core.randi(9, 120); if (durations.indexOf(d) < 0) durations.push(d); }
  for (var i = 0; i < n; i++) {
    flights.push({ depart: 5 * core.randi(60, 270), duration: durations[i], price: prices[i] });
  }
  return flights;
}

function genProblem() {
  var area = ui.resetArea();
  var pair = ui.sampleDistinct(WORDS.airports, 2);
  var origin = pair[0], dest = pair[1];
  var dayIndex = core.randi(0, 92);                    // Oct 1 .. Dec 31 2016
  var month = dayIndex < 31 ? 10 : dayIndex < 61 ? 11 : 12;
  var day = dayIndex < 31 ? dayIndex + 1 : dayIndex < 61 ? dayIndex - 30 : dayIndex - 60;
  var criterion = core.sample(['cheapest', 'shortest']);
  var shown = function (a) { return Math.random() < 0.5 ? a[0] : a[1]; };
  var wantedDate = dateText(month, day);
  ui.setQuery('Book the ' + criterion + ' one-way flight from: ' + shown(origin) + ' to: ' + shown(dest) +
    ' on ' + wantedDate + '.');
  var correctFlights = drawFlights(core.randi(3, 5));
  var labels = WORDS.airports.map(airportLabel);

  // ---- search form ----
  var form = ui.el('div', { id: 'search' });
  var fromField = ui.el('input', { id: 'flight-from', type: 'text', placeholder: 'From:', 'aria-label': 'From:',
    autocomplete: 'off', 'class': 'flight-input' });
  var fromMenu = ui.el('ul', { id: 'flight-from-menu', role: 'listbox', 'class': 'autocomplete' });
  var toField = ui.el('input', { id: 'flight-to', type: 'text', placeholder: 'To:', 'aria-label': 'To:',
    autocomplete: 'off', 'class': 'flight-input' });
  var toMenu = ui.el('ul', { id: 'flight-to-menu', role: 'listbox', 'class': 'autocomplete' });
  var dateField = ui.el('input', { id: 'datepicker', type: 'text', readonly: 'readonly',
    placeholder: 'Departure Date', 'aria-label': 'Departure Date', 'class': 'flight-input' });
  var calendar = ui.el('div', { id: 'calendar' });
  var searchButton = ui.el('button', { id: 'search-btn' }, 'Search');
  form.appendChild(fromField); form.appendChild(fromMenu);
  form.appendChild(toField); form.appendChild(toMenu);
  form.appendChild(dateField); form.appendChild(calendar);
  form.appendChild(searchButton);
  var results = ui.el('div', { id: 'results' });
  area.appendChild(form);
  area.appendChild(results);
  var menus = [fromMenu, toMenu];
  function hideMenus() { for (var i = 0; i < menus.length; i++) { menus[i].innerHTML = ''; menus[i].style.display = 'none'; } }
  function hideCalendar() { calendar.innerHTML = ''; calendar.style.display = 'none'; }
  function markValid(field, ok) {
    if (ok) { field.classList.remove('invalid-field'); field.removeAttribute('aria-invalid'); }
    else { field.classList.add('invalid-field'); field.setAttribute('aria-invalid', 'true'); }
  }
  hideMenus();
  hideCalendar();

  // ---- autocomplete: every input event lists up to 6 entries containing the typed text ----
  function attachAutocomplete(field, menu) {
    field.addEventListener('focus', hideCalendar);
    field.addEventListener('input', function () {
      hideMenus();
      markValid(field, true);
      var text = field.value.trim().toLowerCase();
      if (!text) return;
      var matches = labels.filter(function (l) { return l.toLowerCase().indexOf(text) >= 0; }).slice(0, 6);
      if (!matches.length) return;
      matches.forEach(function (label) {
        var option = ui.el('li', { role: 'option', 'class': 'autocomplete-item' }, label);
        option.addEventListener('mousedown', function (event) { event.preventDefault(); });
        option.addEventListener('click', function () {
          field.value = label;
          markValid(field, true);
          hideMenus();
        });
        menu.appendChild(option);
      });
      menu.style.display = 'block';
    });
  }
  attachAutocomplete(fromField, fromMenu);
  attachAutocomplete(toField, toMenu);

  // ---- calendar: one month at a time, Oct-Dec 2016 ----
  var shownMonth = 10;
  function renderCalendar() {
    calendar.innerHTML = '';
    var header = ui.el('div', { 'class': 'cal-header' });
    var prev = ui.el('button', { type: 'button', 'class': 'cal-prev' }, 'Prev');
    var next = ui.el('button', { type: 'button', 'class': 'cal-next' }, 'Next');
    if (shownMonth <= 10) prev.disabled = true;
    if (shownMonth >= 12) next.disabled = true;
    prev.addEventListener('click', function () { shownMonth--; renderCalendar(); });
    next.addEventListener('click', function () { shownMonth++; renderCalendar(); });
    header.appendChild(prev);
    header.appendChild(ui.el('span', { 'class': 'cal-title' }, MONTH_NAMES[shownMonth] + ' 2016'));
    header.appendChild(next);
    calendar.appendChild(header);
    var grid = ui.el('div', { 'class': 'cal-grid' });
    WEEKDAYS.forEach(function (w) { grid.appendChild(ui.el('span', { 'class': 'cal-weekday' }, w)); });
    var firstWeekday = new Date(Date.UTC(2016, shownMonth - 1, 1)).getUTCDay();
    for (var blank = 0; blank < firstWeekday; blank++) grid.appendChild(ui.el('span'));
    for (var d = 1; d <= MONTH_DAYS[shownMonth]; d++) {
      var dayButton = ui.el('button', { type: 'button', 'class': 'cal-day' }, String(d));
      dayButton.addEventListener('click', (function (picked) {
        return function () { dateField.value = dateText(shownMonth, picked); markValid(dateField, true); hideCalendar(); };
      })(d));
      grid.appendChild(dayButton);
    }
    calendar.appendChild(grid);
    calendar.style.display = 'block';
  }
  function openCalendar() {
    if (calendar.style.display === 'block') return;
    hideMenus();
    var m = /^(\\d\\d)\\//.exec(dateField.value);
    shownMonth = m ? parseInt(m[1], 10) : 10;
    renderCalendar();
  }
  dateField.addEventListener('focus', openCalendar);
  dateField.addEventListener('click', openCalendar);

  // ---- search and booking ----
  function showFlights(flights, fromCode, toCode, correct) {
    results.innerHTML = '';
    results.appendChild(ui.el('div', { 'class': 'results-header' }, flights.length + ' flights found'));
    var best = null;
    for (var b = 0; b < flights.length; b++) {
      var key = criterion === 'cheapest' ? 'price' : 'duration';
      if (best === null || flights[b][key] < best[key]) best = flights[b];
    }
    flights.forEach(function (f) {
      var box = ui.el('div', { 'class': 'flight' });
      box.appendChild(ui.el('div', null, 'Depart: ' + clockText(f.depart) + ' (' + fromCode + ')'));
      box.appendChild(ui.el('div', null, 'Arrive: ' + clockText(f.depart + f.duration) + ' (' + toCode + ')'));
      box.appendChild(ui.el('div', null, 'Duration: ' + durationText(f.duration)));
      var book = ui.el('button', { 'class': 'book' }, 'Book flight for $' + f.price);
      book.addEventListener('click', function () { core.endEpisodeScored(correct && f === best ? 1 : -1); });
      box.appendChild(book);
      results.appendChild(box);
    });
  }
  searchButton.addEventListener('click', function () {
    hideMenus();
    hideCalendar();
    var fromOk = labels.indexOf(fromField.value) >= 0, toOk = labels.indexOf(toField.value) >= 0;
    var dateOk = dateField.value !== '';
    markValid(fromField, fromOk); markValid(toField, toOk); markValid(dateField, dateOk);
    if (!fromOk || !toOk || !dateOk) { results.innerHTML = ''; return; }
    var codeOf = function (label) { return label.slice(-4, -1); };
    var correct = fromField.value === airportLabel(origin) && toField.value === airportLabel(dest) &&
      dateField.value === wantedDate;
    showFlights(correct ? correctFlights : drawFlights(core.randi(3, 5)), codeOf(fromField.value),
      codeOf(toField.value), correct);
  });
}
`,
  css: `
#area { height: 156px; overflow-y: auto; }
.flight-input { width: 140px; margin: 1px 0; font-size: 10px; border: 1px solid #999; }
.invalid-field { border: 1px solid #f00; }
.autocomplete { list-style: none; margin: 0; padding: 0; border: 1px solid #999; background: #fff; width: 140px; }
.autocomplete-item { padding: 1px 2px; cursor: pointer; }
.autocomplete-item:hover { background: #ddd; }
#calendar { border: 1px solid #999; width: 144px; }
.cal-header { display: flex; justify-content: space-between; align-items: center; }
.cal-header button { font-size: 9px; padding: 0 2px; }
.cal-grid { display: grid; grid-template-columns: repeat(7, 20px); }
.cal-weekday { text-align: center; font-weight: bold; }
.cal-day { font-size: 9px; padding: 0; width: 20px; }
#search-btn { display: block; margin-top: 2px; }
.results-header { font-weight: bold; margin-top: 3px; }
.flight { border-top: 1px solid #ccc; padding: 2px 0; }
.book { font-size: 9px; }
`,
};
