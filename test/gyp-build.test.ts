import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';

// `make test` builds the addon a second time with node-gyp from bindings.gyp (scripts/node-gyp-build.sh).
// This checks that the node-gyp build exists and exposes exactly the same API as the cmake-js build.
const gypAddon = new URL('../build-gyp/build/Release/lfm2_rl.node', import.meta.url).pathname;

describe('bindings.gyp (node-gyp build)', () => {
  it.skipIf(!existsSync(gypAddon) && !process.env.CI)('exports the same functions as the cmake-js build', () => {
    expect(existsSync(gypAddon), 'run scripts/node-gyp-build.sh (make test does)').toBe(true);
    const req = createRequire(import.meta.url);
    const gyp = req(gypAddon) as Record<string, unknown>;
    const cmake = native() as unknown as Record<string, unknown>;
    expect(Object.keys(gyp).sort()).toEqual(Object.keys(cmake).sort());
    expect((gyp.backendInfo as () => { threads: number })().threads).toBeGreaterThanOrEqual(1);
  });
});
