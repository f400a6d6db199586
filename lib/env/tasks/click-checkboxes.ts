// click-checkboxes: 2-6 checkboxes with distinct random alphanumeric labels (2-7 chars), each to be checked with
// p = 0.5. Query `Select a, b and click Submit.` or `Select nothing and click Submit.`.
// Submit: r = (sum over boxes of +1 if right, -1 if wrong) / n — partial credit in [-1, 1], decayed only if r > 0.
import type { BuiltinTask } from './page.ts';

export const clickCheckboxes: BuiltinTask = {
  name: 'click-checkboxes',
  title: 'Click Checkboxes Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var n = core.randi(2, 7);
  var labels = [];
  while (labels.length < n) {
    var label = ui.randomString(2, 7);
    // 'nothing' would make the query ambiguous ("Select nothing and click Submit.").
    if (labels.indexOf(label) < 0 && label !== 'nothing') labels.push(label);
  }
  var wanted = [];
  for (var i = 0; i < n; i++) wanted.push(Math.random() < 0.5);
  var boxes = [];
  var list = ui.el('div', { id: 'boxes' });
  for (var b = 0; b < n; b++) {
    var row = ui.el('label');
    var box = ui.el('input', { type: 'checkbox' });
    row.appendChild(box);
    row.appendChild(document.createTextNode(labels[b]));
    list.appendChild(row);
    list.appendChild(ui.el('br'));
    boxes.push(box);
  }
  area.appendChild(list);
  area.appendChild(ui.el('br'));
  var submit = ui.el('button', { id: 'subbtn', 'class': 'secondary-action' }, 'Submit');
  area.appendChild(submit);
  var names = labels.filter(function (_, k) { return wanted[k]; });
  ui.setQuery(names.length ? 'Select ' + names.join(', ') + ' and click Submit.' : 'Select nothing and click Submit.');
  submit.addEventListener('click', function () {
    var score = 0;
    for (var k = 0; k < n; k++) score += boxes[k].checked === wanted[k] ? 1 : -1;
    core.endEpisodeScored(score / n);
  });
}
`,
  css: '#boxes label { display: inline-block; margin: 1px 0; } #subbtn { margin-top: 4px; }',
};
