// Accessibility tree → text, a port of BrowserGym's flatten_axtree_to_str (browsergym/utils/obs.py) with its default
// flags, plus the optional `clickable` / `visible` extras. Pure functions over CDP Accessibility.getFullAXTree nodes.
import { pyReprJson, pyReprStr } from './pyrepr.ts';

/** CDP Accessibility.AXValue (only the fields used here). */
export interface AXValue {
  type: string;
  value?: unknown;
}
export interface AXProperty {
  name: string;
  value: AXValue;
}
/** CDP Accessibility.AXNode, plus the bid recovered from the ARIA prefix. */
export interface AXNode {
  nodeId: string;
  ignored?: boolean;
  role?: AXValue;
  name?: AXValue;
  description?: AXValue;
  value?: AXValue;
  properties?: AXProperty[];
  childIds?: string[];
  backendDOMNodeId?: number;
  browsergym_id?: string;
}

/** Per-bid facts used by the optional flags (BrowserGym's extra_element_properties). */
export interface ExtraProps {
  visibility: number;
  clickable: boolean;
}

const BID_DATA = /^browsergym_id_([a-zA-Z0-9]+)\s?(.*)$/s;

/**
 * Moves the bid out of each node's `roledescription` property (fallback: `description`) into `browsergym_id`,
 * restoring the original ARIA text and dropping it when empty — BrowserGym's extract_all_frame_axtrees. Mutates.
 */
export function extractBids(nodes: AXNode[]): AXNode[] {
  for (const node of nodes) {
    let bid: string | undefined;
    const props = node.properties;
    if (props) {
      const i = props.findIndex((p) => p.name === 'roledescription');
      if (i >= 0) {
        const m = BID_DATA.exec(String(props[i]!.value.value ?? ''));
        if (m) {
          bid = m[1];
          if (m[2] === '') props.splice(i, 1);
          else props[i]!.value.value = m[2];
        }
      }
    }
    if (node.description) {
      const m = BID_DATA.exec(String(node.description.value ?? ''));
      if (m) {
        if (m[2] === '') delete node.description;
        else node.description.value = m[2];
        bid ??= m[1];
      }
    }
    if (bid !== undefined) node.browsergym_id = bid;
  }
  return nodes;
}

const IGNORED_ROLES = new Set(['LineBreak']);
const IGNORED_PROPERTIES = new Set(['editable', 'readonly', 'level', 'settable', 'multiline', 'invalid', 'focusable']);
const FLAG_PROPERTIES = new Set(['required', 'focused', 'atomic']);

export interface FlattenOptions {
  /** Per-bid extras; required when a flag below is set. */
  extra?: Map<string, ExtraProps>;
  withClickable?: boolean;
  withVisible?: boolean;
}

/** Python truthiness of a JSON value. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/**
 * BrowserGym's axtree_txt: depth-first from the first node, one `\t`-indented line per printed node,
 * `[bid] role 'name' value='…', prop, prop=…`. Skips LineBreak, unnamed nodes, generic nodes with no printed
 * property, and StaticText contained in its parent's name; skipped nodes add no depth.
 */
export function flattenAxTree(nodes: AXNode[], opts: FlattenOptions = {}): string {
  if (nodes.length === 0) return '';
  if ((opts.withClickable || opts.withVisible) && !opts.extra) throw new Error('flattenAxTree: flags need `extra`');
  const byId = new Map<string, AXNode>();
  for (const n of nodes) byId.set(n.nodeId, n);
  const lines: string[] = [];
  // Iterative DFS: deep pages must not overflow the JS stack.
  const stack: Array<{ node: AXNode; depth: number; parentName: string }> = [
    { node: nodes[0]!, depth: 0, parentName: '' },
  ];
  while (stack.length > 0) {
    const { node, depth, parentName } = stack.pop()!;
    const role = String(node.role?.value ?? '');
    let skip = false;
    let name = '';
    if (IGNORED_ROLES.has(role) || node.name === undefined) {
      skip = true;
    } else {
      name = String(node.name.value ?? '');
      const attrs: string[] = [];
      for (const p of node.properties ?? []) {
        if (!p.value || !('value' in p.value)) continue;
        if (IGNORED_PROPERTIES.has(p.name)) continue;
        if (FLAG_PROPERTIES.has(p.name)) {
          if (truthy(p.value.value)) attrs.push(p.name);
        } else attrs.push(`${p.name}=${pyReprJson(p.value.value)}`);
      }
      if (role === 'generic' && attrs.length === 0) skip = true;
      const bid = node.browsergym_id;
      if (role === 'StaticText') {
        if (parentName.includes(name)) skip = true;
      } else if (bid !== undefined && opts.extra?.has(bid)) {
        const x = opts.extra.get(bid)!;
        const flags: string[] = [];
        if (opts.withClickable && x.clickable) flags.push('clickable');
        if (opts.withVisible && x.visibility >= 0.5) flags.push('visible');
        attrs.unshift(...flags);
      }
      if (!skip) {
        let line = role === 'generic' && !name ? role : `${role} ${pyReprStr(name.trim())}`;
        if (bid !== undefined) line = `[${bid}] ${line}`;
        const value = node.value?.value;
        if (value !== undefined && value !== null) line += ` value=${pyReprJson(value)}`;
        if (attrs.length > 0) line += ', ' + attrs.join(', ');
        lines.push('\t'.repeat(depth) + line);
      }
    }
    const childDepth = skip ? depth : depth + 1;
    const kids = node.childIds ?? [];
    for (let i = kids.length - 1; i >= 0; i--) {
      const child = byId.get(kids[i]!);
      if (!child || child === node) continue;
      stack.push({ node: child, depth: childDepth, parentName: name });
    }
  }
  return lines.join('\n');
}
