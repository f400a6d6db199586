// Where the tests find a real MiniWoB++ checkout: MINIWOB_URL, as BrowserGym reads it (the folder holding
// click-test.html, e.g. file:///…/miniwob-plusplus/miniwob/html/miniwob/). Unset → the real-page tests skip and say so.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { miniwobTaskUrl } from '../../lib/env/miniwob.ts';

export const MINIWOB_URL = process.env.MINIWOB_URL || undefined;

/** '' when the real pages can run, else the reason they are skipped (also printed once). */
export function realPagesSkipReason(): string {
  let why = '';
  if (MINIWOB_URL === undefined) {
    why = '(skipped: set MINIWOB_URL to a MiniWoB++ checkout, e.g. file:///…/miniwob-plusplus/miniwob/html/miniwob/)';
  } else if (MINIWOB_URL.startsWith('file://') && !existsSync(fileURLToPath(miniwobTaskUrl(MINIWOB_URL, 'click-test')))) {
    // A wrong path must fail loudly, not skip: the caller asked for the real pages.
    throw new Error(`MINIWOB_URL=${MINIWOB_URL} has no click-test.html; point it at miniwob/html/miniwob/ of a checkout`);
  }
  if (why) console.log(`real MiniWoB++ page tests ${why}`);
  return why;
}
