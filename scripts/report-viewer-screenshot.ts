// Screenshot of the episode viewer of a report.html for the README (docs/img/report-viewer.png):
//   npx tsx scripts/report-viewer-screenshot.ts <run>/report.html docs/img/report-viewer.png
// Shows the newest recording at the first step whose action clicks an element, so the target's outline is in view.
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { chromiumArgs, findChromium } from '../lib/env/browser.ts';

const [report, out] = process.argv.slice(2);
if (!report || !out) {
  console.error('usage: npx tsx scripts/report-viewer-screenshot.ts <report.html> <out.png>');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: chromiumArgs() });
try {
  const page = await browser.newPage({ viewport: { width: 1040, height: 900 } });
  await page.goto(pathToFileURL(report).href);
  // Find an episode with a click, and step to it.
  const found = await page.evaluate(() => {
    const data = JSON.parse(document.getElementById('rv-data')!.textContent!) as Array<{ episodes: Array<{ task: string; steps: Array<{ action: string; image: string | null }> }> }>;
    const r = data.length - 1;
    for (const [i, e] of data[r].episodes.entries()) {
      const k = e.steps.findIndex((s) => s.action.startsWith('click(') && s.image);
      if (k >= 0) return { rec: r, task: e.task, ep: i, step: k };
    }
    return null;
  });
  if (!found) throw new Error('no recorded click step in the newest recording');
  await page.locator('#rv-rec').selectOption(String(found.rec));
  await page.locator('#rv-task').selectOption(found.task);
  await page.locator('#rv-ep').selectOption(String(found.ep));
  for (let k = 0; k < found.step; k++) await page.locator('#rv-next').click();
  await page.waitForFunction(() => (document.getElementById('rv-img') as HTMLImageElement).complete);
  await page.locator('#replays').screenshot({ path: out });
  console.log(`${out}: ${found.task}, episode ${found.ep}, step ${found.step + 1}`);
} finally {
  await browser.close();
}
