// Float64 reference of the whole-model GRPO training loss: the LFM2 forward of test/ref/lfm2-ref.ts followed by the
// GRPO loss of test/ref/train-ref.ts on the completion rows. Used with central finite differences to check the native
// whole-model backward. LoRA is evaluated by merging: x·Wᵀ + s·(x·Aᵀ)·Bᵀ = x·(W + s·B·A)ᵀ exactly in real arithmetic.
import type { RefLayer, RefModel } from './lfm2-ref.ts';
import { refForward } from './lfm2-ref.ts';
import { grpoLossValue, type LossType } from './train-ref.ts';

export interface RefBatch {
  sequences: number[][];
  /** Per token: 1 = scored completion token (predicted by the previous row). */
  masks: number[][];
  advantages: number[];
  old: number[][];
  ref?: number[][];
}

export interface RefLossOptions {
  lossType: LossType;
  epsLow: number;
  epsHigh: number;
  beta: number;
  temperature: number;
}

/** The GRPO loss of a batch under model m (float64 throughout). */
export function refModelLoss(m: RefModel, b: RefBatch, o: RefLossOptions): number {
  const C = m.C;
  const hidden: number[] = [];
  const targets: number[] = [], seqIds: number[] = [], adv: number[] = [], old: number[] = [], ref: number[] = [];
  b.sequences.forEach((seq, i) => {
    const h = refForward(m, seq).hidden;
    for (let t = 1; t < seq.length; t++) {
      if (!b.masks[i][t]) continue;
      for (let c = 0; c < C; c++) hidden.push(h[(t - 1) * C + c]);
      targets.push(seq[t]);
      seqIds.push(i);
      adv.push(b.advantages[i]);
      old.push(b.old[i][t]);
      if (b.ref) ref.push(b.ref[i][t]);
    }
  });
  const N = targets.length;
  return grpoLossValue(
    {
      N, V: m.V, C, hidden: Float64Array.from(hidden), head: m.head, targets,
      oldLogp: Float64Array.from(old), refLogp: b.ref ? Float64Array.from(ref) : undefined,
      advantages: Float64Array.from(adv), mask: new Array(N).fill(1), seqIds,
      lossType: o.lossType, epsLow: o.epsLow, epsHigh: o.epsHigh, beta: o.beta, temperature: o.temperature,
    },
    Float64Array.from(hidden), m.head, new Float64Array(N),
  );
}

const LAYER_FIELDS: Record<string, keyof RefLayer> = {
  'operator_norm.weight': 'opNorm',
  'ffn_norm.weight': 'ffnNorm',
  'feed_forward.w1.weight': 'w1',
  'feed_forward.w2.weight': 'w2',
  'feed_forward.w3.weight': 'w3',
  'conv.in_proj.weight': 'inProj',
  'conv.conv.weight': 'convK',
  'conv.out_proj.weight': 'convOut',
  'self_attn.q_proj.weight': 'wq',
  'self_attn.k_proj.weight': 'wk',
  'self_attn.v_proj.weight': 'wv',
  'self_attn.out_proj.weight': 'wo',
  'self_attn.q_layernorm.weight': 'qNorm',
  'self_attn.k_layernorm.weight': 'kNorm',
};

/** The reference model's array for an HF weight name (the tied embedding is also the head). */
export function refTensor(m: RefModel, name: string): Float64Array {
  if (name === 'model.embed_tokens.weight') return m.embed;
  if (name === 'model.embedding_norm.weight') return m.finalNorm;
  const r = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!r || !LAYER_FIELDS[r[2]]) throw new Error(`refTensor: unknown tensor ${name}`);
  const arr = m.layers[Number(r[1])][LAYER_FIELDS[r[2]]];
  if (!(arr instanceof Float64Array)) throw new Error(`refTensor: ${name} is not in layer ${r[1]}`);
  return arr;
}

export interface RefLoraModule {
  path: string; // e.g. model.layers.2.self_attn.q_proj
  A: Float64Array; // [r, in]
  B: Float64Array; // [out, r]
}

/** A copy of m whose adapted weights are W + s·B·A (other arrays shared). */
export function mergedRefModel(m: RefModel, modules: RefLoraModule[], r: number, s: number): RefModel {
  const out: RefModel = { ...m, layers: m.layers.map((l) => ({ ...l })) };
  for (const mod of modules) {
    const name = mod.path + '.weight';
    const base = refTensor(m, name);
    const nout = mod.B.length / r, nin = mod.A.length / r;
    const W = Float64Array.from(base);
    for (let o = 0; o < nout; o++)
      for (let i = 0; i < nin; i++) {
        let d = 0;
        for (let j = 0; j < r; j++) d += mod.B[o * r + j] * mod.A[j * nin + i];
        W[o * nin + i] += s * d;
      }
    const rr = /^model\.layers\.(\d+)\.(.+)$/.exec(name)!;
    (out.layers[Number(rr[1])] as unknown as Record<string, Float64Array>)[LAYER_FIELDS[rr[2]]] = W;
  }
  return out;
}
