// Which real MiniWoB++ tasks start their next episode on the loaded page (lib/env/page-snapshot.ts) instead of a
// reload.
//
// A task is listed when, on its page, an in-place reset after an episode of another seed (clicks and typing all over
// the page) showed exactly what a fresh load shows for the seed, over several seeds, and the same actions then gave
// the same step results; test/env-miniwob-in-place.test.ts checks every entry against a checkout (MINIWOB_URL), and
// test/util/in-place-survey.ts finds the entries. Measured on MiniWoB++ commit 7fd85d71 (the one BrowserGym pins):
// 105 of BrowserGym's 125 tasks. Left out, and loaded anew at every reset (ahead of time, preloadPages): the pages
// whose jQuery UI widgets (date picker, dialog, slider, spinner, sortable lists, menus) keep state in their scripts
// that neither snapshot point matches — book-flight, book-flight-nodelay, choose-date and its three variants,
// click-dialog, click-dialog-2, click-menu-2, drag-items, drag-items-grid, drag-sort-numbers, form-sequence,
// form-sequence-3, use-slider, use-slider-2, use-spinner — and the pages whose own animations make even two fresh
// loads differ (click-pie, click-pie-nodelay, drag-cube).

/**
 * Where an in-place reset puts a real page back to: the document as loaded, before its first episode started
 * ('loaded'), or as its first episode had just started ('started': the task's widgets already built, consistent with
 * the page's scripts, which remember having built them).
 */
export type RealResetPoint = 'loaded' | 'started';

export interface InPlaceTask {
  at: RealResetPoint;
  /**
   * Fingerprint of the page that was shown to reset in place (lib/env/miniwob.ts, PAGE_FINGERPRINT); any other page
   * under the task's name (another MiniWoB++ version) is loaded anew at every reset. Unset: any page.
   */
  page?: string;
}

/** Task, snapshot point, page fingerprint. */
const TABLE: readonly (readonly [string, RealResetPoint, string])[] = [
  ['ascending-numbers', 'loaded', 'ce1cdb4d'],
  ['bisect-angle', 'loaded', 'cb928b03'],
  ['buy-ticket', 'loaded', '4538af21'],
  ['choose-list', 'loaded', '8bddaf32'],
  ['circle-center', 'loaded', '50161f75'],
  ['click-button', 'loaded', '42e7d912'],
  ['click-button-sequence', 'loaded', 'a7a6debf'],
  ['click-checkboxes', 'loaded', '54027ce5'],
  ['click-checkboxes-large', 'loaded', '18b23fc6'],
  ['click-checkboxes-soft', 'loaded', 'ffddb1e4'],
  ['click-checkboxes-transfer', 'loaded', 'f5482609'],
  ['click-collapsible', 'started', 'd577bf13'],
  ['click-collapsible-2', 'started', '2d78ba7d'],
  ['click-collapsible-2-nodelay', 'started', '9af3b901'],
  ['click-collapsible-nodelay', 'started', '8ee76eaf'],
  ['click-color', 'loaded', 'be91962d'],
  ['click-link', 'loaded', 'a1595807'],
  ['click-menu', 'loaded', '49bc20a7'],
  ['click-option', 'loaded', 'e924c422'],
  ['click-scroll-list', 'loaded', 'd4acc9ef'],
  ['click-shades', 'loaded', '1fd8f61b'],
  ['click-shape', 'loaded', '380cd7be'],
  ['click-tab', 'started', '90c8da0f'],
  ['click-tab-2', 'started', '5dc9194e'],
  ['click-tab-2-easy', 'started', '4348ce0c'],
  ['click-tab-2-hard', 'started', '900cfb0d'],
  ['click-tab-2-medium', 'started', '85a7dc47'],
  ['click-test', 'loaded', 'c94f23d0'],
  ['click-test-2', 'loaded', 'c864abd9'],
  ['click-test-transfer', 'loaded', '55af6b68'],
  ['click-widget', 'loaded', '081cb69b'],
  ['copy-paste', 'loaded', 'cf0cd311'],
  ['copy-paste-2', 'loaded', '030c58d4'],
  ['count-shape', 'loaded', 'eb121b8f'],
  ['count-sides', 'loaded', '61bbe01f'],
  ['daily-calendar', 'loaded', '66224a24'],
  ['drag-box', 'loaded', '11dc6ff4'],
  ['drag-circle', 'loaded', 'b39b7d39'],
  ['drag-shapes', 'loaded', 'd2a539d4'],
  ['drag-shapes-2', 'loaded', '97e07e89'],
  ['drag-single-shape', 'loaded', 'd8747760'],
  ['draw-circle', 'loaded', 'ba674aad'],
  ['draw-line', 'loaded', 'f3a0fb32'],
  ['email-inbox', 'loaded', '0e6dd3e6'],
  ['email-inbox-delete', 'loaded', '091f3c5b'],
  ['email-inbox-forward', 'loaded', '6b0fb89b'],
  ['email-inbox-forward-nl', 'loaded', 'dbdcacd8'],
  ['email-inbox-forward-nl-turk', 'loaded', '3ca04f71'],
  ['email-inbox-important', 'loaded', '9b4ae852'],
  ['email-inbox-nl-turk', 'loaded', 'ceb45efa'],
  ['email-inbox-noscroll', 'loaded', '1b85f1c2'],
  ['email-inbox-reply', 'loaded', '88eaa0b0'],
  ['email-inbox-star-reply', 'loaded', 'e6ca171e'],
  ['enter-date', 'loaded', 'a04eeb15'],
  ['enter-password', 'loaded', 'c14c1946'],
  ['enter-text', 'loaded', '444db4cc'],
  ['enter-text-2', 'loaded', 'b098b92e'],
  ['enter-text-dynamic', 'loaded', 'd870f63b'],
  ['enter-time', 'loaded', '2b70e1a8'],
  ['find-greatest', 'loaded', 'e372ca69'],
  ['find-midpoint', 'loaded', 'c61f2fd8'],
  ['find-word', 'loaded', '33507189'],
  ['focus-text', 'loaded', 'b4a3a220'],
  ['focus-text-2', 'loaded', 'ced53c09'],
  ['form-sequence-2', 'loaded', '377fc85c'],
  ['generate-number', 'loaded', '0d08a30c'],
  ['grid-coordinate', 'loaded', '5094c0d4'],
  ['guess-number', 'loaded', '65a3d702'],
  ['highlight-text', 'loaded', '662fa7da'],
  ['highlight-text-2', 'loaded', '7902cc83'],
  ['hot-cold', 'loaded', '0395fac0'],
  ['identify-shape', 'loaded', '40bf7fa4'],
  ['login-user', 'loaded', '73bfebe0'],
  ['login-user-popup', 'loaded', '2a51856a'],
  ['multi-layouts', 'loaded', '38cd9ca1'],
  ['multi-orderings', 'loaded', 'c3800b22'],
  ['navigate-tree', 'loaded', 'c79e6510'],
  ['number-checkboxes', 'loaded', 'abfe6ba0'],
  ['odd-or-even', 'loaded', 'b4b77bb7'],
  ['order-food', 'loaded', 'a4f7b2d1'],
  ['phone-book', 'loaded', '418c2c73'],
  ['read-table', 'loaded', '90cdf23c'],
  ['read-table-2', 'loaded', '18a80488'],
  ['resize-textarea', 'loaded', 'cb4b02f8'],
  ['right-angle', 'loaded', '4e274980'],
  ['scroll-text', 'loaded', '5ef5c3f0'],
  ['scroll-text-2', 'loaded', '67176fa8'],
  ['search-engine', 'loaded', '2b8d5f10'],
  ['sign-agreement', 'loaded', 'dccca86c'],
  ['simple-algebra', 'loaded', '76d1a0c4'],
  ['simple-arithmetic', 'loaded', 'ef7a8895'],
  ['social-media', 'loaded', '92054ea5'],
  ['social-media-all', 'loaded', 'ce3701d8'],
  ['social-media-some', 'loaded', '568e65bc'],
  ['stock-market', 'loaded', 'eaa15930'],
  ['terminal', 'loaded', '56088cb2'],
  ['text-editor', 'loaded', '15814056'],
  ['text-transform', 'loaded', '65ea77c3'],
  ['tic-tac-toe', 'loaded', '2ca5c4f2'],
  ['unicode-test', 'loaded', '2e1b4b9c'],
  ['use-autocomplete', 'started', '74d80ce3'],
  ['use-autocomplete-nodelay', 'started', '1a53f065'],
  ['use-colorwheel', 'loaded', 'bc3dae10'],
  ['use-colorwheel-2', 'loaded', 'a865b53d'],
  ['visual-addition', 'loaded', '870f7212'],
];

export const IN_PLACE_REAL_TASKS: ReadonlyMap<string, InPlaceTask> = new Map(
  TABLE.map(([task, at, page]) => [task, { at, page }]),
);
