// The GPU LFM2 engine against the CPU engine on the same BF16 weights, and its incremental states against its own
// full forward. Skips (reason printed) without a usable GPU.
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../../lib/engine/model.ts';
import { native } from '../../lib/engine/native.ts';
import { presetConfig } from '../../lib/engine/presets.ts';
import { mulberry32, writeRandomModel } from '../../lib/engine/init-weights.ts';
import { tempDir } from '../util/temp-dir.ts';
import { freshRandom } from '../util/random.ts';
import { emulated, gpu, skipReason } from './gpu-available.ts';

// LFM2_TEST_SEED replays a failing run's seed (printed in the suite name).
const { seed } = freshRandom();
const V = 512;

function randomTokens(n: number, s: number): Int32Array {
  const r = mulberry32(s);
  return Int32Array.from({ length: n }, () => Math.floor(r() * V));
}

// Both engines round GEMM inputs to BF16 (CPU precision 'fast'); their FP32 sums run in different orders, so an
// activation near a BF16 rounding boundary can land one BF16 ulp (2^-8 relative) apart and the difference travels
// through the 6 layers. 2% of the largest logit covers that; an indexing or layout mistake moves logits by O(1).
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string) {
  expect(got.length, what).toBe(want.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < got.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  expect(maxRef, what).toBeGreaterThan(0.5);
  expect(maxDiff, `${what}: max diff ${maxDiff} vs max |ref| ${maxRef}`).toBeLessThanOrEqual(rel * maxRef);
}

// Where the CPU has no AVX-512 BF16, its 'fast' precision computes in FP32 (it cannot round GEMM inputs to BF16),
// so the GPU engine's BF16 rounding of every GEMM input (2^-9 relative each) is a systematic difference rather
// than rare boundary flips: measured 1–3.5% of the largest logit after the 6 layers, hence 6%. A layout or indexing
// mistake still moves logits by O(1), i.e. ≥ 15% of the largest.
const engineRel = native().backendInfo().avx512bf16 ? 2e-2 : 6e-2;

describe.skipIf(!gpu)(`CUDA model ${skipReason} (seed ${seed})`, () => {
  const dir = tempDir('lfm2-gpu-model-');
  let cpu: LfmModel, cuda: LfmModel;
  beforeAll(async () => {
    writeRandomModel(dir, presetConfig('tiny'), { seed: seed % 100000, dtype: 'bf16', std: 0.2 });
    cpu = await LfmModel.load(dir, { device: 'cpu' });
    cuda = await LfmModel.load(dir, { device: 'cuda' });
  });

  it("loads on 'cuda' and 'auto' picks the GPU (the CPU when the GPU is the emulator)", async () => {
    expect(cuda.device).toBe('cuda');
    expect(cpu.device).toBe('cpu');
    expect((await LfmModel.load(dir, { device: 'auto' })).device).toBe(emulated ? 'cpu' : 'cuda');
    expect(cuda.config).toEqual(cpu.config);
  });

  it('ragged batch forward: every logit row and the hidden states match the CPU engine', async () => {
    const seqs = [randomTokens(1, seed), randomTokens(13, seed + 1), randomTokens(150, seed + 2), randomTokens(4, seed + 3)];
    const want = await cpu.forward(seqs, { logits: 'all', hidden: true, precision: 'fast' });
    const got = await cuda.forward(seqs, { logits: 'all', hidden: true });
    expect(Array.from(got.logitRows)).toEqual(Array.from(want.logitRows));
    expectClose(got.logits, want.logits, engineRel, 'logits');
    expectClose(got.hidden!, want.hidden!, engineRel, 'hidden');
    const last = await cuda.forward(seqs, { logits: 'last' });
    expect(Array.from(last.logitRows)).toEqual([0, 13, 163, 167]);
  });

  it('prefill (whole and chunked) then batched one-token decode equals the full forward', async () => {
    const full = [randomTokens(20, seed + 4), randomTokens(9, seed + 5), randomTokens(33, seed + 6)];
    const ref = await cuda.forward(full, { logits: 'all' });
    const states = full.map(() => cuda.createState());
    const prompt = [12, 3, 25];
    // sequence 0 prefilled in two chunks
    await cuda.advance([states[0]], [full[0].subarray(0, 5)], { logits: 'none' });
    await cuda.advance(
      states,
      full.map((s, i) => s.subarray(i === 0 ? 5 : 0, prompt[i])),
      { logits: 'none' },
    );
    const rowOf = (seq: number, t: number) => full.slice(0, seq).reduce((a, s) => a + s.length, 0) + t;
    for (let step = 0; step < 6; step++) {
      const toks = full.map((s, i) => s[prompt[i] + step]);
      const lg = await cuda.decodeBatch(states, toks);
      full.forEach((_, i) => {
        const r = rowOf(i, prompt[i] + step);
        expectClose(lg.subarray(i * V, (i + 1) * V), ref.logits.subarray(r * V, (r + 1) * V), 1e-2, `seq ${i} step ${step}`);
      });
    }
    expect(states.map((s) => s.length)).toEqual(prompt.map((p) => p + 6));
  });

  it('forked states continue independently; a rejected call leaves states unchanged', async () => {
    const s = cuda.createState();
    const toks = randomTokens(30, seed + 7);
    await cuda.prefill(s, toks.subarray(0, 10));
    const f = s.fork();
    expect(f.length).toBe(10);
    const a = await cuda.decodeBatch([s], [toks[10]]);
    const b = await cuda.decodeBatch([f], [toks[10]]);
    expectClose(b, a, 1e-6, 'fork');
    await expect(cuda.advance([s], [Int32Array.of(1, V)])).rejects.toThrow(/token 1 = 512 outside \[0, 512\)/);
    expect(s.length).toBe(11);
    await expect(cuda.advance([s, s], [Int32Array.of(1), Int32Array.of(2)])).rejects.toThrow(/twice/);
    s.free();
    f.free();
    expect(s.freed).toBe(true);
  });

  it('the state memory cap is enforced with a clear error', async () => {
    const small = (await LfmModel.load(dir, { device: 'cuda', stateBytesCap: 64 * 1024 })).native;
    expect(small.memory().stateBytesCap).toBe(64 * 1024);
    const st = small.createState();
    await expect(small.advance([st], [randomTokens(400, seed + 8)])).rejects.toThrow(/state memory cap/);
    expect(st.length).toBe(0);
  });
});
