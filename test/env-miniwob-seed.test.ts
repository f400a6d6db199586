// BrowserGym's env-seed → page-seed mapping (numpy RandomState(seed).randint(0, 1000000)) and its MT19937.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { miniwobTaskUrl, MINIWOB_TASKS, MT19937, pageSeedFromEnvSeed } from '../lib/env/miniwob.ts';
import { freshRandom } from './util/random.ts';

// Fresh random env seeds each run; the seed of that stream is in the suite name and LFM2_TEST_SEED=<seed> replays it.
const { rand, seed: streamSeed } = freshRandom();

describe('MT19937', () => {
  it('matches the reference generator (mt19937ar.c, C++ std::mt19937)', () => {
    // First outputs for the default seed 5489 from the reference implementation.
    const mt = new MT19937(5489);
    expect([mt.nextUint32(), mt.nextUint32(), mt.nextUint32()]).toEqual([3499211612, 581869302, 3890346734]);
    // The C++ standard requires the 10000th output of a default-seeded mt19937 to be 4123659995.
    const mt2 = new MT19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = mt2.nextUint32();
    expect(v).toBe(4123659995);
  });
});

describe(`pageSeedFromEnvSeed (seed ${streamSeed})`, () => {
  it('reproduces the BrowserGym test vectors', () => {
    // Table from the browser-env reference: env seed → page seed passed to Math.seedrandom.
    expect([0, 1, 42, 123].map(pageSeedFromEnvSeed)).toEqual([985772, 128037, 121958, 773630]);
  });

  it('is the first 20-bit masked draw that is ≤ 999999 (rejection sampling), for random seeds', () => {
    let rejected = 0;
    for (let k = 0; k < 2000; k++) {
      const seed = (rand() * 2 ** 32) >>> 0;
      const mt = new MT19937(seed);
      let expected = mt.nextUint32() & 0xfffff;
      if (expected > 999_999) {
        rejected += 1;
        while (expected > 999_999) expected = mt.nextUint32() & 0xfffff;
      }
      const got = pageSeedFromEnvSeed(seed);
      expect(got).toBe(expected);
      expect(got).toBeGreaterThanOrEqual(0);
      expect(got).toBeLessThan(1_000_000);
    }
    // (2^20 − 10^6) / 2^20 ≈ 4.6% of first draws are rejected: 2000 seeds must hit that branch.
    expect(rejected).toBeGreaterThan(20);
  });

  const numpy =
    spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0 ? 'python3' : undefined;
  it.skipIf(!numpy)('equals numpy RandomState(seed).randint(0, 1000000) on random seeds', () => {
    const seeds = Array.from({ length: 50 }, () => (rand() * 2 ** 32) >>> 0);
    const out = spawnSync(
      numpy!,
      [
        '-c',
        'import json,sys,numpy as np\n' +
          'print(json.dumps([int(np.random.RandomState(s).randint(0,1000000)) for s in json.load(sys.stdin)]))',
      ],
      { input: JSON.stringify(seeds), encoding: 'utf8' },
    );
    expect(out.status).toBe(0);
    expect(seeds.map(pageSeedFromEnvSeed)).toEqual(JSON.parse(out.stdout));
  });

  it('rejects seeds numpy would reject', () => {
    expect(() => pageSeedFromEnvSeed(-1)).toThrow(RangeError);
    expect(() => pageSeedFromEnvSeed(2 ** 32)).toThrow(RangeError);
    expect(() => pageSeedFromEnvSeed(1.5)).toThrow(RangeError);
  });
});

describe('MiniWoB task URLs', () => {
  it('concatenates base + task + .html like BrowserGym, adding the missing slash', () => {
    expect(miniwobTaskUrl('file:///x/miniwob/html/miniwob/', 'click-test')).toBe('file:///x/miniwob/html/miniwob/click-test.html');
    expect(miniwobTaskUrl('http://localhost:8888/miniwob', 'enter-text')).toBe('http://localhost:8888/miniwob/enter-text.html');
    expect(() => miniwobTaskUrl('http://h/', '../etc/passwd')).toThrow(RangeError);
  });

  it('knows the 125 tasks BrowserGym registers, including the ten reference tasks', () => {
    expect(MINIWOB_TASKS).toHaveLength(125);
    expect(new Set(MINIWOB_TASKS).size).toBe(125);
    const reference = ['click-test', 'click-button', 'click-link', 'enter-text', 'focus-text', 'click-checkboxes'];
    reference.push('login-user', 'choose-list', 'click-dialog', 'book-flight');
    for (const t of reference) {
      expect(MINIWOB_TASKS).toContain(t);
    }
  });
});
