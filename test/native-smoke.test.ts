import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';

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
