// A strict JSON parser for file headers: RFC 8259 grammar only, duplicate object keys rejected (JSON.parse silently
// keeps the last one, which would let two tensors claim the same name). Objects become Maps so that keys such as
// "__proto__" are plain data.
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at offset ${position}`);
  }
}

const MAX_DEPTH = 128; // same limit as native/core/json.cpp

export interface StrictJsonOptions {
  /** Reject numbers written with a fraction or exponent (file headers hold only integer sizes and offsets). */
  integersOnly?: boolean;
}

export function parseStrictJson(text: string, options: StrictJsonOptions = {}): JsonValue {
  let i = 0;
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const literal = (word: string, v: JsonValue): JsonValue => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return v;
    }
    return fail('invalid literal');
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            const cu = parseInt(hex, 16);
            i += 4;
            // Unpaired surrogates cannot be encoded as UTF-8; the native parser rejects them too.
            if (cu >= 0xd800 && cu <= 0xdbff) {
              const lo = text.slice(i, i + 6);
              if (!/^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/.test(lo)) fail('unpaired surrogate in \\u escape');
              out += String.fromCharCode(cu, parseInt(lo.slice(2), 16));
              i += 6;
            } else if (cu >= 0xdc00 && cu <= 0xdfff) {
              fail('unpaired surrogate in \\u escape');
            } else {
              out += String.fromCharCode(cu);
            }
            break;
          }
          default:
            i -= 2;
            fail('bad escape');
        }
        start = i;
      } else {
        i++;
      }
    }
  };
  const num = (): number => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('invalid number');
    if (options.integersOnly && (m[2] !== undefined || m[3] !== undefined)) fail(`non-integer number ${m[0]}`);
    const v = Number(m[0]);
    if (!Number.isFinite(v)) fail('number out of range');
    i += m[0].length;
    return v;
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = new Map();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const keyPos = i;
        const key = str();
        if (obj.has(key)) {
          i = keyPos;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj.set(key, value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    return fail(i >= text.length ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return v;
}
