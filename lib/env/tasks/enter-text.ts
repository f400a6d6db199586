// enter-text: one text field + Submit, both jittered. Query `Enter "Name" into the text field and press Submit.`.
// Submit: exact, case-sensitive match +1 (decayed), anything else -1.
import type { BuiltinTask } from './page.ts';

export const enterText: BuiltinTask = {
  name: 'enter-text',
  title: 'Enter Text Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var name = core.sample(WORDS.firstNames);
  ui.setQuery('Enter "' + name + '" into the text field and press Submit.');
  var field = ui.el('input', { id: 'tt', type: 'text',
    style: 'margin-left:' + core.randi(0, 40) + 'px; margin-top:' + core.randi(0, 40) + 'px;' });
  var submit = ui.el('button', { id: 'subbtn',
    style: 'margin-left:' + core.randi(0, 60) + 'px; margin-top:' + core.randi(0, 30) + 'px;' }, 'Submit');
  submit.addEventListener('click', function () { core.endEpisodeScored(field.value === name ? 1 : -1); });
  area.appendChild(ui.el('div')).appendChild(field);
  area.appendChild(ui.el('div')).appendChild(submit);
}
`,
  css: '#tt { width: 120px; }',
};
