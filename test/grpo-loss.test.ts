// Fused GRPO loss (native/model/grpo_loss) against the float64 TRL-formula reference in test/ref/train-ref.ts.
//
// Tolerances (max |got − want| / (atol + rtol·|want|) ≤ 1):
// - reference gradient vs central finite differences of the reference loss (float64, h = 1e-5): atol 1e-8·scale,
//   rtol 1e-6 — truncation ≈ h² and cancellation ≈ 1e-16/h are both far below that.
// - native (FP32 logits over C = 8 terms, softmax over V = 37, FP32 ratios) vs reference on FP32-rounded inputs:
//   rtol 1e-4 with atol 1e-5·scale; every quantity is a few dozen FP32 operations deep (relative error ~1e-6).
// - the aggregated loss is a signed sum that can cancel, so its absolute tolerance is 1e-5 × the same sum of |terms|
//   (GrpoRefOutput.lossAbs) rather than of the loss itself.
// - counts (clip statistics, tokens) are exact. Token accuracy (`correct`) is exact too, except that a row whose target
//   logit is within 1e-4·max|z| of the best other one (no exact tie) may go either way in FP32 (≈1e-6 relative logit
//   error here): the reference counts those rows (correctSlack, almost always 0) and the count may differ by that much.
// - sft (l = −logp, temperature 1) has the same error sources as dapo with ρ = 1 and A = −1, so the same tolerances.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import type { EngineLossType, GrpoLossArgs } from '../lib/engine/native-types.ts';
import * as ref from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

const ops = () => native().ops;
const { rand: R, tag } = freshRandom();
const maxAbs = (v: ArrayLike<number>) => Math.max(1e-30, ...Array.from(v, Math.abs));

function closeLoss(what: string, got: number, want: number, lossAbs: number) {
  const err = Math.abs(got - want);
  expect(err, tag(`${what}: |${got} − ${want}| vs term scale ${lossAbs}`)).toBeLessThanOrEqual(1e-5 * lossAbs + 1e-4 * Math.abs(want));
}

function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-4, atolScale = 1e-5) {
  const w = ref.worstRatio(got, want, atolScale * maxAbs(want), rtol);
  expect(w, tag(`${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
}

function closeCorrect(got: number, want: ref.GrpoRefOutput) {
  expect(Math.abs(got - want.correct), tag(`correct ${got} vs ${want.correct} (near-tie rows ${want.correctSlack})`)).toBeLessThanOrEqual(want.correctSlack);
}

/** FP32 → BF16 bits, round to nearest even (what the native f32_to_bf16 does). */
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer.slice(0));
  return Uint16Array.from(u, (b) => ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff);
}
function fromBf16(h: Uint16Array): Float64Array {
  return ref.f64(new Float32Array(Uint32Array.from(h, (b) => b << 16).buffer));
}

const N = 12, V = 37, C = 8;

/** Rows whose target is made the argmax of their logits (row 4 is masked), so token accuracy has hits to count. */
const ARGMAX_ROWS = [2, 4, 5, 8, 11];

/** A batch of 3 sequences with interleaved rows, two masked rows holding junk old/ref log-probs, and rows built to be
 *  clipped on each side: row 0 (A < 0, ρ ≈ 0.61) low-clipped, row 1 (A > 0, ρ ≈ 1.65) high-clipped. For sft the
 *  native arguments carry no advantages and no old log-probs (it uses neither). */
function makeCase(lossType: EngineLossType, beta: number, opts: { bf16?: boolean; temperature?: number; detachedOld?: boolean; weighted?: boolean } = {}) {
  const hidden = ref.f64(ref.f32(ref.randn(R, N * C)));
  let head = ref.f64(ref.f32(ref.randn(R, V * C, 0.7)));
  let headArr: Float32Array | Uint16Array = ref.f32(head);
  if (opts.bf16) {
    headArr = toBf16(ref.f32(head));
    head = fromBf16(headArr);
  }
  let targets = Array.from({ length: N }, () => Math.floor(R() * V));
  const seqIds = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 0];
  // sft token weights (sft.prompt_loss_weight): FP32 values in [0.05, 2] on the unmasked rows.
  const mask = [1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1].map((m) => (m && opts.weighted ? Math.fround(0.05 + 1.95 * R()) : m));
  const advantages = ref.f64(ref.f32(ref.randn(R, N)));
  advantages[0] = -Math.abs(advantages[0]) - 0.1;
  advantages[1] = Math.abs(advantages[1]) + 0.1;
  let base: ref.GrpoRefInput = {
    N, V, C, hidden, head, targets, advantages, mask, seqIds, lossType,
    epsLow: 0.2, epsHigh: 0.28, beta, temperature: opts.temperature ?? 1, maxCompletionLength: 16,
  };
  const argmax = ref.grpoLossRef({ ...base, beta: 0 }).argmax;
  targets = targets.map((t, n) => (ARGMAX_ROWS.includes(n) ? argmax[n] : t));
  base = { ...base, targets };
  const cur = ref.grpoLossRef({ ...base, beta: 0 }).logp; // current log-probs, to place the old ones around them
  const shift = ref.uniform(R, N, -0.5, 0.5);
  shift[0] = 0.5;
  shift[1] = -0.5;
  const oldLogp = opts.detachedOld ? undefined : ref.f64(ref.f32(cur.map((v, i) => v + shift[i])));
  const refLogp = ref.f64(ref.f32(cur.map((v) => v + 0.3 * (R() - 0.5))));
  if (oldLogp) oldLogp[4] = NaN; // masked rows: junk must never reach an exp
  refLogp[9] = Infinity;
  const inp: ref.GrpoRefInput = { ...base, oldLogp, refLogp };
  const sft = lossType === 'sft';
  const args: GrpoLossArgs = {
    rows: N, vocab: V, dim: C, hidden: ref.f32(hidden), head: headArr, targets: Int32Array.from(targets),
    oldLogp: oldLogp && !sft ? ref.f32(oldLogp) : undefined, refLogp: ref.f32(refLogp),
    advantages: sft ? undefined : ref.f32(advantages), mask: ref.f32(mask), seqIds: Int32Array.from(seqIds), lossType,
    epsilonLow: 0.2, epsilonHigh: 0.28, beta, temperature: opts.temperature ?? 1, maxCompletionLength: 16,
  };
  return { inp, args };
}

function runNative(args: GrpoLossArgs, extra: Partial<GrpoLossArgs> = {}) {
  const dhidden = new Float32Array(N * C).fill(NaN); // written, so prior contents must not matter
  const dhead = new Float32Array(V * C);
  const logp = new Float32Array(N), entropy = new Float32Array(N);
  const stats = ops().grpoLoss({ ...args, dhidden, dhead, logp, entropy, ...extra });
  return { stats, dhidden, dhead, logp, entropy };
}

describe('GRPO loss reference', () => {
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const)
    for (const beta of [0, 0.04]) {
      it(`${lossType}, beta ${beta}: analytic dH and dE equal finite differences of the loss`, () => {
        const { inp } = makeCase(lossType, beta, { temperature: 0.7 });
        const out = ref.grpoLossRef(inp);
        const old = out.logp; // only used where oldLogp is absent
        const fdH = ref.finiteDiff((h) => ref.grpoLossValue(inp, h, inp.head, old), Float64Array.from(inp.hidden));
        const fdE = ref.finiteDiff((e) => ref.grpoLossValue(inp, inp.hidden, e, old), Float64Array.from(inp.head));
        close('ref dH vs fd', out.dH, fdH, 1e-6, 1e-8);
        close('ref dE vs fd', out.dE, fdE, 1e-6, 1e-8);
        expect(out.clipLow, tag('row 0 is low-clipped')).toBeGreaterThanOrEqual(1);
        expect(out.clipHigh, tag('row 1 is high-clipped')).toBeGreaterThanOrEqual(1);
      });
    }

  it('sft: the loss is the mean −logp over unmasked rows, and analytic dH and dE equal finite differences', () => {
    const { inp } = makeCase('sft', 0);
    const out = ref.grpoLossRef(inp);
    // The definition, written out: mean cross-entropy of the unmasked targets.
    let nll = 0;
    for (let n = 0; n < N; n++) if (inp.mask[n]) nll -= out.logp[n];
    expect(Math.abs(out.loss - nll / out.tokens)).toBeLessThanOrEqual(1e-12 * Math.abs(out.loss));
    const fdH = ref.finiteDiff((h) => ref.grpoLossValue(inp, h, inp.head, out.logp), Float64Array.from(inp.hidden));
    const fdE = ref.finiteDiff((e) => ref.grpoLossValue(inp, inp.hidden, e, out.logp), Float64Array.from(inp.head));
    close('ref dH vs fd', out.dH, fdH, 1e-6, 1e-8);
    close('ref dE vs fd', out.dE, fdE, 1e-6, 1e-8);
    expect([out.clipLow, out.clipHigh, out.clipRegion]).toEqual([0, 0, 0]);
  });
});

describe('fused GRPO loss vs reference', () => {
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const)
    for (const beta of [0, 0.04])
      for (const chunkRows of [1, 7, V]) {
        it(`${lossType}, beta ${beta}, chunk ${chunkRows}: loss, dH, dE, logp, entropy, clip stats`, () => {
          const { inp, args } = makeCase(lossType, beta, { temperature: 0.7 });
          const want = ref.grpoLossRef(inp);
          const got = runNative(args, { chunkRows });
          closeLoss('loss', got.stats.loss, want.loss, want.lossAbs);
          close('dH', got.dhidden, want.dH);
          close('dE', got.dhead, want.dE);
          close('logp', got.logp, want.logp);
          close('entropy', got.entropy, want.entropy);
          close('kl sum', [got.stats.klSum], [want.klSum]);
          close('entropy sum', [got.stats.entropySum], [want.entropySum]);
          expect(got.stats.tokens).toBe(want.tokens);
          expect([got.stats.clipLow, got.stats.clipHigh, got.stats.clipRegion]).toEqual([want.clipLow, want.clipHigh, want.clipRegion]);
          closeCorrect(got.stats.correct, want);
          for (const v of [...got.dhidden, ...got.dhead]) expect(Number.isFinite(v)).toBe(true);
        });
      }

  for (const chunkRows of [1, 7, V]) {
    it(`sft, chunk ${chunkRows}: loss, dH, dE, logp, entropy, correct (no advantages or old log-probs given)`, () => {
      const { inp, args } = makeCase('sft', 0);
      const want = ref.grpoLossRef(inp);
      const got = runNative(args, { chunkRows });
      closeLoss('loss', got.stats.loss, want.loss, want.lossAbs);
      close('dH', got.dhidden, want.dH);
      close('dE', got.dhead, want.dE);
      close('logp', got.logp, want.logp);
      close('entropy', got.entropy, want.entropy);
      close('kl sum (metric)', [got.stats.klSum], [want.klSum]);
      expect(got.stats.tokens).toBe(want.tokens);
      expect([got.stats.clipLow, got.stats.clipHigh, got.stats.clipRegion]).toEqual([0, 0, 0]);
      closeCorrect(got.stats.correct, want);
      // 4 unmasked rows were given their argmax as target; a random target of 37 is rarely right.
      expect(want.correct).toBeGreaterThanOrEqual(4);
    });
  }

  for (const fused of [true, false]) {
    it(`sft with token weights (${fused ? 'fused' : 'unfused'}): the weighted mean cross-entropy, its gradients and weighted counts`, () => {
      const { inp, args } = makeCase('sft', 0, { weighted: true });
      const want = ref.grpoLossRef(inp);
      // The definition, written out: Σ m·(−logp) / Σ m.
      let nll = 0, wsum = 0;
      for (let n = 0; n < N; n++) {
        nll -= inp.mask[n] * want.logp[n];
        wsum += inp.mask[n];
      }
      expect(Math.abs(want.loss - nll / wsum)).toBeLessThanOrEqual(1e-12 * Math.abs(want.loss));
      const fdH = ref.finiteDiff((h) => ref.grpoLossValue(inp, h, inp.head, want.logp), Float64Array.from(inp.hidden));
      close('ref dH vs fd', want.dH, fdH, 1e-6, 1e-8);
      const got = runNative(args, fused ? { chunkRows: 5 } : { impl: 'unfused' });
      closeLoss('loss', got.stats.loss, want.loss, want.lossAbs);
      close('dH', got.dhidden, want.dH);
      close('dE', got.dhead, want.dE);
      // Weighted sums of FP32 weights: a few roundings apart at most.
      expect(Math.abs(got.stats.tokens - wsum), tag('tokens = Σ weights')).toBeLessThanOrEqual(1e-6 * wsum);
      expect(Math.abs(got.stats.correct - want.correct), tag('correct = Σ weights of right rows')).toBeLessThanOrEqual(1e-6 * wsum + want.correctSlack * 2);
    });
  }

  it('token weights other than 0 and 1 are for sft only; sft rejects negative and non-finite ones', () => {
    const { args } = makeCase('dapo', 0);
    const half = Float32Array.from(args.mask);
    half[2] = 0.5;
    expect(() => ops().grpoLoss({ ...args, mask: half })).toThrow(/mask at row 2 must be 0 or 1/);
    const { args: sft } = makeCase('sft', 0);
    for (const bad of [-0.5, NaN, Infinity]) {
      const m = Float32Array.from(sft.mask);
      m[3] = bad;
      expect(() => ops().grpoLoss({ ...sft, mask: m })).toThrow(/mask at row 3 must be a finite weight >= 0 for loss_type sft/);
    }
  });

  it('sft ignores advantages and old log-probs when they are given', () => {
    const { args } = makeCase('sft', 0);
    const a = runNative(args);
    const b = runNative({ ...args, advantages: ref.f32(ref.randn(R, N)), oldLogp: ref.f32(ref.randn(R, N)) });
    expect(b.stats).toEqual(a.stats);
    expect(b.dhidden).toEqual(a.dhidden);
    expect(b.dhead).toEqual(a.dhead);
  });

  it('token accuracy takes the first index of a tied maximum, for every loss type and the unfused version', () => {
    // Integer inputs: every logit is an exact FP32 sum in any order, so ties are exact on both sides. Head rows 5 and
    // 30 are both 3·s and hidden rows 0 and 1 are s (s = ±1 per entry): their logits tie at 3·C = 24 on ids 5 and 30,
    // above every other id (|s·e_v| ≤ 2·C = 16). Row 0 targets 30 (the later index: wrong), row 1 targets 5 (right).
    // Other rows draw entries from {−2, …, 2}, where ties at the maximum are common; row 3 is masked.
    const int = (n: number) => Float64Array.from({ length: n }, () => Math.floor(R() * 5) - 2);
    const hidden = int(N * C), head = int(V * C);
    const s = Array.from({ length: C }, () => (R() < 0.5 ? -1 : 1));
    for (let c = 0; c < C; c++) {
      hidden[c] = hidden[C + c] = s[c];
      head[5 * C + c] = head[30 * C + c] = 3 * s[c];
    }
    const targets = Array.from({ length: N }, () => Math.floor(R() * V));
    targets[0] = 30;
    targets[1] = 5;
    const mask = Array.from({ length: N }, (_, n) => (n === 3 ? 0 : 1));
    const seqIds = Array.from({ length: N }, (_, n) => n % 3);
    const inp0: ref.GrpoRefInput = {
      N, V, C, hidden, head, targets, advantages: ref.f64(ref.randn(R, N)), mask, seqIds, lossType: 'dapo',
      epsLow: 0.2, epsHigh: 0.2, beta: 0, temperature: 1, maxCompletionLength: 16,
    };
    // Rows 3 (masked), 4, 6, 8 and 10 get their float64 argmax as target (ties included); rows 2, 5, 7, 9 and 11 a
    // target that is not their argmax.
    const argmax = ref.grpoLossRef(inp0).argmax;
    for (const n of [3, 4, 6, 8, 10]) targets[n] = argmax[n];
    for (const n of [2, 5, 7, 9, 11]) targets[n] = (argmax[n] + 1 + Math.floor(R() * (V - 1))) % V;
    const inp = { ...inp0, targets };
    const want = ref.grpoLossRef(inp);
    expect(want.argmax.slice(0, 2)).toEqual([5, 5]);
    expect(want.correctSlack).toBe(0);
    expect(want.correct).toBe(5); // rows 1, 4, 6, 8, 10
    for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'sft'] as const) {
      const args: GrpoLossArgs = {
        rows: N, vocab: V, dim: C, hidden: ref.f32(hidden), head: ref.f32(head), targets: Int32Array.from(targets),
        advantages: ref.f32(inp.advantages), mask: ref.f32(mask), seqIds: Int32Array.from(seqIds), lossType,
        maxCompletionLength: 16,
      };
      for (const extra of [{ chunkRows: 5 }, { impl: 'unfused' }]) {
        const got = runNative(args, extra);
        expect(got.stats.correct, `${lossType} ${JSON.stringify(extra)}`).toBe(want.correct);
      }
    }
  });

  it('masked rows contribute nothing: their dH rows are exactly 0 even with NaN/Inf old/ref log-probs', () => {
    const { args } = makeCase('dapo', 0.04);
    const got = runNative(args);
    for (const row of [4, 9]) for (let c = 0; c < C; c++) expect(got.dhidden[row * C + c]).toBe(0);
    expect(Number.isFinite(got.stats.loss)).toBe(true);
  });

  it('sft: masked rows contribute nothing to the loss, the gradients or the statistics', () => {
    const { args } = makeCase('sft', 0);
    const a = runNative(args);
    for (const row of [4, 9]) for (let c = 0; c < C; c++) expect(a.dhidden[row * C + c]).toBe(0);
    // Whatever the masked rows hold (other hidden states and targets; row 4's target is its argmax), nothing changes.
    const hidden = Float32Array.from(args.hidden);
    const targets = Int32Array.from(args.targets);
    for (const row of [4, 9]) {
      for (let c = 0; c < C; c++) hidden[row * C + c] = 5 * (R() - 0.5);
      targets[row] = (targets[row] + 1 + Math.floor(R() * (V - 1))) % V;
    }
    const b = runNative({ ...args, hidden, targets });
    expect([b.stats.loss, b.stats.tokens, b.stats.correct, b.stats.entropySum]).toEqual([a.stats.loss, a.stats.tokens, a.stats.correct, a.stats.entropySum]);
    expect(b.dhead).toEqual(a.dhead);
    for (const row of [0, 1, 2, 3, 5]) expect(b.dhidden.subarray(row * C, (row + 1) * C)).toEqual(a.dhidden.subarray(row * C, (row + 1) * C));
  });

  it('BF16 head gives the reference result for the BF16-rounded weights', () => {
    const { inp, args } = makeCase('bnpo', 0.04, { bf16: true });
    const want = ref.grpoLossRef(inp);
    const got = runNative(args, { chunkRows: 5 });
    closeLoss('loss', got.stats.loss, want.loss, want.lossAbs);
    close('dH', got.dhidden, want.dH);
    close('dE', got.dhead, want.dE);
  });

  it('without old log-probs the ratio is 1 (old = detached logp) and the gradient is −c·A·∇logp', () => {
    const { inp, args } = makeCase('grpo', 0, { detachedOld: true });
    const want = ref.grpoLossRef(inp);
    const got = runNative(args);
    closeLoss('loss', got.stats.loss, want.loss, want.lossAbs);
    close('dH', got.dhidden, want.dH);
    expect(got.stats.clipRegion).toBe(0);
  });

  for (const [lossType, beta, temperature] of [['dr_grpo', 0.04, 0.7], ['sft', 0, 1]] as const) {
    it(`${lossType}: the unfused version (all logits materialised) gives the same results with more workspace`, () => {
      const { inp, args } = makeCase(lossType, beta, { temperature });
      const a = runNative(args, { chunkRows: 3 });
      const b = runNative(args, { impl: 'unfused' });
      closeLoss('loss', b.stats.loss, a.stats.loss, ref.grpoLossRef(inp).lossAbs);
      close('dH', b.dhidden, a.dhidden);
      close('dE', b.dhead, a.dhead);
      close('logp', b.logp, a.logp);
      expect(b.stats.correct).toBe(a.stats.correct); // the same FP32 logits on both paths
      expect(b.stats.workspaceBytes).toBeGreaterThan(a.stats.workspaceBytes!);
    });
  }

  it('micro-batches with explicit normalisers sum to the full-batch loss and gradients', () => {
    for (const lossType of ['grpo', 'dapo', 'dr_grpo', 'bnpo', 'sft'] as const) {
      const { inp, args } = makeCase(lossType, lossType === 'sft' ? 0 : 0.04);
      const full = runNative(args);
      // Split by sequence: rows of sequences {0, 1} then rows of sequence 2.
      const seq = Array.from(args.seqIds);
      const parts = [seq.map((s, i) => (s < 2 ? i : -1)).filter((i) => i >= 0), seq.map((s, i) => (s === 2 ? i : -1)).filter((i) => i >= 0)];
      const tokens = full.stats.tokens;
      const dhead = new Float32Array(V * C);
      let loss = 0, correct = 0;
      const dH = new Float32Array(N * C);
      for (const rows of parts) {
        const pick = <T extends Float32Array | Int32Array>(a: T, w = 1): T => {
          const out = new (a.constructor as { new (n: number): T })(rows.length * w);
          rows.forEach((r, j) => out.set(a.subarray(r * w, (r + 1) * w), j * w));
          return out;
        };
        const dh = new Float32Array(rows.length * C);
        const st = ops().grpoLoss({
          ...args, rows: rows.length, hidden: pick(args.hidden as Float32Array, C), targets: pick(args.targets),
          oldLogp: args.oldLogp && pick(args.oldLogp), refLogp: pick(args.refLogp!),
          advantages: args.advantages && pick(args.advantages), mask: pick(args.mask), seqIds: pick(args.seqIds),
          tokenNormalizer: tokens, sequenceNormalizer: 3, dhidden: dh, dhead,
        });
        loss += st.loss;
        correct += st.correct;
        rows.forEach((r, j) => dH.set(dh.subarray(j * C, (j + 1) * C), r * C));
      }
      closeLoss(`${lossType} loss`, loss, full.stats.loss, ref.grpoLossRef(inp).lossAbs);
      close(`${lossType} dH`, dH, full.dhidden);
      close(`${lossType} dE`, dhead, full.dhead);
      expect(correct, `${lossType} correct`).toBe(full.stats.correct);
      if (lossType === 'sft') {
        // The accumulated sft loss is the mean cross-entropy over all completion tokens of the batch.
        let nll = 0;
        for (let n = 0; n < N; n++) if (args.mask[n]) nll -= full.logp[n];
        closeLoss('sft loss = mean −logp', loss, nll / tokens, ref.grpoLossRef(inp).lossAbs);
      }
    }
  });
});

describe('softmax row kernel (portable and SIMD)', () => {
  // exp(z − shift) per element, with shift as the kernel receives it (an FP32 value): the FP32 subtraction rounds the
  // argument by ≤ 2^-24·|z − shift| absolute, which is the same relative error after exp (≈ 1.7e-6 for the widest
  // arguments here, |z − shift| ≈ 28); the exp itself adds < 2e-7 (polynomial) plus a few FP32 roundings (< 3e-7).
  // So rtol = 2^-24·max|z − shift| + 5e-7, computed from the drawn inputs. The double sums of those terms inherit the
  // same bound. Lengths cover full vectors and a masked tail.
  for (const length of [1, 15, 16, 37, 1000]) {
    it(`length ${length}: matches float64 exp and sums`, () => {
      const z = ref.f32(ref.randn(R, length, 4));
      const shift = Math.fround(Math.max(...z) + 0.5);
      const want = Array.from(z, (v) => Math.exp(v - shift));
      const rtol = 2 ** -24 * Math.max(...Array.from(z, (v) => Math.abs(v - shift))) + 5e-7;
      const sum = want.reduce((a, b) => a + b, 0), sumEz = want.reduce((a, e, i) => a + e * z[i]!, 0);
      const absEz = want.reduce((a, e, i) => a + Math.abs(e * z[i]!), 0); // Σe·z can cancel: bound by Σ|e·z|
      for (const impl of ops().impls('rowExpStats')) {
        const buf = Float32Array.from(z);
        const got = ops().rowExpStats({ length, z: buf, shift, impl });
        close(`exp (${impl})`, buf, want, rtol, 1e-30);
        close(`sum (${impl})`, [got.sum], [sum], rtol, 0);
        expect(Math.abs(got.sumEz - sumEz), tag(`sum e·z (${impl})`)).toBeLessThanOrEqual(rtol * absEz);
      }
    });
  }
  it('very negative inputs give 0, never NaN', () => {
    const buf = Float32Array.from([-1e4, -200, -90, 0]);
    ops().rowExpStats({ length: 4, z: buf, shift: 0 });
    expect(Array.from(buf.slice(0, 2))).toEqual([0, 0]);
    expect(buf[3]).toBe(1);
  });
});

describe('GRPO loss input checks', () => {
  it('reports NaN hidden states as non-finite logits instead of returning a loss', () => {
    const { args } = makeCase('dapo', 0);
    const h = Float32Array.from(args.hidden);
    h[5 * C + 2] = NaN;
    expect(() => ops().grpoLoss({ ...args, hidden: h })).toThrow(/non-finite logits at row 5/);
    expect(() => ops().grpoLoss({ ...args, hidden: h, impl: 'unfused' })).toThrow(/non-finite logits at row 5/);
  });
  it('rejects NaN advantages with a clear error', () => {
    const { args } = makeCase('dapo', 0);
    const adv = Float32Array.from(args.advantages!);
    adv[3] = NaN;
    expect(() => ops().grpoLoss({ ...args, advantages: adv })).toThrow(/advantage at row 3 is not finite/);
  });
  it('rejects bad targets, masks, loss types and a missing reference for beta > 0', () => {
    const { args } = makeCase('dapo', 0);
    const t = Int32Array.from(args.targets);
    t[2] = V;
    expect(() => ops().grpoLoss({ ...args, targets: t })).toThrow(/outside the vocabulary/);
    const m = Float32Array.from(args.mask);
    m[0] = 0.5;
    expect(() => ops().grpoLoss({ ...args, mask: m })).toThrow(/must be 0 or 1/);
    expect(() => ops().grpoLoss({ ...args, lossType: 'ppo' as EngineLossType })).toThrow(/lossType must be/);
    expect(() => ops().grpoLoss({ ...args, beta: 0.1, refLogp: undefined })).toThrow(/reference log-probs/);
    expect(() => ops().grpoLoss({ ...args, lossType: 'dr_grpo', maxCompletionLength: 0 })).toThrow(/max_completion_length/);
    expect(() => ops().grpoLoss({ ...args, hidden: new Float32Array(3) })).toThrow(/expected 96/);
    expect(() => ops().grpoLoss({ ...args, advantages: undefined })).toThrow(/advantages/);
  });
  it('rejects sft with beta ≠ 0, temperature ≠ 1 or importance weights, naming the option', () => {
    const { args } = makeCase('sft', 0);
    expect(() => ops().grpoLoss({ ...args, beta: 0.04 })).toThrow(/loss_type sft: beta must be 0.*got 0\.04/);
    expect(() => ops().grpoLoss({ ...args, temperature: 0.7 })).toThrow(/loss_type sft: temperature must be 1.*got 0\.7/);
    expect(() => ops().grpoLoss({ ...args, isWeight: new Float32Array(N).fill(1) })).toThrow(/sft takes no importance weights/);
    expect(() => ops().grpoLoss({ ...args, beta: 0.04, impl: 'unfused' })).toThrow(/loss_type sft: beta must be 0/);
  });
});
