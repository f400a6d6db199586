// click-button: six slots, each a lorem text, a (label +) text input, or a button; at least one button.
// Query `Click on the "T" button.`. A button whose text is T: +1 (decayed); any other button: -1; non-buttons: nothing.
import type { BuiltinTask } from './page.ts';

export const clickButton: BuiltinTask = {
  name: 'click-button',
  title: 'Click Button Task',
  script: `
var BUTTON_WORDS = ['submit', 'okay', 'ok', 'yes', 'no', 'cancel', 'next', 'previous'];
function genProblem() {
  var area = ui.resetArea();
  var kinds = [];
  for (var i = 0; i < 6; i++) kinds.push(core.sample(['text', 'input', 'button']));
  if (kinds.indexOf('button') < 0) kinds[core.randi(0, 6)] = 'button';
  var labels = [];
  for (var s = 0; s < 6; s++) {
    var slot = ui.el('div', { 'class': 'slot' });
    if (kinds[s] === 'text') {
      slot.textContent = ui.loremWords(3).join(' ');
    } else if (kinds[s] === 'input') {
      if (Math.random() < 0.5) slot.appendChild(ui.el('label', null, ui.capitalise(core.sample(WORDS.lorem)) + ' '));
      slot.appendChild(ui.el('input', { type: 'text' }));
    } else {
      var word = core.sample(BUTTON_WORDS);
      if (Math.random() < 0.5) word = ui.capitalise(word);
      labels.push(word);
      slot.appendChild(ui.el('button', null, word));
    }
    area.appendChild(slot);
  }
  var target = core.sample(labels);
  ui.setQuery('Click on the "' + target + '" button.');
  var buttons = area.querySelectorAll('button');
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener('click', function (event) {
      core.endEpisodeScored(event.currentTarget.textContent === target ? 1 : -1);
    });
  }
}
`,
  css: '.slot { margin: 3px 0; } .slot input { width: 80px; }',
};
