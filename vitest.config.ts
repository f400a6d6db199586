import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

// Which addon the GPU suites (test/gpu) load: the normal one when it sees a usable GPU, else the CUDA emulation
// module (lfm2_rl_emu.node: the CUDA backend on the CPU) when it is built; with neither they skip and say why.
// LFM2_ADDON set by the caller wins; LFM2_GPU_TESTS=emu forces the emulator even on a GPU machine.
function gpuSuiteEnv(): Record<string, string> {
  if (process.env.LFM2_ADDON) return {};
  const normal = join(root, 'build', 'Release', 'lfm2_rl.node');
  const emu = join(root, 'build', 'Release', 'lfm2_rl_emu.node');
  if (process.env.LFM2_GPU_TESTS !== 'emu' && existsSync(normal)) {
    // A child process: loading the addon here would keep it (and its threads) in vitest's main process.
    const probe = `process.stdout.write(String(require(${JSON.stringify(normal)}).backendInfo().cudaUsable))`;
    const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
    if (r.stdout === 'true') return {};
  }
  return existsSync(emu) ? { LFM2_ADDON: emu } : {};
}

// Native and browser tests share 2 cores: run files in forked workers, a few at a time.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/gpu/**'] },
      },
      {
        extends: true,
        // On the emulator every CUDA thread is a fiber on one core: allow the larger kernels more time. The op suite
        // (test/ops.test.ts) runs here a second time, on the CUDA backend.
        test: {
          name: 'gpu',
          include: ['test/gpu/**/*.test.ts', 'test/ops.test.ts'],
          env: { ...gpuSuiteEnv(), LFM2_OPS_DEVICE: 'cuda' },
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
