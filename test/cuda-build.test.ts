// The CUDA backend on a machine WITHOUT a GPU (CI): every .cu file was compiled by nvcc into the addon, the addon
// loads without a driver or cuBLAS (no dynamic CUDA dependencies), and asking for device 'cuda' fails with a clear
// error while 'auto' falls back to the CPU. The GPU behaviour itself is tested in test/gpu/*.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { LfmModel } from '../lib/engine/model.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cudaDir = join(root, 'native', 'backend', 'cuda');

function hasTool(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const nvcc = hasTool('nvcc', ['--version']);
const builtWithCuda = process.env.LFM2_CUDA !== '0';
const info = native().backendInfo();

describe.skipIf(!nvcc || !builtWithCuda)('CUDA build (nvcc present)', () => {
  it('reports cudaCompiled: true', () => {
    expect(info.cudaCompiled).toBe(true);
  });

  it('compiled every .cu file into the CUDA library', () => {
    const lib = join(root, 'build', 'liblfm2_cuda.a');
    expect(existsSync(lib), `${lib} missing: run npm run build:native`).toBe(true);
    const members = new Set(execFileSync('ar', ['t', lib], { encoding: 'utf8' }).split('\n').filter(Boolean));
    const sources = readdirSync(cudaDir).filter((f) => f.endsWith('.cu'));
    expect(sources.length).toBeGreaterThanOrEqual(10);
    for (const f of sources) expect(members.has(`${f}.o`), `${f} not compiled into ${lib}`).toBe(true);
  });

  it('links no CUDA library dynamically (the addon must load without a driver or cuBLAS)', () => {
    const addon = [join(root, 'build', 'Release', 'lfm2_rl.node'), join(root, 'build', 'Debug', 'lfm2_rl.node')].find(existsSync);
    expect(addon).toBeDefined();
    const needed = execFileSync('readelf', ['-d', addon!], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('NEEDED'));
    expect(needed.length).toBeGreaterThan(0);
    for (const l of needed) expect(l).not.toMatch(/cuda|cublas|nvidia/i);
  });
});

describe.skipIf(info.cudaUsable)('without a usable GPU', () => {
  it('backendInfo says CUDA is not usable and why', () => {
    expect(info.cudaUsable).toBe(false);
    expect(info.cudaDevices).toBe(0);
    expect(info.cudaReason.length).toBeGreaterThan(10);
  });

  it("resolveDevice: 'auto' and 'cpu' pick the CPU, 'cuda' throws a clear error, unknown names are rejected", () => {
    const n = native();
    expect(n.resolveDevice('auto')).toBe('cpu');
    expect(n.resolveDevice('cpu')).toBe('cpu');
    expect(() => n.resolveDevice('cuda')).toThrow(/device 'cuda' is not available: .+/);
    expect(() => n.resolveDevice('gpu' as 'cuda')).toThrow(/unknown device 'gpu' \(expected 'auto', 'cpu' or 'cuda'\)/);
    const st = n.cudaStatus();
    expect(st.deviceCount).toBe(0);
    expect(st.reason).toBe(info.cudaReason);
  });

  it("LfmModel.load with device 'cuda' rejects before reading any file; CUDA ops throw the same reason", async () => {
    await expect(LfmModel.load(join(root, 'no-such-model'), { device: 'cuda' })).rejects.toThrow(
      /device 'cuda' is not available/,
    );
    expect(() => native().Model.load(join(root, 'no-such-model'), { device: 'cuda' })).toThrow(
      /device 'cuda' is not available: .+/,
    );
    expect(() => native().ops.swiglu({ device: 'cuda', a: new Float32Array([1, 2]), b: new Float32Array([3, 4]), out: new Float32Array(2) })).toThrow(
      /(device 'cuda' is not available|no usable CUDA device|no CUDA device)/,
    );
  });

  it("'auto' loads on the CPU (missing folder: the CPU loader's own error)", async () => {
    await expect(LfmModel.load(join(root, 'no-such-model'), { device: 'auto' })).rejects.toThrow(/no-such-model/);
  });
});
