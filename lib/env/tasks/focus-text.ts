// focus-text: one text field at a random spot. Query "Focus into the textbox.". Its focus event: +1 (decayed), and
// the page blurs the field again. No failure path.
import type { BuiltinTask } from './page.ts';

export const focusText: BuiltinTask = {
  name: 'focus-text',
  title: 'Focus Text Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  ui.setQuery('Focus into the textbox.');
  var field = ui.el('input', { id: 'tt', type: 'text',
    style: 'margin-left:' + core.randi(0, 20) + 'px; margin-top:' + core.randi(0, 140) + 'px;' });
  field.addEventListener('focus', function () {
    core.endEpisodeScored(1);
    field.blur();
  });
  area.appendChild(field);
}
`,
  css: '#tt { width: 120px; }',
};
