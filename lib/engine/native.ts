// Loads the compiled addon. The exact shape of the native module is declared in native-types.ts.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './native-types.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const candidates = [
  process.env.LFM2_ADDON,
  join(root, 'build', 'Release', 'lfm2_rl.node'),
  join(root, 'build', 'Debug', 'lfm2_rl.node'),
].filter((p): p is string => !!p);

let cached: NativeAddon | undefined;

/** The native addon; throws a clear error telling how to build it when it is missing. */
export function native(): NativeAddon {
  if (cached) return cached;
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error(`lfm2-rl native addon not found (looked in ${candidates.join(', ')}); run \`npm install\` or \`make build\``);
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeAddon;
  return cached;
}
