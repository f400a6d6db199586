// Marks an action's target on a screenshot: an outline drawn onto the decoded pixels, never into the page. Drawing in
// the page (an overlay element) would be seen by the page's own scripts and by the next observation; pixels are not.
import type { RgbImage } from './server/png.ts';

/** A rectangle in CSS pixels of the top-level viewport. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Outline colour (a red that no built-in task page uses) and width in image pixels. */
const COLOUR: readonly [number, number, number] = [255, 32, 96];
const THICKNESS = 3;
/** Gap between the element's box and the outline, so the outline does not cover the element's own border or text. */
const GAP = 2;

/**
 * Draws a THICKNESS-pixel outline around `box` (scaled by `scale` image pixels per CSS pixel) onto `img` in place,
 * kept inside the image. An empty or fully off-screen box draws nothing. Returns whether anything was drawn.
 */
export function drawOutline(img: RgbImage, box: Box, scale = 1): boolean {
  if (!(box.width > 0 && box.height > 0) || !Number.isFinite(scale) || scale <= 0) return false;
  let left = Math.round((box.x - GAP) * scale) - THICKNESS;
  let top = Math.round((box.y - GAP) * scale) - THICKNESS;
  let right = Math.round((box.x + box.width + GAP) * scale) + THICKNESS;
  let bottom = Math.round((box.y + box.height + GAP) * scale) + THICKNESS;
  if (right <= 0 || bottom <= 0 || left >= img.width || top >= img.height) return false;
  // An element at the edge of the viewport keeps a visible frame: edges that would fall outside move inside.
  left = Math.max(0, left);
  top = Math.max(0, top);
  right = Math.min(img.width, right);
  bottom = Math.min(img.height, bottom);
  const fill = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = Math.max(0, y0); y < Math.min(img.height, y1); y++) {
      for (let x = Math.max(0, x0); x < Math.min(img.width, x1); x++) {
        const i = (y * img.width + x) * 3;
        img.data[i] = COLOUR[0];
        img.data[i + 1] = COLOUR[1];
        img.data[i + 2] = COLOUR[2];
      }
    }
  };
  fill(left, top, right, top + THICKNESS); // top edge
  fill(left, bottom - THICKNESS, right, bottom); // bottom edge
  fill(left, top, left + THICKNESS, bottom); // left edge
  fill(right - THICKNESS, top, right, bottom); // right edge
  return true;
}

/**
 * In-page expression: the viewport box of the element with this bid, entering same-origin iframes named by the bid's
 * leading letters as actions do ('a12' is element 12 inside iframe 'a'); null when there is no such element or it has
 * no size. Reads layout only.
 */
export function targetBoxExpression(bid: string): string {
  return `(() => {
  const bid = ${JSON.stringify(bid)};
  const sel = (b) => '[bid="' + CSS.escape(b) + '"]';
  let doc = document, ox = 0, oy = 0, i = 0;
  while (i < bid.length && !/^[0-9]+$/.test(bid.slice(i))) {
    i += 1;
    while (i < bid.length && /[A-Z]/.test(bid[i])) i += 1;
    const frame = doc.querySelector(sel(bid.slice(0, i)));
    if (!frame || !frame.contentDocument) return null;
    const r = frame.getBoundingClientRect();
    ox += r.left + frame.clientLeft;
    oy += r.top + frame.clientTop;
    doc = frame.contentDocument;
  }
  const el = doc.querySelector(sel(bid));
  if (!el) return null;
  const r = el.getBoundingClientRect();
  if (!(r.width > 0 && r.height > 0)) return null;
  return { x: ox + r.left, y: oy + r.top, width: r.width, height: r.height, viewportWidth: window.innerWidth };
})()`;
}
