// click-link: 20 words of running text (sentences, with their punctuation), each word a link with p = 0.2 (redrawn
// until there is one). Query `Click on the link "W".`, W as written, punctuation included. A link with text W: +1
// (decayed); another link: -1; plain text: nothing.
// As on the reference page, a link is a bare `<span class="alink">` with a click handler, directly inside #area: no
// role, no href, so the accessibility tree shows its word as a `StaticText` line without a bid (the span's bid is in
// the pruned HTML), and clicking never navigates away, which would end a BrowserGym episode.
import type { BuiltinTask } from './page.ts';

export const clickLink: BuiltinTask = {
  name: 'click-link',
  title: 'Click Link Task',
  script: `
function genProblem() {
  var area = ui.resetArea();
  var words, isLink;
  do {
    words = ui.sentenceWords(20);
    isLink = [];
    for (var i = 0; i < words.length; i++) isLink.push(Math.random() < 0.2);
  } while (isLink.indexOf(true) < 0);
  var links = [], plain = '';
  // Plain words and spaces go into one text node per run, so the accessibility tree shows one line per run.
  for (var w = 0; w < words.length; w++) {
    if (w > 0) plain += ' ';
    if (!isLink[w]) { plain += words[w]; continue; }
    if (plain) area.appendChild(document.createTextNode(plain));
    plain = '';
    area.appendChild(ui.el('span', { 'class': 'alink' }, words[w]));
    links.push(words[w]);
  }
  if (plain) area.appendChild(document.createTextNode(plain));
  var target = core.sample(links);
  ui.setQuery('Click on the link "' + target + '".');
  var spans = area.querySelectorAll('.alink');
  for (var s = 0; s < spans.length; s++) {
    spans[s].addEventListener('click', function (event) {
      core.endEpisodeScored(event.currentTarget.textContent === target ? 1 : -1);
    });
  }
}
`,
  css: '#area { line-height: 14px; } .alink { color: #00e; text-decoration: underline; cursor: pointer; }',
};
