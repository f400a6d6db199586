// login-user: lower-case user name, random alphanumeric password (2-5 chars). Query `Enter the username "u" and the
// password "p" into the text fields and press login.`. Login: both exact +1 (decayed), else -1. The labels have no
// `for=`, so both fields have an empty accessible name, and each label + field pair is a paragraph, as on the
// reference page.
import type { BuiltinTask } from './page.ts';

export const loginUser: BuiltinTask = {
  name: 'login-user',
  title: 'Login User Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var user = core.sample(WORDS.firstNames).toLowerCase();
  var password = ui.randomString(2, 5);
  ui.setQuery('Enter the username "' + user + '" and the password "' + password +
    '" into the text fields and press login.');
  var form = ui.el('div', { id: 'form' });
  var userRow = form.appendChild(ui.el('p'));
  userRow.appendChild(ui.el('label', null, 'Username'));
  var userField = userRow.appendChild(ui.el('input', { id: 'username', type: 'text' }));
  var passwordRow = form.appendChild(ui.el('p'));
  passwordRow.appendChild(ui.el('label', null, 'Password'));
  var passwordField = passwordRow.appendChild(ui.el('input', { id: 'password', type: 'password' }));
  var login = ui.el('button', { id: 'subbtn', 'class': 'secondary-action' }, 'Login');
  form.appendChild(login);
  area.appendChild(form);
  login.addEventListener('click', function () {
    core.endEpisodeScored(userField.value === user && passwordField.value === password ? 1 : -1);
  });
}
`,
  css: '#form p { margin: 0; } #form label { display: block; margin: 2px 0; } #form input { width: 120px; } #subbtn { display: block; margin-top: 6px; }',
};
