// A screenshot of an episode's page for replays, with the element an action is about to act on outlined
// (lib/env/highlight.ts). Reads the page only: layout for the target's box and a CDP capture of the viewport, so the
// episode goes on exactly as it would have without it.
import { drawOutline, targetBoxExpression, type Box } from './highlight.ts';
import { evaluateInPage } from './observation/extract.ts';
import type { CdpSender } from './observation/frames.ts';
import { decodePngToRgb, encodeRgbToPng } from './server/png.ts';
import type { EpisodeCapture } from './types.ts';

/** The target's box from the page, or null when it has none (no such element, zero size, a page script error). */
async function targetBox(cdp: CdpSender, bid: string): Promise<(Box & { viewportWidth: number }) | null> {
  try {
    const v = (await evaluateInPage(cdp, targetBoxExpression(bid))) as (Box & { viewportWidth: number }) | null;
    return v && [v.x, v.y, v.width, v.height, v.viewportWidth].every(Number.isFinite) ? v : null;
  } catch {
    return null;
  }
}

/** Screenshot (PNG) of the page's viewport; with `targetBid`, that element outlined when it is on the page. */
export async function captureWithTarget(cdp: CdpSender, targetBid: string | null): Promise<EpisodeCapture> {
  const box = targetBid ? await targetBox(cdp, targetBid) : null;
  const shot = (await cdp.send('Page.captureScreenshot', { format: 'png' })) as { data?: unknown };
  if (typeof shot?.data !== 'string' || shot.data === '') throw new Error('Page.captureScreenshot returned no image');
  const png = Buffer.from(shot.data, 'base64');
  if (!box) return { png, target: null };
  const img = decodePngToRgb(png);
  // Image pixels per CSS pixel (1 unless the page has a device scale factor).
  const drawn = drawOutline(img, box, img.width / box.viewportWidth);
  const target = { x: box.x, y: box.y, width: box.width, height: box.height };
  return { png: drawn ? encodeRgbToPng(img) : png, target };
}
