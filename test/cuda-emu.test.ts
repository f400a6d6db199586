// The CUDA emulator itself (native/backend/cuda_emu, module lfm2_rl_emu.node): barrier and warp-collective semantics
// against scalar references on fresh random inputs, atomics, the launch errors it must report (divergent barriers,
// deadlocks, shuffles naming exited or missing lanes, bad configurations, memory faults), stream capture with graph
// replay, and the device memory budget. Skips, saying why, when the emulation module is not built.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../lib/engine/native-types.ts';
import { f32, randn, rng } from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

type SelfTest = (name: string, input?: Float32Array) => { values: Record<string, Float64Array>; errors: Record<string, string> };
const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'lfm2_rl_emu.node');
const built = existsSync(path);
const addon = built ? (createRequire(import.meta.url)(path) as NativeAddon & { cudaEmuSelfTest: SelfTest }) : undefined;
const why = built ? '' : `(skipped: ${path} is not built; npm run build:native builds it unless LFM2_CUDA_EMULATION=OFF)`;
if (!built) console.log(`CUDA emulator tests ${why}`);
const selfTest: SelfTest = (name, input) => addon!.cudaEmuSelfTest(name, input);

// Fresh inputs each run; the seed is in the test names and LFM2_TEST_SEED=<seed> replays it.
const { seed } = freshRandom();
const tag = `(seed ${seed})`;

describe.skipIf(!built)(`CUDA emulator ${why}`, () => {
  it('reports itself: emulated CUDA device, auto resolves to the CPU, cuda to the emulated GPU', () => {
    const info = addon!.backendInfo();
    expect(info.cudaEmulated).toBe(true);
    expect(info.cudaUsable).toBe(true);
    expect(info.cudaDeviceName).toBe('CUDA emulator (CPU)');
    expect(addon!.resolveDevice('auto')).toBe('cpu');
    expect(addon!.resolveDevice('cuda')).toBe('cuda');
    expect(addon!.cudaStatus().cublasLt).toBe(false);
  });

  it(`block barrier: block_sum per block matches the float64 sum; without the barrier the sum is wrong ${tag}`, () => {
    const r = rng(seed);
    const n = 256 * 5 + 77;  // a partial last block
    const x = f32(randn(r, n));
    const { values } = selfTest('barrier', x);
    for (let b = 0; b < values.partials.length; b++) {
      let s = 0, mag = 0;
      for (let i = b * 256; i < Math.min(n, (b + 1) * 256); i++) (s += x[i]), (mag += Math.abs(x[i]));
      // 256 FP32 additions in a tree: |err| ≤ 8·2^-24·Σ|x| (depth 8), with margin.
      expect(Math.abs(values.partials[b] - s)).toBeLessThanOrEqual(16 * 2 ** -24 * mag);
    }
    // The barrier makes block_sum independent of the order threads take turns in: bit-identical both ways.
    expect(Array.from(values.partialsOtherOrder)).toEqual(Array.from(values.partials));
    // Without __syncthreads, thread 0 reads the slots of threads 1..255: in ascending order (the default) it runs
    // before they write and misses them; in descending order (LFM2_CUDA_EMU_ORDER=reverse) it runs after them.
    // A result that changes with the order is how the emulator exposes such a race.
    let s0 = 0, mag0 = 0;
    for (let i = 0; i < 256; i++) (s0 += x[i]), (mag0 += Math.abs(x[i]));
    // The second launch scales x by −1 so stale shared memory from the first cannot pass for fresh writes.
    const [ascending, descending, sAsc, sDesc] = values.reversed[0]
      ? [values.racyOtherOrder[0], values.racy[0], -s0, s0]
      : [values.racy[0], values.racyOtherOrder[0], s0, -s0];
    expect(Math.abs(ascending - sAsc)).toBeGreaterThan(1e-3);
    expect(Math.abs(descending - sDesc)).toBeLessThanOrEqual(256 * 2 ** -24 * mag0);  // 255 sequential FP32 additions
  });

  it(`warp shuffles (xor, up, down, idx, width 8, double), warp_sum and ballot match a scalar reference ${tag}`, () => {
    const r = rng(seed + 1);
    const x = f32(randn(r, 64));
    const { values } = selfTest('shuffle', x);
    const out = (k: number, t: number) => values.out[k * 64 + t];
    for (let t = 0; t < 64; t++) {
      const w = t & ~31, lane = t & 31;
      expect(out(0, t)).toBe(x[w + (lane ^ 5)]);
      expect(out(1, t)).toBe(lane < 3 ? x[t] : x[t - 3]);
      expect(out(2, t)).toBe(lane + 5 >= 32 ? x[t] : x[t + 5]);
      expect(out(3, t)).toBe(x[w + ((lane * 7) % 32)]);
      expect(out(4, t)).toBe((lane & 7) + 2 >= 8 ? x[t] : x[t + 2]);
      expect(out(6, t)).toBe(Math.fround(2 * x[w + (lane ^ 16)]));
      // Butterfly sum of 32 values in FP32: every lane gets the same value, within 5·2^-24·Σ|x| of the exact sum.
      let s = 0, mag = 0;
      for (let l = 0; l < 32; l++) (s += x[w + l]), (mag += Math.abs(x[w + l]));
      expect(Math.abs(out(5, t) - s)).toBeLessThanOrEqual(5 * 2 ** -24 * mag);
      expect(out(5, t)).toBe(out(5, w));
    }
    for (let wi = 0; wi < 2; wi++) {
      let b = 0;
      for (let l = 0; l < 32; l++) if (x[wi * 32 + l] > 0) b |= 1 << l;
      expect(values.ballot[wi]).toBe(b >>> 0);
    }
  });

  it(`atomics: float/double/int add, max and a CAS loop over many threads ${tag}`, () => {
    const r = rng(seed + 2);
    const n = 1000;
    const x = f32(randn(r, n));
    const { values } = selfTest('atomics', x);
    for (let b = 0; b < 7; b++) {
      let s = 0, mag = 0;
      for (let i = b; i < n; i += 7) (s += x[i]), (mag += Math.abs(x[i]));
      // ≤ 143 sequential FP32 additions: |err| ≤ 143·2^-24·Σ|x|.
      expect(Math.abs(values.bins[b] - s)).toBeLessThanOrEqual(143 * 2 ** -24 * mag);
    }
    let s = 0, mx = -Infinity;
    for (let i = 0; i < n; i++) (s += x[i]), (mx = Math.max(mx, Math.round(x[i] * 1000)));
    expect(Math.abs(values.dsum[0] - s)).toBeLessThan(1e-9);  // double additions of float inputs
    expect(Array.from(values.ints)).toEqual([n, mx, 2 * n]);
  });

  it('divergent barriers, deadlocks and shuffles naming exited or missing lanes are launch errors naming the kernel', () => {
    const { errors, values } = selfTest('divergence');
    // Which side is seen first depends on the lane order (LFM2_CUDA_EMU_ORDER); both name the barrier.
    expect(errors.earlyExit).toMatch(/cudaErrorLaunchFailure: kernel `early_exit_barrier_kernel`.*(reached __syncthreads\(\) \(self_test\.cu:\d+\) after 16 of the block's 128 threads exited|exited while 112 threads wait at __syncthreads\(\) \(self_test\.cu:\d+\))/);
    expect(errors.splitBarrier).toMatch(/split_barrier_kernel.*__syncthreads\(\) at self_test\.cu:\d+ while 64 threads wait at self_test\.cu:\d+ \(divergent __syncthreads\)/);
    expect(errors.exitedLane).toMatch(/exited_lane_shuffle_kernel.*(exited while lanes 0-15 wait for it in __shfl_xor_sync \(mask 0xffffffff\)|__shfl_xor_sync with mask 0xffffffff naming lanes 16-31 that have exited)/);
    expect(errors.deadlock).toMatch(/warp_vs_barrier_kernel.*deadlock.*48 of 64 threads wait at __syncthreads\(\).*lanes 0-7 wait in __shfl_xor_sync .* for lanes 8-31, which wait at __syncthreads\(\)/);
    expect(errors.partialWarp).toMatch(/partial_warp_kernel.*mask 0xffffffff naming lanes 16-31 that do not exist/);
    // Not sticky: the next launch runs; and through LFM2_LAUNCH the error becomes an lfm2::Error (a JS exception).
    expect(errors.after).toBe('');
    expect(Array.from(values.after)).toEqual([3, 3, 3, 3]);
    expect(errors.thrown).toMatch(/^CUDA error 719 \(cudaErrorLaunchFailure: kernel `early_exit_barrier_kernel`/);
  });

  it('bad launch configurations are rejected before running, as on a compute capability 9.0 device', () => {
    const { errors } = selfTest('launch');
    expect(errors.block2048).toMatch(/cudaErrorInvalidConfiguration: kernel `fill_kernel` <<<\(1,1,1\), \(2048,1,1\), 0>>>/);
    expect(errors.blockZ65).toMatch(/cudaErrorInvalidConfiguration/);
    expect(errors.gridZero).toMatch(/cudaErrorInvalidConfiguration.*zero dimension/);
    expect(errors.gridY).toMatch(/cudaErrorInvalidConfiguration.*grid dims/);
    expect(errors.smem64k).toMatch(/cudaErrorInvalidValue.*65536 bytes of dynamic shared memory exceed the 49152-byte limit/);
    expect(errors.smem64kOptin).toBe('');  // after cudaFuncSetAttribute(MaxDynamicSharedMemorySize = 100 KiB)
    expect(errors.smem300k).toMatch(/exceed the 102400-byte limit/);
    expect(errors.ok1024).toBe('');
    expect(errors.destroyedStream).toMatch(/^cudaErrorInvalidResourceHandle: fill_kernel: stream is not a live stream.* \| cudaErrorInvalidResourceHandle: cudaStreamSynchronize/);
  });

  it(`stream capture records launches and copies; only cudaGraphLaunch runs them, and replays see new inputs ${tag}`, () => {
    const r = rng(seed + 3);
    const n = 300;
    const x = f32(randn(r, n));
    const { values, errors } = selfTest('graph', x);
    expect(Array.from(values.capturing)).toEqual([1]);
    expect(Array.from(values.nodes)).toEqual([3]);  // fill, axpy, copy
    expect(Array.from(values.beforeLaunch)).toEqual(new Array(n).fill(-1));  // pinned output untouched
    expect(Array.from(values.deviceBeforeLaunch)).toEqual(new Array(n).fill(0));  // device buffer untouched
    // y = 1 + 2·x: one FP32 multiply-add per element (exact product, one rounding).
    expect(Array.from(values.afterLaunch)).toEqual(Array.from(x, (v) => Math.fround(1 + Math.fround(2 * v))));
    expect(Array.from(values.afterReplay)).toEqual(Array.from(x, (v) => Math.fround(1 + Math.fround(-2 * v))));
    // Fork/join through events: the second stream's fill (5) is recorded between the two event records.
    expect(Array.from(values.forkNodes)).toEqual([4]);
    expect(Array.from(values.forkStillCapturing)).toEqual([0]);
    expect(Array.from(values.forkJoin)).toEqual(new Array(n).fill(5));
    expect(Array.from(values.afterCapture)).toEqual([7, 7]);
    expect(errors.mallocGlobal).toMatch(/cudaErrorStreamCaptureUnsupported: cudaMalloc.*\| end: cudaErrorStreamCaptureInvalidated/);
    expect(errors.mallocRelaxed).toBe(' | end: ');  // allowed in Relaxed mode
    expect(errors.pageable).toMatch(/pageable host memory.*\| end: cudaErrorStreamCaptureInvalidated/);
    expect(errors.syncCapturing).toMatch(/cudaStreamSynchronize: the stream is capturing.*\| end: cudaErrorStreamCaptureInvalidated/);
    expect(errors.legacyCapture).toMatch(/legacy\/default stream cannot be captured/);
  });

  it('device memory: a fixed budget, fresh memory poisoned, over-budget, double-free and stray copies are errors', () => {
    const { values, errors } = selfTest('memory');
    const [free0, free1, free2, total, word] = Array.from(values.info);
    expect(total).toBe(Number(process.env.LFM2_CUDA_EMU_MEMORY ?? 8 * 2 ** 30));
    expect(free0 - free1).toBe(2 ** 20);
    expect(free2).toBe(free0);
    expect(word).toBe(0xffffffff);
    expect(errors.overBudget).toMatch(/cudaErrorMemoryAllocation: out of memory: cudaMalloc of \d+ bytes/);
    expect(Array.from(values.bigIsNull)).toEqual([1]);
    expect(errors.doubleFree).toMatch(/cudaErrorInvalidValue: cudaFree.*not the start of a live cudaMalloc allocation/);
    expect(errors.strayCopy).toMatch(/destination \[0x[0-9a-f]+, \+16\) is not inside one live cudaMalloc allocation/);
    expect(Array.from(values.props)).toEqual([9, 0, 132, 32]);
    expect(errors.name).toBe('CUDA emulator (CPU)');
  });

  it('a wild store or a fiber stack overflow in a kernel is cudaErrorIllegalAddress naming the thread, not a crash', () => {
    const { errors, values } = selfTest('fault');
    expect(errors.wildStore).toMatch(/^cudaErrorIllegalAddress: kernel `wild_store_kernel` .* thread \(5,0,0\): illegal memory access at 0x[0-9a-f]+ \(SIGSEGV\)$/);
    expect(errors.stackOverflow).toMatch(/^cudaErrorIllegalAddress: kernel `deep_recursion_kernel` .*overflowed its fiber stack \(raise LFM2_CUDA_EMU_STACK_KB\)/);
    expect(errors.after).toBe('');
    expect(Array.from(values.after)).toEqual([2, 2]);
  });

  it('an unknown self-test case is a clear error', () => {
    expect(() => selfTest('nope')).toThrow(/unknown case 'nope'/);
  });
});
