// Seeded random numbers for task pages: `Math.seedrandom(seed)` replaces `Math.random` with a deterministic
// stream, the contract MiniWoB pages and their harnesses (BrowserGym, Farama) rely on. The generator is our own:
// seed → key string → four 32-bit lanes (multiply-xor hashing + murmur3 finaliser) → sfc32 (Small Fast Counter,
// public-domain algorithm) → 53-bit doubles in [0, 1). Streams therefore differ from real MiniWoB pages for the same
// seed; what matters is same seed → same page.
//
// Numbers and strings are distinct seeds (a number's key gets a trailing "\0"), as in MiniWoB's seedrandom, so a
// harness must pass the page seed as a JS number.
//
// The source is a page script (a string): it runs inside the browser, never in Node. The float64/BigInt reference
// used by the tests lives in test/env-tasks-prng.test.ts.

/** Lane start values: fractional bits of the golden ratio, pi, e and sqrt(2) (nothing-up-my-sleeve constants). */
export const PRNG_LANE_INIT = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x6a09e667] as const;
/** Odd per-lane multipliers for hashing the key's UTF-16 code units. */
export const PRNG_LANE_MUL = [0x01000193, 0x5bd1e995, 0x27d4eb2f, 0x165667b1] as const;
/** Outputs thrown away after seeding so that similar keys decorrelate. */
export const PRNG_WARMUP = 16;

export const PRNG_JS = `
(function (M) {
  var LANE_INIT = [${PRNG_LANE_INIT.join(', ')}];
  var LANE_MUL = [${PRNG_LANE_MUL.join(', ')}];
  function keyOf(seed) {
    if (typeof seed === 'number') return String(seed) + '\\0';
    if (typeof seed === 'string') return seed;
    return JSON.stringify(seed);
  }
  function fmix32(h) {
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
  function lanesOf(key) {
    var h = LANE_INIT.slice();
    for (var i = 0; i < key.length; i++) {
      var k = key.charCodeAt(i);
      for (var j = 0; j < 4; j++) {
        h[j] = Math.imul(h[j] ^ k, LANE_MUL[j]);
        h[j] = (h[j] << 13) | (h[j] >>> 19);
      }
    }
    for (var j2 = 0; j2 < 4; j2++) h[j2] = fmix32(h[j2] ^ key.length);
    return h;
  }
  function sfc32(s) {
    var a = s[0] | 0, b = s[1] | 0, c = s[2] | 0, d = s[3] | 0;
    return function () {
      var t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      return t >>> 0;
    };
  }
  function autoSeed() {
    var words = [Date.now(), typeof performance !== 'undefined' ? performance.now() : 0];
    if (typeof crypto !== 'undefined' && crypto.getRandomValues) {
      var buf = new Uint32Array(4); crypto.getRandomValues(buf);
      for (var i = 0; i < 4; i++) words.push(buf[i]);
    }
    return words.join(':');
  }
  /** Replace Math.random with the stream of \`seed\`; returns the key actually used. */
  M.seedrandom = function (seed) {
    var key = seed === undefined || seed === null ? autoSeed() : keyOf(seed);
    var next = sfc32(lanesOf(key));
    for (var i = 0; i < ${PRNG_WARMUP}; i++) next();
    M.random = function () {
      var hi = next() >>> 5, lo = next() >>> 6;   // 27 + 26 = 53 random bits
      return (hi * 67108864 + lo) / 9007199254740992;
    };
    return key;
  };
})(Math);
`;
