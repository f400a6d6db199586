// In-page scripts that give every element a stable `bid` and expose it to the accessibility tree, following
// BrowserGym's frame_mark_elements.js / frame_unmark_elements.js (Apache-2.0, behaviour re-implemented):
//  - elements with a standard HTML tag get bids "0", "1", … in document order (iframes get "a", "b", …, "aA", …),
//    shadow-root content spliced in after its host; a bid, once given, is kept across steps; duplicates are renumbered;
//  - live `value` / `checked` are mirrored into attributes so DOM snapshots show form state;
//  - `browsergym_id_<bid> ` is prefixed to aria-roledescription and aria-description, which is how the bid reaches
//    Accessibility.getFullAXTree.
// Differences: set-of-marks flags are not computed (no screenshot overlay here); visibility is the fraction of the
// element's box inside the viewport and its overflow-clipping ancestors, computed synchronously instead of by an
// IntersectionObserver (which costs a frame per step); and the ARIA prefixes stay in the page between observations
// (BrowserGym strips them after each one) and are only rewritten where an element is new or the page changed the
// attribute: every ARIA write invalidates the element's accessibility state, so re-prefixing the whole page twice
// per step made Chromium rebuild its whole accessibility tree on every observation. What the agent sees is the same:
// the bid is taken out of the AX tree and the DOM snapshot before formatting. Scripts are plain strings so no
// bundler helper can leak into the page.

/** Attribute that carries the element id (BrowserGym's BROWSERGYM_ID_ATTRIBUTE). */
export const BID_ATTR = 'bid';

export interface MarkResult {
  /** bid of document.activeElement (through shadow roots), '' when there is none. */
  focusedBid: string;
  /** bid → share of the element's box inside the viewport, rounded to 0.01; only when requested. */
  visibility?: Record<string, number>;
}

/**
 * Expression evaluating to MarkResult; `withVisibility` selects the visibility pass, `frameBid` is the bid of the
 * iframe element holding this document ('' for the top document) and prefixes every bid given inside it.
 */
export function markScript(withVisibility: boolean, frameBid = ''): string {
  return `(${MARK_FN})(${JSON.stringify(BID_ATTR)}, ${withVisibility ? 'true' : 'false'}, ${JSON.stringify(frameBid)})`;
}

const MARK_FN = String.raw`(bidAttr, withVisibility, frameBid) => {
  const HTML_TAGS = new Set(["a", "abbr", "acronym", "address", "applet", "area", "article", "aside", "audio",
    "b", "base", "basefont", "bdi", "bdo", "big", "blockquote", "body", "br", "button", "canvas", "caption", "center",
    "cite", "code", "col", "colgroup", "data", "datalist", "dd", "del", "details", "dfn", "dialog", "dir", "div", "dl",
    "dt", "em", "embed", "fieldset", "figcaption", "figure", "font", "footer", "form", "frame", "frameset", "h1", "h2",
    "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html", "i", "iframe", "img", "input", "ins", "kbd",
    "label", "legend", "li", "link", "main", "map", "mark", "menu", "meta", "meter", "nav", "noframes", "noscript",
    "object", "ol", "optgroup", "option", "output", "p", "param", "picture", "pre", "progress", "q", "rp", "rt",
    "ruby", "s", "samp", "script", "search", "section", "select", "small", "source", "span", "strike", "strong",
    "style", "sub", "summary", "sup", "svg", "table", "tbody", "td", "template", "textarea", "tfoot", "th", "thead",
    "time", "title", "tr", "track", "tt", "u", "ul", "var", "video", "wbr"]);
  const PREFIX = "browsergym_id_";
  const firstVisit = !("browsergym_elem_counter" in window);
  if (firstVisit) {
    window.browsergym_elem_counter = 0;
    window.browsergym_frame_counter = [0];
  }
  // Letter ids for frames: a, b, ..., z, aA, aB, ... (all but the first character upper-cased).
  const nextFrameId = () => {
    const digits = window.browsergym_frame_counter, chars = "abcdefghijklmnopqrstuvwxyz";
    const r = [];
    for (let i = 0; i < digits.length; i++) {
      const c = chars[digits[i]];
      r.unshift(i < digits.length - 1 ? c.toUpperCase() : c);
    }
    for (let i = 0; ; i++) {
      if (i === digits.length) { digits.push(0); break; }
      if (++digits[i] < chars.length) break;
      digits[i] = 0;
    }
    return r.join("");
  };
  const OLD_PREFIX = /^browsergym_id_[a-zA-Z0-9]+ /;
  // Idempotent: an attribute already carrying this bid's prefix is not touched; a stale prefix (cloned node) or a
  // value the page wrote since the last observation gets the right one.
  const ensurePrefix = (elem, attr, bid) => {
    const old = elem.getAttribute(attr);
    const want = PREFIX + bid + " ";
    if (old !== null && old.startsWith(want)) return;
    elem.setAttribute(attr, want + (old === null ? "" : old.replace(OLD_PREFIX, "")));
  };
  let elements = Array.from(document.querySelectorAll("*"));
  const seen = new Set();
  const visibility = withVisibility ? {} : undefined;
  const viewport = { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight };
  // Visible area left by the viewport and every ancestor that clips its overflow (as an IntersectionObserver sees).
  const clips = new Map();
  const clipOf = (el) => {
    if (!el || el === document.documentElement || el === document.body) return viewport;
    if (clips.has(el)) return clips.get(el);
    let c = clipOf(el.parentElement);
    const st = window.getComputedStyle(el);
    if (st.overflowX !== "visible" || st.overflowY !== "visible") {
      const r = el.getBoundingClientRect();
      c = {
        left: Math.max(c.left, r.left), top: Math.max(c.top, r.top),
        right: Math.min(c.right, r.right), bottom: Math.min(c.bottom, r.bottom),
      };
    }
    clips.set(el, c);
    return c;
  };
  for (let i = 0; i < elements.length; i++) {
    const elem = elements[i];
    if (elem.shadowRoot !== null) {
      const inner = Array.from(elem.shadowRoot.querySelectorAll("*"));
      elements = elements.slice(0, i + 1).concat(inner, elements.slice(i + 1));
    }
    if (!elem.tagName || !HTML_TAGS.has(elem.tagName.toLowerCase())) continue;
    // Mirror live form state; write only on change, since every attribute write invalidates layout and AX state.
    if (typeof elem.value !== "undefined") {
      const v = String(elem.value);
      if (elem.getAttribute("value") !== v) elem.setAttribute("value", v);
    }
    if (typeof elem.checked !== "undefined") {
      if (elem.checked === true) { if (!elem.hasAttribute("checked")) elem.setAttribute("checked", ""); }
      else if (elem.hasAttribute("checked")) elem.removeAttribute("checked");
    }
    let bid = null;
    if (elem.hasAttribute(bidAttr)) {
      if (firstVisit) {
        throw new Error("Attribute " + bidAttr + " already used in element " + elem.outerHTML.slice(0, 200));
      }
      bid = elem.getAttribute(bidAttr);
      if (seen.has(bid)) bid = null;  // cloned node: give it a fresh bid
    }
    if (bid === null) {
      const tag = elem.tagName.toLowerCase();
      const local = (tag === "iframe" || tag === "frame") ? nextFrameId() : String(window.browsergym_elem_counter++);
      bid = frameBid + local;
      elem.setAttribute(bidAttr, bid);
    }
    seen.add(bid);
    ensurePrefix(elem, "aria-roledescription", bid);
    ensurePrefix(elem, "aria-description", bid);
    if (visibility) {
      const r = elem.getBoundingClientRect();
      const area = r.width * r.height;
      const c = clipOf(elem.parentElement);
      const w = Math.max(0, Math.min(r.right, c.right) - Math.max(r.left, c.left));
      const h = Math.max(0, Math.min(r.bottom, c.bottom) - Math.max(r.top, c.top));
      visibility[bid] = area > 0 ? Math.round((w * h / area) * 100) / 100 : 0;
    }
  }
  let active = document.activeElement;
  while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
  const focusedBid = active && active.getAttribute ? (active.getAttribute(bidAttr) || "") : "";
  return { focusedBid, visibility };
}`;

/**
 * Takes every mark out of the document (bids, ARIA prefixes, counters), so the next mark pass numbers the page from
 * 0 as on a fresh load. Used when a built-in page starts a new episode in place.
 */
export const CLEAR_MARKS_SCRIPT = String.raw`(() => {
  const re = /^browsergym_id_[a-zA-Z0-9]+\s?/;
  let elements = Array.from(document.querySelectorAll("*"));
  for (let i = 0; i < elements.length; i++) {
    const elem = elements[i];
    if (elem.shadowRoot !== null) {
      const inner = Array.from(elem.shadowRoot.querySelectorAll("*"));
      elements = elements.slice(0, i + 1).concat(inner, elements.slice(i + 1));
    }
    elem.removeAttribute(${JSON.stringify(BID_ATTR)});
    for (const attr of ["aria-roledescription", "aria-description"]) {
      const v = elem.getAttribute(attr);
      if (v === null || !re.test(v)) continue;
      const rest = v.replace(re, "");
      if (rest === "") elem.removeAttribute(attr);
      else elem.setAttribute(attr, rest);
    }
  }
  delete window.browsergym_elem_counter;
  delete window.browsergym_frame_counter;
})()`;
