// click-test: one square "Click Me!" button at a random spot. Click it: +1 (decayed). No failure path.
import type { BuiltinTask } from './page.ts';

export const clickTest: BuiltinTask = {
  name: 'click-test',
  title: 'Click Test Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  ui.setQuery('Click the button.');
  var side = core.randi(35, 100);                 // px, square button
  var left = core.randi(0, 156 - side);           // keep it inside the 156 px wide area
  var top = core.randi(0, 156 - side);
  var button = ui.el('button', { id: 'subbtn',
    style: 'margin-left:' + left + 'px; margin-top:' + top + 'px; width:' + side + 'px; height:' + side + 'px;' },
    'Click Me!');
  button.addEventListener('click', function () { core.endEpisodeScored(1); });
  area.appendChild(button);
}
`,
};
