// choose-list: a <select> with 3-9 distinct, shuffled options (first names or countries, some of several words)
// and a Submit button after it. Query `Select X from the list and click Submit.` (X unquoted). Submit: selected
// text == X +1 (decayed), else -1.
import type { BuiltinTask } from './page.ts';

export const chooseList: BuiltinTask = {
  name: 'choose-list',
  title: 'Choose List Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var source = Math.random() < 0.5 ? WORDS.firstNames : WORDS.countries;
  var items = ui.sampleDistinct(source, core.randi(3, 10));
  var target = core.sample(items);
  ui.setQuery('Select ' + target + ' from the list and click Submit.');
  var select = ui.el('select', { id: 'options' });
  for (var i = 0; i < items.length; i++) select.appendChild(ui.el('option', null, items[i]));
  area.appendChild(select);
  var submit = area.appendChild(ui.el('button', { id: 'subbtn', 'class': 'secondary-action' }, 'Submit'));
  submit.addEventListener('click', function () {
    var chosen = select.options[select.selectedIndex];
    core.endEpisodeScored(chosen && chosen.textContent === target ? 1 : -1);
  });
}
`,
  css: '#options { width: 150px; margin: 4px 0; } #subbtn { display: block; margin-top: 6px; }',
};
