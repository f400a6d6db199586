// click-button: six slots straight inside #area, each a line of lorem text, a text input (sometimes after a
// "words:" caption, then a line break) or a button (sometimes followed by a line break); the last slot is a button
// when none came before. Query `Click on the "T" button.`. A button whose text is T: +1 (decayed); any other
// button: -1; non-buttons: nothing. Captions are plain text, not labels, as on the reference page.
import type { BuiltinTask } from './page.ts';

export const clickButton: BuiltinTask = {
  name: 'click-button',
  title: 'Click Button Task',
  script: `
var BUTTON_WORDS = ['submit', 'okay', 'ok', 'yes', 'no', 'cancel', 'next', 'previous'];
function genProblem() {
  var area = ui.resetArea();
  var buttons = [];
  for (var s = 0; s < 6; s++) {
    var u = Math.random();
    var mustBeButton = s === 5 && buttons.length === 0;
    if (u < 0.33 && !mustBeButton) {
      area.appendChild(ui.el('div', null, ui.loremWords(3).join(' ')));
    } else if (u < 0.66 && !mustBeButton) {
      if (Math.random() < 0.5) area.appendChild(ui.el('span', null, ui.loremWords(3).join(' ') + ': '));
      area.appendChild(ui.el('input', { type: 'text', style: 'width:' + core.randi(40, 150) + 'px;' }));
      area.appendChild(ui.el('br'));
    } else {
      var word = core.sample(BUTTON_WORDS);
      if (Math.random() < 0.5) word = ui.capitalise(word);
      buttons.push(area.appendChild(ui.el('button', null, word)));
      if (Math.random() < 0.5) area.appendChild(ui.el('br'));
    }
  }
  var target = core.sample(buttons).textContent;
  ui.setQuery('Click on the "' + target + '" button.');
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener('click', function (event) {
      core.endEpisodeScored(event.currentTarget.textContent === target ? 1 : -1);
    });
  }
}
`,
  css: '#area input { max-width: 150px; }',
};
