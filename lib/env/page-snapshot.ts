// In-page scripts that take a snapshot of a real MiniWoB++ page's document at its set-up (right before or right after
// its first episode starts, lib/env/in-place-tasks.ts says which) and put the document back into that state, so the
// next episode can start on the same page instead of a reload. Built-in pages have core.resetToLoadedState() for
// this; real pages do not, and their scripts may have changed anything in the document during an episode.
//
// What is restored: every node present at snapshot time gets back its attributes, its children (nodes added since are
// dropped, nodes moved elsewhere come back), its text, its form state (value, checkedness, selection, and whether it
// counts as edited) and its scroll offsets, and the element focused when the page was loaded gets focus again. The
// DOM is changed only where it differs, so untouched stylesheets and scripts are never re-inserted (a re-inserted
// <link> would apply asynchronously).
// What is not: JavaScript state (task globals, listeners the page added to persistent nodes, jQuery data), canvas
// pixels and shadow roots. Whether that leaves a task equal to a fresh load is a property of the task, checked per
// task by test/env-miniwob-in-place.test.ts (lib/env/in-place-tasks.ts lists the tasks that pass).

/** Global the snapshot lives in (non-enumerable, so page scripts iterating window never see it). */
const SNAPSHOT_GLOBAL = '__envPageSnapshot';

/** In-page expression: whether the page has a snapshot. */
export const HAS_PAGE_SNAPSHOT = `(${JSON.stringify(SNAPSHOT_GLOBAL)} in window)`;

/** In-page statement: takes the snapshot now; `focused` is an expression for the element focused at load. */
export function snapshotPageScript(focused: string): string {
  return String.raw`(() => {
  const recs = [];
  // Resettable controls: their live state, and whether it differs from their default (already edited by a script):
  // a copy put through the reset algorithm shows the default.
  const scratch = document.createElement('form');
  const stateOf = (n) => ({ value: n.value, checked: n.checked, index: n.selectedIndex });
  const formState = (n) => {
    const resettable = n instanceof HTMLInputElement || n instanceof HTMLTextAreaElement || n instanceof HTMLSelectElement;
    if (!resettable) return undefined;
    const copy = n.cloneNode(true);
    scratch.appendChild(copy);
    scratch.reset();
    copy.remove();
    const live = stateOf(n);
    return { ...live, indeterminate: n.indeterminate, edited: JSON.stringify(live) !== JSON.stringify(stateOf(copy)) };
  };
  const walk = (n) => {
    if (n.nodeType === Node.ELEMENT_NODE) {
      const attrs = [];
      for (const a of n.attributes) attrs.push([a.namespaceURI, a.localName, a.name, a.value]);
      const scroll = n.scrollTop !== 0 || n.scrollLeft !== 0 ? [n.scrollTop, n.scrollLeft] : undefined;
      recs.push({ node: n, attrs, children: Array.from(n.childNodes), form: formState(n), scroll });
      for (const c of n.childNodes) walk(c);
    } else if (n.nodeType === Node.TEXT_NODE || n.nodeType === Node.COMMENT_NODE) {
      recs.push({ node: n, data: n.data });
    }
  };
  walk(document.documentElement);
  const active = ${focused};
  Object.defineProperty(window, ${JSON.stringify(SNAPSHOT_GLOBAL)}, {
    value: { recs, active: active && active !== document.body ? active : null },
  });
})()`;
}

/**
 * In-page expression: puts the document back as in the snapshot; false when there is none (the caller reloads).
 * Focus and scroll are restored after the structure, since moving a node drops both.
 */
export const RESTORE_PAGE_SNAPSHOT = String.raw`(() => {
  const s = window[${JSON.stringify(SNAPSHOT_GLOBAL)}];
  if (!s) return false;
  const sameAttrs = (n, attrs) => {
    if (n.attributes.length !== attrs.length) return false;
    for (const [ns, local, , value] of attrs) if (n.getAttributeNS(ns, local) !== value) return false;
    return true;
  };
  const restoreAttrs = (n, attrs) => {
    const key = (ns, local) => (ns || '') + ' ' + local;
    const keep = new Set(attrs.map(([ns, local]) => key(ns, local)));
    for (const a of Array.from(n.attributes)) if (!keep.has(key(a.namespaceURI, a.localName))) n.removeAttributeNode(a);
    for (const [ns, local, name, value] of attrs) {
      if (n.getAttributeNS(ns, local) === value) continue;
      if (ns) n.setAttributeNS(ns, name, value);
      else n.setAttribute(name, value);
    }
  };
  const restoreChildren = (n, want) => {
    const wanted = new Set(want);
    for (const c of Array.from(n.childNodes)) if (!wanted.has(c)) n.removeChild(c);
    let at = n.firstChild;
    for (const c of want) {
      if (at === c) at = at.nextSibling;
      else n.insertBefore(c, at);
    }
  };
  for (const r of s.recs) {
    const n = r.node;
    if (r.data !== undefined) {
      if (n.data !== r.data) n.data = r.data;
      continue;
    }
    if (!sameAttrs(n, r.attrs)) restoreAttrs(n, r.attrs);
    const cur = n.childNodes;
    let same = cur.length === r.children.length;
    for (let i = 0; same && i < cur.length; i++) same = cur[i] === r.children[i];
    if (!same) restoreChildren(n, r.children);
  }
  // Form controls: the reset algorithm puts a control back to its (now restored) default and clears its "edited"
  // flag, which decides whether a later change of the default shows (a textarea whose text the next episode sets).
  // It runs in a detached form, so no reset event reaches the page. A control that was already edited at snapshot
  // time gets that value back on top.
  const scratch = document.createElement('form');
  for (const r of s.recs) {
    const f = r.form;
    if (!f) continue;
    const n = r.node, parent = n.parentNode, next = n.nextSibling;
    if (parent) {
      scratch.appendChild(n);
      scratch.reset();
      parent.insertBefore(n, next);
    }
    if (n.indeterminate !== f.indeterminate) n.indeterminate = f.indeterminate;
    if (!f.edited) continue;
    if (n instanceof HTMLSelectElement) n.selectedIndex = f.index;
    else if (n.type === 'checkbox' || n.type === 'radio') n.checked = f.checked;
    else n.value = f.value;
  }
  for (const r of s.recs) {
    if (r.data !== undefined) continue;
    const [top, left] = r.scroll || [0, 0];
    if (r.node.scrollTop !== top) r.node.scrollTop = top;
    if (r.node.scrollLeft !== left) r.node.scrollLeft = left;
  }
  if (s.active && s.active.isConnected) s.active.focus();
  else if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  return true;
})()`;
