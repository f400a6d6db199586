// Float64 reference of the sampler's token choice (native/model/sampler.h steps 1–8), written for clarity: full sorts,
// no thresholds, no scratch reuse.
export interface RefParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
}

/** Kept ids (ascending) and their probabilities q (Σ q = 1). */
export function refDistribution(
  logits: ArrayLike<number>,
  p: RefParams,
  seen: readonly number[] = [],
  allowed?: readonly number[],
): { ids: number[]; probs: number[] } {
  const V = logits.length;
  const cand = allowed ? [...allowed] : Array.from({ length: V }, (_, i) => i);
  const seenSet = new Set(seen);
  const r = p.repetitionPenalty ?? 1;
  const z = cand.map((id) => {
    const x = logits[id];
    if (r === 1 || !seenSet.has(id)) return x;
    return x > 0 ? x / r : x * r;
  });
  const T = p.temperature ?? 1;
  if (T === 0) {
    let best = 0;
    for (let j = 1; j < z.length; j++) if (z[j] > z[best]) best = j;
    return { ids: [cand[best]], probs: [1] };
  }
  const s = z.map((x) => x / T);
  const m = Math.max(...s);
  const e = s.map((x) => Math.exp(x - m));
  const sum = e.reduce((a, b) => a + b, 0);
  const pr = e.map((x) => x / sum);
  const byProb = (a: number, b: number) => (pr[b] - pr[a]) || (cand[a] - cand[b]);
  const keep = pr.map(() => true);
  const k = p.topK ?? 0;
  if (k > 0 && k < cand.length) {
    const order = cand.map((_, j) => j).sort(byProb);
    for (const j of order.slice(k)) keep[j] = false;
  }
  const topP = p.topP ?? 1;
  if (topP < 1) {
    const kept = cand.map((_, j) => j).filter((j) => keep[j] && pr[j] > 0).sort(byProb);
    const total = kept.reduce((a, j) => a + pr[j], 0);
    let cum = 0;
    let n = kept.length;
    for (let i = 0; i < kept.length; i++) {
      cum += pr[kept[i]];
      if (cum >= topP * total) {
        n = i + 1;
        break;
      }
    }
    const inNucleus = new Set(kept.slice(0, n));
    for (let j = 0; j < cand.length; j++) if (!inNucleus.has(j)) keep[j] = false;
  }
  const minP = p.minP ?? 0;
  if (minP > 0) {
    const pmax = Math.max(...pr.filter((_, j) => keep[j]));
    for (let j = 0; j < cand.length; j++) if (pr[j] < minP * pmax) keep[j] = false;
  }
  const ids: number[] = [];
  const probs: number[] = [];
  const total = pr.reduce((a, x, j) => (keep[j] ? a + x : a), 0);
  for (let j = 0; j < cand.length; j++) {
    if (keep[j] && pr[j] > 0) {
      ids.push(cand[j]);
      probs.push(pr[j] / total);
    }
  }
  return { ids, probs };
}

/** log softmax(logits / t)[id] over the whole row. */
export function refLogSoftmaxAt(logits: ArrayLike<number>, id: number, t = 1, over?: readonly number[]): number {
  const idx = over ?? Array.from({ length: logits.length }, (_, i) => i);
  const m = Math.max(...idx.map((i) => logits[i] / t));
  let s = 0;
  for (const i of idx) s += Math.exp(logits[i] / t - m);
  return logits[id] / t - m - Math.log(s);
}

/** The token picked by draw u: first kept id (ascending) whose cumulative q exceeds u. */
export function refPick(dist: { ids: number[]; probs: number[] }, u: number): { token: number; q: number } {
  let cum = 0;
  for (let i = 0; i < dist.ids.length; i++) {
    cum += dist.probs[i];
    if (cum > u) return { token: dist.ids[i], q: dist.probs[i] };
  }
  const last = dist.ids.length - 1;
  return { token: dist.ids[last], q: dist.probs[last] };
}
