// Builds the native addon with cmake-js (the build of record). Never downloads anything:
// Node-API headers come from the node-api-headers package, node-addon-api from npm.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Resolved like an import: installed as another project's dependency, cmake-js is usually hoisted out of our folder.
let cmakeJs;
try {
  cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
} catch {
  console.error('cmake-js is not installed; run `npm install` first.');
  process.exit(1);
}
const args = [cmakeJs, 'compile', '--directory', root, '--out', join(root, 'build')];
const buildType = process.env.LFM2_BUILD_TYPE ?? 'Release';
if (buildType === 'Debug') args.push('--debug');
if (process.env.LFM2_CUDA === '0') args.push('--CDLFM2_CUDA=OFF');
// LFM2_CUDA_EMULATION=0 skips lfm2_rl_emu.node (the CUDA backend on the CPU emulator that the GPU suites use
// where there is no GPU). Passed every time so the CMake cache never keeps an earlier OFF.
args.push(`--CDLFM2_CUDA_EMULATION=${process.env.LFM2_CUDA_EMULATION === '0' ? 'OFF' : 'ON'}`);
const jobs = process.env.LFM2_JOBS ?? String(Math.max(1, (await import('node:os')).availableParallelism()));
args.push('--parallel', jobs);
// Concurrent builds of the same tree would corrupt build/: serialise them with flock when it is available.
mkdirSync(join(root, 'build'), { recursive: true });
const hasFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
const r = hasFlock
  ? spawnSync('flock', [join(root, 'build', '.lock'), process.execPath, ...args], { stdio: 'inherit', cwd: root })
  : spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
