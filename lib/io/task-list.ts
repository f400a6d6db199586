// The `tasks` key of a train config: task names, optionally with sampling weights. Accepted forms:
//   tasks: [click-test, book-flight]            names (a plain string is a comma-separated list)
//   tasks: {click-test: 1, book-flight: 3}      name: weight (weights are relative: 1 and 3 = 25% and 75%)
//   --tasks click-test:1,book-flight:3          the command-line (and one-line string) form of the mapping
// Either every task has a weight or none does; weights are positive finite numbers; a name appears once.
// In a TrainConfig the names stay in `tasks` (what every consumer needs) and the weights go to `task_weights`.

export interface TaskList {
  /** In the order written. */
  names: string[];
  /** name → weight, or null when no weights were given. */
  weights: Record<string, number> | null;
}

/** JSON text of a config value for messages; YAML integers arrive as BigInt, which JSON.stringify refuses. */
function show(value: unknown): string {
  return JSON.stringify(value ?? null, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
}

/** Parses one of the forms above. Returns the list, or the reason it is invalid (phrased to follow "'tasks' "). */
export function parseTaskList(value: unknown): TaskList | string {
  if (typeof value === 'string') return parseTaskText(value);
  if (Array.isArray(value)) {
    if (!value.every((s) => typeof s === 'string' && s !== '')) return `must be a list of task names or a mapping of task: weight (got ${show(value)})`;
    return finish(value.map((name) => [name as string, null]));
  }
  if (value !== null && typeof value === 'object') {
    const pairs: Array<[string, number | null]> = [];
    for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
      // Integer weights come from YAML as BigInt; any integer weight is exact enough for a sampling ratio.
      const w = typeof raw === 'bigint' ? Number(raw) : raw;
      if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) return `weight of '${name}' must be a positive finite number (got ${typeof w === 'number' ? String(w) : show(w)})`;
      pairs.push([name, w]);
    }
    return finish(pairs);
  }
  return `must be a list of task names or a mapping of task: weight (got ${show(value)})`;
}

/** `a,b` or `a:1,b:3` (YAML strings and command-line values). */
function parseTaskText(text: string): TaskList | string {
  const pairs: Array<[string, number | null]> = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const colon = item.lastIndexOf(':');
    if (colon < 0) {
      pairs.push([item, null]);
      continue;
    }
    const name = item.slice(0, colon).trim();
    const raw = item.slice(colon + 1).trim();
    const w = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(w) || w <= 0) return `weight of '${name}' must be a positive finite number (got '${raw}' in '${item}')`;
    pairs.push([name, w]);
  }
  return finish(pairs);
}

function finish(pairs: ReadonlyArray<readonly [string, number | null]>): TaskList | string {
  if (pairs.length === 0) return 'must name at least one task';
  const seen = new Set<string>();
  for (const [name] of pairs) {
    if (name === '') return 'has an empty task name';
    if (seen.has(name)) return `lists '${name}' twice`;
    seen.add(name);
  }
  const weighted = pairs.filter(([, w]) => w !== null).length;
  if (weighted > 0 && weighted < pairs.length) {
    const missing = pairs.filter(([, w]) => w === null).map(([n]) => n);
    return `gives weights to some tasks but not to ${missing.join(', ')} (weight every task or none)`;
  }
  return {
    names: pairs.map(([n]) => n),
    weights: weighted > 0 ? Object.fromEntries(pairs.map(([n, w]) => [n, w as number])) : null,
  };
}

/**
 * Puts names and weights back together as a `tasks` value (the mapping form when weighted), for validating a config
 * object. Fails when the weights do not name exactly the tasks (e.g. an edited object whose task list changed).
 */
export function joinTaskWeights(names: unknown, weights: unknown): { value: unknown } | { error: string } {
  if (weights === null || weights === undefined) return { value: names };
  if (typeof weights !== 'object' || Array.isArray(weights)) return { error: `'task_weights' must be a mapping of task: weight (got ${show(weights)})` };
  if (!Array.isArray(names)) return { error: `'task_weights' is set but 'tasks' is not a list of names (got ${show(names)})` };
  const keys = Object.keys(weights);
  const same = keys.length === names.length && names.every((n) => typeof n === 'string' && keys.includes(n));
  if (!same) return { error: `'task_weights' names ${keys.join(', ')} but 'tasks' is ${names.join(', ')}` };
  return { value: Object.fromEntries(names.map((n: string) => [n, (weights as Record<string, unknown>)[n]])) };
}

/** One-line description for banners and reports: `click-test ×1, book-flight ×3` or `click-test, book-flight`. */
export function describeTaskList(names: readonly string[], weights: Readonly<Record<string, number>> | null): string {
  return names.map((n) => (weights ? `${n} ×${weights[n]}` : n)).join(', ');
}
