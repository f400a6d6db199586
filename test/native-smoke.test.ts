import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { freshRandom } from './util/random.ts';

// Random GEMM inputs for the thread-pool check; a failure names the seed, and LFM2_TEST_SEED=<seed> replays it.
const { rand, tag } = freshRandom();

describe('native addon', () => {
  it('loads and reports its backend', () => {
    const info = native().backendInfo();
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(typeof info.cudaCompiled).toBe('boolean');
  });
  it('rejects a bad thread count with a RangeError instead of crashing', () => {
    expect(() => native().setThreads(0)).toThrow(RangeError);
  });
});

describe('thread pool', () => {
  it('stays correct when resized after it has run work (new workers must not rerun the finished job)', () => {
    const n = native();
    const before = n.backendInfo().threads;
    const m = 37, k = 29, cols = 41;
    const a = Float32Array.from({ length: m * k }, () => rand() - 0.5);
    const b = Float32Array.from({ length: cols * k }, () => rand() - 0.5);
    const ref = new Float64Array(m * cols);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
        ref[i * cols + j] = s;
      }
    try {
      for (const threads of [2, 1, 3, 2, 4]) {
        n.setThreads(threads);
        expect(n.backendInfo().threads).toBe(threads);
        const c = new Float32Array(m * cols).fill(Number.NaN);
        n.ops.gemm({ op: 'nt', m, n: cols, k, a, b, c, impl: 'portable' });
        // K = 29 products of values in [-0.5, 0.5]: FP32 summation error stays far below 1e-5.
        for (let i = 0; i < c.length; i++) expect(Math.abs(c[i] - ref[i]), tag(`threads=${threads} c[${i}]`)).toBeLessThan(1e-5);
      }
    } finally {
      n.setThreads(before);
    }
  });
});
