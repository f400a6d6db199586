// click-dialog: a dialog (4-7 words of running text in a paragraph, random position and size) with an untitled
// title bar and a close button, which gets the focus when the dialog opens. Query `Close the dialog box by clicking
// the "x".`. Clicking a `button.ui-button` (only the close button is one; accessible name 'Close'): +1 (decayed). No
// failure path. Laid out like the reference page's jQuery UI dialog: `dialog ''` described by its content (id
// 'dialog'), an empty title (a no-break space), the close button, then the paragraph.
import type { BuiltinTask } from './page.ts';

export const clickDialog: BuiltinTask = {
  name: 'click-dialog',
  title: 'Click Dialog Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  ui.setQuery('Close the dialog box by clicking the "x".');
  var width = core.randi(90, 140), height = core.randi(70, 120);
  var dialog = ui.el('div', { 'class': 'ui-dialog', role: 'dialog', tabindex: '-1',
    'aria-labelledby': 'dialog-title', 'aria-describedby': 'dialog',
    style: 'left:' + core.randi(2, 160 - width) + 'px; top:' + core.randi(0, 150 - height) + 'px; width:' +
      width + 'px; height:' + height + 'px;' });
  var bar = ui.el('div', { 'class': 'ui-dialog-titlebar' });
  bar.appendChild(ui.el('span', { id: 'dialog-title', 'class': 'ui-dialog-title' }, '\\u00a0'));
  // Icon-only button: its own text "Close" (the accessible name) is pushed out of view; an "x" icon is shown.
  var close = ui.el('button', { type: 'button', 'class': 'ui-button ui-dialog-titlebar-close', title: 'Close' }, 'Close');
  close.insertBefore(ui.el('span', { 'class': 'ui-icon', 'aria-hidden': 'true' }, '\\u00d7'), close.firstChild);
  bar.appendChild(close);
  dialog.appendChild(bar);
  var content = ui.el('div', { id: 'dialog', 'class': 'ui-dialog-content' });
  content.appendChild(ui.el('p', null, ui.sentenceWords(core.randi(4, 8)).join(' ')));
  dialog.appendChild(content);
  area.appendChild(dialog);
  var uiButtons = area.querySelectorAll('button.ui-button');
  for (var i = 0; i < uiButtons.length; i++) {
    uiButtons[i].addEventListener('click', function () {
      dialog.style.display = 'none';
      core.endEpisodeScored(1);
    });
  }
  close.focus();
}
`,
  css: `
#area { position: relative; height: 156px; }
.ui-dialog { position: absolute; border: 1px solid #aaa; background: #fff; box-sizing: border-box; overflow: hidden; }
.ui-dialog-titlebar { background: #e9e9e9; padding: 2px 4px; height: 16px; position: relative; font-weight: bold; }
.ui-dialog-titlebar-close { position: absolute; right: 3px; top: 1px; width: 16px; height: 16px; padding: 0;
  font-size: 11px; line-height: 12px; text-indent: -9999px; white-space: nowrap; overflow: hidden; }
.ui-icon { position: absolute; left: 0; top: 1px; width: 14px; text-indent: 0; text-align: center; }
.ui-dialog-content { padding: 4px; }
.ui-dialog-content p { margin: 0; }
`,
};
