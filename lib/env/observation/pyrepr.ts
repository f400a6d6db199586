// Python's repr() for the literal types that appear in BrowserGym's text formats (axtree_txt properties, action
// error messages). Observations must match BrowserGym byte for byte, so quoting and escaping follow CPython exactly.

// Characters CPython's str.isprintable() rejects: control, format, separators other than ' ', private use, surrogates,
// unassigned. These are escaped as \xNN, \uNNNN or \UNNNNNNNN.
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}]|(?! )\p{Zs}/u;

/** repr() of a Python str. */
export function pyReprStr(s: string): string {
  // CPython: use double quotes only when the text has a single quote and no double quote.
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (NON_PRINTABLE.test(ch)) {
      const cp = ch.codePointAt(0)!;
      if (cp < 0x100) out += '\\x' + cp.toString(16).padStart(2, '0');
      else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
      else out += '\\U' + cp.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

/** repr() of a float as CPython prints it (shortest round-trip digits, always a '.', 'e' exponents past 1e16). */
export function pyReprFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const abs = Math.abs(x);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    // JS gives '1e+21' / '1.5e-7'; Python gives '1e+21' / '1.5e-07'.
    const [mant, exp] = x.toExponential().split('e');
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') ? s : s + '.0';
}

/**
 * repr() of a JSON value the way Python sees it after json.loads: integers stay int, other numbers are floats,
 * booleans are True/False, null is None, arrays are lists.
 */
export function pyReprJson(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyReprFloat(v);
  if (typeof v === 'string') return pyReprStr(v);
  if (Array.isArray(v)) return '[' + v.map(pyReprJson).join(', ') + ']';
  if (typeof v === 'object') {
    const items = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyReprStr(k)}: ${pyReprJson(x)}`);
    return '{' + items.join(', ') + '}';
  }
  return String(v);
}
