// click-link: 20 lorem words, each a link with p = 0.2 (redrawn until there is one). Query `Click on the link "W".`.
// Link W: +1 (decayed); another link: -1. Links are spans with role="link" (no href, so clicking never navigates
// away, which would end a BrowserGym episode), and they show up with a bid in the accessibility tree.
import type { BuiltinTask } from './page.ts';

export const clickLink: BuiltinTask = {
  name: 'click-link',
  title: 'Click Link Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var words = ui.loremWords(20), isLink;
  do {
    isLink = [];
    for (var i = 0; i < words.length; i++) isLink.push(Math.random() < 0.2);
  } while (isLink.indexOf(true) < 0);
  var para = ui.el('p', { id: 'text' });
  var links = [], plain = '';
  // Plain words and spaces go into one text node per run, so the accessibility tree shows one line per run.
  for (var w = 0; w < words.length; w++) {
    if (w > 0) plain += ' ';
    if (!isLink[w]) { plain += words[w]; continue; }
    if (plain) para.appendChild(document.createTextNode(plain));
    plain = '';
    para.appendChild(ui.el('span', { 'class': 'alink', role: 'link', tabindex: '0' }, words[w]));
    links.push(words[w]);
  }
  if (plain) para.appendChild(document.createTextNode(plain));
  area.appendChild(para);
  var target = core.sample(links);
  ui.setQuery('Click on the link "' + target + '".');
  var spans = para.querySelectorAll('.alink');
  for (var s = 0; s < spans.length; s++) {
    spans[s].addEventListener('click', function (event) {
      core.endEpisodeScored(event.currentTarget.textContent === target ? 1 : -1);
    });
  }
}
`,
  css: '#text { margin: 2px; line-height: 14px; } .alink { color: #00e; text-decoration: underline; cursor: pointer; }',
};
