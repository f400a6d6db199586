// Float64 references for the training kernels: op forwards and backwards (docs/lfm2.md §3–4), the GRPO loss
// (docs/grpo.md §4, TRL v0.26.2), AdamW (torch.optim.AdamW), HF learning-rate schedules and LoRA math.
// Written for clarity, not speed: plain loops over number arrays, no shared code with the native side.
// Layouts match the native functions: row-major, packed tokens, [T, heads, head_dim] for per-head tensors.

export type Vec = Float64Array;

// ---- random inputs -------------------------------------------------------------------------------------------

/** Seeded generator (mulberry32) so a failing case can be replayed from the seed printed by the test. */
export { rng } from '../util/random.ts';

/** n standard-normal values scaled by `scale` (Box–Muller). */
export function randn(r: () => number, n: number, scale = 1): Vec {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

export function uniform(r: () => number, n: number, lo: number, hi: number): Vec {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export const f32 = (v: ArrayLike<number>): Float32Array => Float32Array.from(v);
export const f64 = (v: ArrayLike<number>): Vec => Float64Array.from(v);

/** Σ a_i b_i: turns a vector-valued forward into the scalar L = Σ dy ⊙ f(x) whose gradient the backward gives. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** max |v_i| (0 for an empty array); a loop, not Math.max(...v), which overflows the argument stack on large arrays. */
export function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
}

/** Central finite differences of a scalar function of one input array, at every element (tiny shapes only). */
export function finiteDiff(f: (x: Vec) => number, x: Vec, h = 1e-5): Vec {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** max_i |a_i − b_i| / (atol + rtol·|b_i|) — ≤ 1 means every element is within tolerance. */
export function worstRatio(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= w)) w = r; // NaN propagates as a failure
  }
  return w;
}

// ---- RMSNorm ---------------------------------------------------------------------------------------------------

export function rmsnormForward(x: Vec, w: Vec, rows: number, n: number, eps: number): Vec {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[r * n + j] ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) y[r * n + j] = w[j] * x[r * n + j] * inv;
  }
  return y;
}

export function rmsnormBackward(x: Vec, w: Vec, dy: Vec, rows: number, n: number, eps: number): { dx: Vec; dw: Vec } {
  const dx = new Float64Array(rows * n);
  const dw = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[r * n + j] ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    let m = 0;
    for (let j = 0; j < n; j++) m += dy[r * n + j] * w[j] * x[r * n + j] * inv;
    m /= n;
    for (let j = 0; j < n; j++) {
      const xh = x[r * n + j] * inv;
      dx[r * n + j] = inv * (dy[r * n + j] * w[j] - xh * m);
      dw[j] += dy[r * n + j] * xh;
    }
  }
  return { dx, dw };
}

// ---- RoPE (NeoX half split) ------------------------------------------------------------------------------------

export function ropeForward(x: Vec, T: number, H: number, D: number, pos: ArrayLike<number>, theta: number): Vec {
  const y = new Float64Array(x.length);
  const half = D / 2;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < half; i++) {
        const a = pos[t] * theta ** ((-2 * i) / D);
        const c = Math.cos(a), s = Math.sin(a);
        const b = (t * H + h) * D;
        y[b + i] = x[b + i] * c - x[b + i + half] * s;
        y[b + i + half] = x[b + i + half] * c + x[b + i] * s;
      }
  return y;
}

export function ropeBackward(dy: Vec, T: number, H: number, D: number, pos: ArrayLike<number>, theta: number): Vec {
  const negated = Array.from(pos, (p) => -p); // rotation by −angle
  return ropeForward(dy, T, H, D, negated, theta);
}

// ---- causal GQA attention over packed sequences -----------------------------------------------------------------

export interface AttnShape {
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  cu: number[]; // [nseq+1]
  scale: number;
}

/** Probabilities P[h][i][j] for one sequence (materialised: the reference only runs on tiny shapes). */
function attnProbs(q: Vec, k: Vec, s: AttnShape, off: number, len: number, h: number): number[][] {
  const g = Math.floor(h / (s.Hq / s.Hkv));
  const P: number[][] = [];
  for (let i = 0; i < len; i++) {
    const row: number[] = [];
    let m = -Infinity;
    for (let j = 0; j <= i; j++) {
      let d = 0;
      for (let e = 0; e < s.D; e++) d += q[((off + i) * s.Hq + h) * s.D + e] * k[((off + j) * s.Hkv + g) * s.D + e];
      row.push(d * s.scale);
      m = Math.max(m, d * s.scale);
    }
    let z = 0;
    for (let j = 0; j <= i; j++) z += Math.exp(row[j] - m);
    P.push(row.map((v) => Math.exp(v - m) / z).concat(new Array(len - i - 1).fill(0)));
    (P[i] as number[] & { lse?: number }).lse = m + Math.log(z);
  }
  return P;
}

export function attentionForward(q: Vec, k: Vec, v: Vec, s: AttnShape): { o: Vec; lse: Vec } {
  const o = new Float64Array(s.T * s.Hq * s.D);
  const lse = new Float64Array(s.T * s.Hq);
  for (let sq = 0; sq + 1 < s.cu.length; sq++) {
    const off = s.cu[sq], len = s.cu[sq + 1] - off;
    for (let h = 0; h < s.Hq; h++) {
      const g = Math.floor(h / (s.Hq / s.Hkv));
      const P = attnProbs(q, k, s, off, len, h);
      for (let i = 0; i < len; i++) {
        lse[(off + i) * s.Hq + h] = (P[i] as number[] & { lse?: number }).lse!;
        for (let j = 0; j <= i; j++)
          for (let e = 0; e < s.D; e++) o[((off + i) * s.Hq + h) * s.D + e] += P[i][j] * v[((off + j) * s.Hkv + g) * s.D + e];
      }
    }
  }
  return { o, lse };
}

export function attentionBackward(q: Vec, k: Vec, v: Vec, dO: Vec, s: AttnShape): { dq: Vec; dk: Vec; dv: Vec } {
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  for (let sq = 0; sq + 1 < s.cu.length; sq++) {
    const off = s.cu[sq], len = s.cu[sq + 1] - off;
    for (let h = 0; h < s.Hq; h++) {
      const g = Math.floor(h / (s.Hq / s.Hkv));
      const P = attnProbs(q, k, s, off, len, h);
      const qi = (i: number, e: number) => ((off + i) * s.Hq + h) * s.D + e;
      const kj = (j: number, e: number) => ((off + j) * s.Hkv + g) * s.D + e;
      for (let i = 0; i < len; i++) {
        const dP: number[] = [];
        for (let j = 0; j <= i; j++) {
          let d = 0;
          for (let e = 0; e < s.D; e++) d += dO[qi(i, e)] * v[kj(j, e)];
          dP.push(d);
        }
        let rs = 0;
        for (let j = 0; j <= i; j++) rs += dP[j] * P[i][j];
        for (let j = 0; j <= i; j++) {
          const dS = P[i][j] * (dP[j] - rs);
          for (let e = 0; e < s.D; e++) {
            dq[qi(i, e)] += s.scale * dS * k[kj(j, e)];
            dk[kj(j, e)] += s.scale * dS * q[qi(i, e)];
            dv[kj(j, e)] += P[i][j] * dO[qi(i, e)];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

// ---- short conv (B, C, x gates; 3-tap causal depthwise; zero state per sequence) --------------------------------

export function shortconvForward(z: Vec, K: Vec, cu: number[], C: number): Vec {
  const T = cu[cu.length - 1];
  const y = new Float64Array(T * C);
  const u = (row: number, c: number) => z[row * 3 * C + c] * z[row * 3 * C + 2 * C + c];
  for (let sq = 0; sq + 1 < cu.length; sq++)
    for (let t = cu[sq]; t < cu[sq + 1]; t++)
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let k = 0; k < 3; k++) if (t - 2 + k >= cu[sq]) v += K[c * 3 + k] * u(t - 2 + k, c);
        y[t * C + c] = z[t * 3 * C + C + c] * v;
      }
  return y;
}

/**
 * One chunk of one sequence continuing from a shift register: state [2, C] = (u_{t−2}, u_{t−1}) stands in for the
 * rows before the chunk (zeros for a fresh sequence); returns y [T, C] and the new state (the chunk's last two u).
 */
export function shortconvForwardWithState(z: Vec, K: Vec, T: number, C: number, state: Vec): { y: Vec; state: Vec } {
  const u = (t: number, c: number) => (t >= 0 ? z[t * 3 * C + c] * z[t * 3 * C + 2 * C + c] : state[(t + 2) * C + c]);
  const y = new Float64Array(T * C);
  for (let t = 0; t < T; t++)
    for (let c = 0; c < C; c++) {
      let v = 0;
      for (let k = 0; k < 3; k++) v += K[c * 3 + k] * u(t - 2 + k, c);
      y[t * C + c] = z[t * 3 * C + C + c] * v;
    }
  const next = new Float64Array(2 * C);
  for (let c = 0; c < C; c++) {
    next[c] = u(T - 2, c);
    next[C + c] = u(T - 1, c);
  }
  return { y, state: next };
}

export function shortconvBackward(z: Vec, K: Vec, dy: Vec, cu: number[], C: number): { dz: Vec; dK: Vec } {
  const T = cu[cu.length - 1];
  const dz = new Float64Array(T * 3 * C), dK = new Float64Array(C * 3);
  const B = (r: number, c: number) => z[r * 3 * C + c];
  const Cg = (r: number, c: number) => z[r * 3 * C + C + c];
  const X = (r: number, c: number) => z[r * 3 * C + 2 * C + c];
  for (let sq = 0; sq + 1 < cu.length; sq++) {
    const a = cu[sq], b = cu[sq + 1];
    for (let c = 0; c < C; c++) {
      const dv = new Map<number, number>();
      for (let t = a; t < b; t++) {
        let v = 0;
        for (let k = 0; k < 3; k++) if (t - 2 + k >= a) v += K[c * 3 + k] * B(t - 2 + k, c) * X(t - 2 + k, c);
        dz[t * 3 * C + C + c] = dy[t * C + c] * v; // dC
        dv.set(t, dy[t * C + c] * Cg(t, c));
      }
      for (let t = a; t < b; t++) {
        for (let k = 0; k < 3; k++) if (t - 2 + k >= a) dK[c * 3 + k] += dv.get(t)! * B(t - 2 + k, c) * X(t - 2 + k, c);
        let du = 0;
        for (let k = 0; k < 3; k++) if (t + 2 - k < b) du += K[c * 3 + k] * dv.get(t + 2 - k)!;
        dz[t * 3 * C + c] = du * X(t, c);
        dz[t * 3 * C + 2 * C + c] = du * B(t, c);
      }
    }
  }
  return { dz, dK };
}

// ---- SwiGLU gate -------------------------------------------------------------------------------------------------

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function swigluForward(a: Vec, b: Vec): Vec {
  return a.map((x, i) => x * sigmoid(x) * b[i]);
}

export function swigluBackward(a: Vec, b: Vec, dh: Vec): { da: Vec; db: Vec } {
  const da = a.map((x, i) => dh[i] * b[i] * sigmoid(x) * (1 + x * (1 - sigmoid(x))));
  const db = a.map((x, i) => dh[i] * x * sigmoid(x));
  return { da, db };
}

// ---- embedding lookup ----------------------------------------------------------------------------------------------

export function embeddingForward(E: Vec, ids: ArrayLike<number>, C: number): Vec {
  const x = new Float64Array(ids.length * C);
  for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) x[t * C + c] = E[ids[t] * C + c];
  return x;
}

export function embeddingBackward(ids: ArrayLike<number>, dx: Vec, V: number, C: number, paddingIdx: number): Vec {
  const dE = new Float64Array(V * C);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] === paddingIdx) continue;
    for (let c = 0; c < C; c++) dE[ids[t] * C + c] += dx[t * C + c];
  }
  return dE;
}

// ---- GRPO loss (TRL v0.26.2) ----------------------------------------------------------------------------------------

/** The GRPO losses, and sft: l = −logp (cross-entropy on demonstrations), aggregated like dapo. */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'sft';

export interface GrpoRefInput {
  N: number;
  V: number;
  C: number;
  hidden: Vec; // [N, C]
  head: Vec; // [V, C]
  targets: number[];
  oldLogp?: Vec; // absent: old = logp detached
  refLogp?: Vec;
  advantages: Vec;
  mask: number[];
  seqIds: number[];
  isWeight?: Vec;
  lossType: LossType;
  epsLow: number;
  epsHigh: number;
  beta: number;
  temperature: number;
  maxCompletionLength?: number;
  tokenNormalizer?: number; // bnpo/dapo denominator; default Σ mask (≥ 1)
  sequenceNormalizer?: number; // grpo/dr_grpo sequence count; default distinct sequence ids
}

export interface GrpoRefOutput {
  loss: number;
  /** The loss aggregated from |l| instead of l: the scale of its terms, for tolerances (the loss itself can cancel). */
  lossAbs: number;
  logp: Vec;
  entropy: Vec;
  tokens: number;
  klSum: number;
  entropySum: number;
  clipLow: number;
  clipHigh: number;
  clipRegion: number;
  /** Σ m·[argmax_v z_v = target], the first index winning an exact tie. */
  correct: number;
  /** Unmasked rows whose target logit is within 1e-4·max|z| of the best other logit without an exact tie: an FP32
   *  engine may decide those either way, so its `correct` may differ from the float64 one by up to this count. */
  correctSlack: number;
  argmax: number[];
  dH: Vec; // [N, C]
  dE: Vec; // [V, C]
}

/** Logits/temperature, log-softmax of every row; logp of the targets and entropies. */
function grpoLogits(inp: GrpoRefInput, hidden: Vec, head: Vec): { logits: number[][]; logsm: number[][]; logp: Vec; entropy: Vec } {
  const { N, V, C } = inp;
  const logits: number[][] = [], logsm: number[][] = [];
  const logp = new Float64Array(N), entropy = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const z: number[] = [];
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += hidden[n * C + c] * head[v * C + c];
      z.push(s / inp.temperature);
    }
    logits.push(z);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, b) => a + Math.exp(b - m), 0));
    const ls = z.map((x) => x - lse);
    logsm.push(ls);
    logp[n] = ls[inp.targets[n]];
    entropy[n] = -ls.reduce((a, l) => a + Math.exp(l) * l, 0);
  }
  return { logits, logsm, logp, entropy };
}

/** Token accuracy: the first index of each row's maximum, and the masked count of rows where it is the target. */
function tokenAccuracy(inp: GrpoRefInput, logits: number[][]): { argmax: number[]; correct: number; correctSlack: number } {
  const argmax: number[] = [];
  let correct = 0, correctSlack = 0;
  logits.forEach((z, n) => {
    let top = 0;
    for (let v = 1; v < z.length; v++) if (z[v] > z[top]) top = v;
    argmax.push(top);
    if (!inp.mask[n]) return;
    if (top === inp.targets[n]) correct += inp.mask[n]; // sft token weights count by weight
    const y = inp.targets[n];
    const other = Math.max(...z.filter((_, v) => v !== y));
    const gap = Math.abs(z[y] - other);
    if (gap > 0 && gap <= 1e-4 * Math.max(...z.map(Math.abs))) correctSlack++;
  });
  return { argmax, correct, correctSlack };
}

/** Per-token loss l_n (before aggregation) as TRL writes it, masked positions zeroed before the exps. */
function perTokenLoss(inp: GrpoRefInput, logp: Vec, oldDetached: Vec): { l: number[]; kl: number[]; low: boolean[]; high: boolean[] } {
  const l: number[] = [], kl: number[] = [], low: boolean[] = [], high: boolean[] = [];
  for (let n = 0; n < inp.N; n++) {
    const m = inp.mask[n];
    const lp = m ? logp[n] : 0;
    if (inp.lossType === 'sft') {
      const ref = m && inp.refLogp ? inp.refLogp[n] : 0;
      l.push(-lp);
      kl.push(inp.refLogp ? Math.exp(ref - lp) - (ref - lp) - 1 : 0);
      low.push(false);
      high.push(false);
      continue;
    }
    const old = m ? (inp.oldLogp ? inp.oldLogp[n] : oldDetached[n]) : 0;
    const ref = m && inp.refLogp ? inp.refLogp[n] : 0;
    const A = inp.advantages[n];
    const rho = Math.exp(lp - old);
    const clipped = Math.min(Math.max(rho, 1 - inp.epsLow), 1 + inp.epsHigh);
    let loss = -Math.min(rho * A, clipped * A) * (inp.isWeight ? inp.isWeight[n] : 1);
    const k = inp.refLogp ? Math.exp(ref - lp) - (ref - lp) - 1 : 0;
    if (inp.beta !== 0) loss += inp.beta * k;
    l.push(loss);
    kl.push(k);
    low.push(rho < 1 - inp.epsLow && A < 0);
    high.push(rho > 1 + inp.epsHigh && A > 0);
  }
  return { l, kl, low, high };
}

/** Aggregated loss for given per-token losses, following docs/grpo.md §4.2. */
function aggregate(inp: GrpoRefInput, l: number[]): number {
  const seqs = new Map<number, { sum: number; count: number }>();
  let total = 0, tokens = 0;
  for (let n = 0; n < inp.N; n++) {
    const s = seqs.get(inp.seqIds[n]) ?? { sum: 0, count: 0 };
    s.sum += l[n] * inp.mask[n];
    s.count += inp.mask[n];
    seqs.set(inp.seqIds[n], s);
    total += l[n] * inp.mask[n];
    tokens += inp.mask[n];
  }
  const nseq = inp.sequenceNormalizer && inp.sequenceNormalizer > 0 ? inp.sequenceNormalizer : seqs.size;
  const ntok = inp.tokenNormalizer && inp.tokenNormalizer > 0 ? inp.tokenNormalizer : Math.max(1, tokens);
  switch (inp.lossType) {
    case 'grpo': {
      let s = 0;
      for (const { sum, count } of seqs.values()) s += sum / Math.max(1, count);
      return s / nseq;
    }
    case 'bnpo':
    case 'dapo':
    case 'sft':
      return total / ntok;
    case 'dr_grpo':
      return total / (nseq * inp.maxCompletionLength!);
  }
}

/** The loss as a function of H and E only (old log-probs held fixed), for finite differences. */
export function grpoLossValue(inp: GrpoRefInput, hidden: Vec, head: Vec, oldDetached: Vec): number {
  const { logp } = grpoLogits(inp, hidden, head);
  return aggregate(inp, perTokenLoss(inp, logp, oldDetached).l);
}

export function grpoLossRef(inp: GrpoRefInput): GrpoRefOutput {
  const { N, V, C } = inp;
  const { logits, logsm, logp, entropy } = grpoLogits(inp, inp.hidden, inp.head);
  const { l, kl, low, high } = perTokenLoss(inp, logp, logp);
  const loss = aggregate(inp, l);
  const lossAbs = aggregate(inp, l.map(Math.abs));
  // d loss / d logp_n by differentiating aggregate(perTokenLoss(logp)) one row at a time in closed form.
  const g = new Float64Array(N);
  const seqCount = new Map<number, number>();
  for (let n = 0; n < N; n++) seqCount.set(inp.seqIds[n], (seqCount.get(inp.seqIds[n]) ?? 0) + inp.mask[n]);
  const tokens = inp.mask.reduce((a, b) => a + b, 0);
  const nseq = inp.sequenceNormalizer && inp.sequenceNormalizer > 0 ? inp.sequenceNormalizer : seqCount.size;
  const ntok = inp.tokenNormalizer && inp.tokenNormalizer > 0 ? inp.tokenNormalizer : Math.max(1, tokens);
  for (let n = 0; n < N; n++) {
    if (!inp.mask[n]) continue;
    if (inp.lossType === 'sft') {
      g[n] = -inp.mask[n] / ntok; // l = −logp, weighted by the row's mask (sft token weights)
      continue;
    }
    const old = inp.oldLogp ? inp.oldLogp[n] : logp[n];
    const A = inp.advantages[n];
    const rho = Math.exp(logp[n] - old);
    const lo = 1 - inp.epsLow, hi = 1 + inp.epsHigh;
    const clippedObj = Math.min(Math.max(rho, lo), hi) * A;
    // Off ties, min picks one branch: unclipped → ρA; clipped → 0 (constant) unless ρ sits inside the range.
    const ds = rho * A <= clippedObj || (rho >= lo && rho <= hi) ? rho * A : 0;
    let dl = -ds * (inp.isWeight ? inp.isWeight[n] : 1);
    if (inp.beta !== 0) dl += inp.beta * (1 - Math.exp(inp.refLogp![n] - logp[n]));
    const c =
      inp.lossType === 'grpo'
        ? 1 / (Math.max(1, seqCount.get(inp.seqIds[n])!) * nseq)
        : inp.lossType === 'dr_grpo'
          ? 1 / (nseq * inp.maxCompletionLength!)
          : 1 / ntok;
    g[n] = c * dl;
  }
  const dH = new Float64Array(N * C), dE = new Float64Array(V * C);
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      const dz = (g[n] * ((v === inp.targets[n] ? 1 : 0) - Math.exp(logsm[n][v]))) / inp.temperature;
      if (dz === 0) continue;
      for (let c = 0; c < C; c++) {
        dH[n * C + c] += dz * inp.head[v * C + c];
        dE[v * C + c] += dz * inp.hidden[n * C + c];
      }
    }
  }
  let klSum = 0, entropySum = 0, clipLow = 0, clipHigh = 0, clipRegion = 0;
  for (let n = 0; n < N; n++) {
    const m = inp.mask[n];
    klSum += m * kl[n];
    entropySum += m * entropy[n];
    clipLow += m * +low[n];
    clipHigh += m * +high[n];
    clipRegion += m * +(low[n] || high[n]);
  }
  return { loss, lossAbs, logp, entropy, tokens, klSum, entropySum, clipLow, clipHigh, clipRegion, ...tokenAccuracy(inp, logits), dH, dE };
}

// ---- AdamW (torch.optim.AdamW) with global-norm clipping (torch.nn.utils.clip_grad_norm_) ---------------------------

export interface AdamWRefState {
  w: Vec;
  m: Vec;
  v: Vec;
}

export interface AdamWRefConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

/** One step over several tensors; returns the pre-clip global norm. `decay[i]` false exempts tensor i. */
export function adamwRef(states: AdamWRefState[], grads: Vec[], cfg: AdamWRefConfig, step: number, decay?: boolean[]): number {
  let sq = 0;
  for (const g of grads) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  const coef = cfg.maxGradNorm > 0 ? Math.min(1, cfg.maxGradNorm / (norm + 1e-6)) : 1;
  const bc1 = 1 - cfg.beta1 ** step, bc2 = 1 - cfg.beta2 ** step;
  states.forEach((s, t) => {
    const wd = decay && decay[t] === false ? 0 : cfg.weightDecay;
    for (let i = 0; i < s.w.length; i++) {
      const g = grads[t][i] * coef;
      s.w[i] *= 1 - cfg.lr * wd;
      s.m[i] = cfg.beta1 * s.m[i] + (1 - cfg.beta1) * g;
      s.v[i] = cfg.beta2 * s.v[i] + (1 - cfg.beta2) * g * g;
      s.w[i] -= (cfg.lr / bc1) * (s.m[i] / (Math.sqrt(s.v[i]) / Math.sqrt(bc2) + cfg.eps));
    }
  });
  return norm;
}

// ---- learning-rate schedules (transformers.get_scheduler) ------------------------------------------------------------

export type LrKind = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export function lrRef(kind: LrKind, base: number, warmup: number, total: number, step: number): number {
  if (kind === 'constant') return base;
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  if (kind === 'constant_with_warmup') return base;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (kind === 'linear') return base * Math.max(0, (total - step) / Math.max(1, total - warmup));
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
}

// ---- LoRA ------------------------------------------------------------------------------------------------------------

/** y = x·Wᵀ for W [out, in]. */
export function linear(x: Vec, W: Vec, N: number, inF: number, outF: number): Vec {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * W[o * inF + i];
      y[n * outF + o] = s;
    }
  return y;
}

/** The adapter's output s·(x·Aᵀ)·Bᵀ, [N, out]. */
export function loraForward(x: Vec, A: Vec, B: Vec, N: number, inF: number, outF: number, r: number, s: number): Vec {
  const xa = linear(x, A, N, inF, r);
  return linear(xa, B, N, r, outF).map((v) => v * s);
}

export function loraBackward(
  dy: Vec, x: Vec, A: Vec, B: Vec, N: number, inF: number, outF: number, r: number, s: number,
): { dA: Vec; dB: Vec; dx: Vec } {
  const xa = linear(x, A, N, inF, r);
  const dxa = new Float64Array(N * r); // s·dy·B
  for (let n = 0; n < N; n++)
    for (let k = 0; k < r; k++) {
      let t = 0;
      for (let o = 0; o < outF; o++) t += dy[n * outF + o] * B[o * r + k];
      dxa[n * r + k] = s * t;
    }
  const dA = new Float64Array(r * inF), dB = new Float64Array(outF * r), dx = new Float64Array(N * inF);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outF; o++) for (let k = 0; k < r; k++) dB[o * r + k] += s * dy[n * outF + o] * xa[n * r + k];
    for (let k = 0; k < r; k++)
      for (let i = 0; i < inF; i++) {
        dA[k * inF + i] += dxa[n * r + k] * x[n * inF + i];
        dx[n * inF + i] += dxa[n * r + k] * A[k * inF + i];
      }
  }
  return { dA, dB, dx };
}

/** W + sign·s·B·A, [out, in]. */
export function loraMerged(W: Vec, A: Vec, B: Vec, inF: number, outF: number, r: number, s: number, sign: number): Vec {
  const out = Float64Array.from(W);
  for (let o = 0; o < outF; o++)
    for (let i = 0; i < inF; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += B[o * r + k] * A[k * inF + i];
      out[o * inF + i] += sign * s * d;
    }
  return out;
}
