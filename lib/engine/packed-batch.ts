// A training batch in the one layout both engines take (native/binding/train_batch_args.h): every sequence is
// prompt + completion ids from position 0, packed back to back. It is built once (packBatch) and passed through as
// is to accumulate, the trainer's log-probs and the frozen model's reference log-probs.
//
// Convention: the completion mask has one entry per token, non-zero where the token is a completion token to score
// (it is predicted by the previous position, so the first token of a sequence can never be scored); old / reference
// log-probs are aligned with the tokens.
import { toTokenArray, type TokenIds } from './model.ts';

export interface PackedBatch {
  /** [T] ids of every sequence, concatenated. */
  tokens: Int32Array;
  /** [S + 1] start offset of each sequence in tokens, then T (cu_seqlens). */
  cuSeqlens: Int32Array;
  /** [T] 1 where tokens[t] is a completion token (scored by the logits at t − 1), else 0; sft: the token's weight. */
  completionMask: Float32Array;
  /** [S] advantage of each sequence (the GRPO losses; sft has none). */
  advantages?: Float32Array;
  /** [T] sampling-time log-prob of each completion token (0 elsewhere); absent: the ratio is 1. */
  oldLogprobs?: Float32Array;
  /** [T] KL reference log-prob of each completion token (0 elsewhere); needed when beta > 0. */
  refLogprobs?: Float32Array;
}

/** The same batch one sequence at a time (tests and small tools); packBatch lays it out as a PackedBatch. */
export interface TrainBatch {
  sequences: readonly TokenIds[];
  completionMasks: readonly ArrayLike<number>[];
  /** One per sequence (the GRPO losses; sft has none). */
  advantages?: ArrayLike<number>;
  oldLogprobs?: readonly ArrayLike<number>[];
  refLogprobs?: readonly ArrayLike<number>[];
}

/** Packs per-sequence arrays back to back, checking every length; `what` names the caller in errors. */
export function packBatch(b: Pick<TrainBatch, 'sequences' | 'completionMasks'> & Partial<TrainBatch>, what = 'packBatch'): PackedBatch {
  const S = b.sequences.length;
  if (S === 0) throw new RangeError(`${what}: no sequences`);
  if (b.completionMasks.length !== S) {
    throw new RangeError(`${what}: ${S} sequences but ${b.completionMasks.length} completion masks`);
  }
  if (b.advantages !== undefined && b.advantages.length !== S) {
    throw new RangeError(`${what}: ${S} sequences but ${b.advantages.length} advantages`);
  }
  for (const [key, arr] of [['oldLogprobs', b.oldLogprobs], ['refLogprobs', b.refLogprobs]] as const) {
    if (arr !== undefined && arr.length !== S) throw new RangeError(`${what}: ${S} sequences but ${arr.length} ${key}`);
  }
  const seqs = b.sequences.map((s, i) => toTokenArray(s, `${what}: sequences[${i}]`));
  const cuSeqlens = new Int32Array(S + 1);
  seqs.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`${what}: sequences[${i}] is empty`);
    cuSeqlens[i + 1] = cuSeqlens[i] + s.length;
  });
  const T = cuSeqlens[S];
  const tokens = new Int32Array(T);
  const completionMask = new Float32Array(T);
  const oldLogprobs = b.oldLogprobs ? new Float32Array(T) : undefined;
  const refLogprobs = b.refLogprobs ? new Float32Array(T) : undefined;
  seqs.forEach((s, i) => {
    const at = cuSeqlens[i];
    tokens.set(s, at);
    const put = (dst: Float32Array, src: ArrayLike<number>, key: string) => {
      if (src.length !== s.length) throw new RangeError(`${what}: ${key}[${i}] has ${src.length} entries for ${s.length} tokens`);
      dst.set(src, at);
    };
    put(completionMask, b.completionMasks[i], 'completionMasks');
    if (oldLogprobs) put(oldLogprobs, b.oldLogprobs![i], 'oldLogprobs');
    if (refLogprobs) put(refLogprobs, b.refLogprobs![i], 'refLogprobs');
  });
  const out: PackedBatch = { tokens, cuSeqlens, completionMask };
  if (b.advantages !== undefined) out.advantages = Float32Array.from(b.advantages);
  if (oldLogprobs) out.oldLogprobs = oldLogprobs;
  if (refLogprobs) out.refLogprobs = refLogprobs;
  return out;
}

/** A per-token array [T] of a packed batch cut back into one copy per sequence. */
export function perSequence(flat: Float32Array, cuSeqlens: Int32Array): Float32Array[] {
  return Array.from({ length: cuSeqlens.length - 1 }, (_, i) => flat.slice(cuSeqlens[i], cuSeqlens[i + 1]));
}

/** A packed batch, as opposed to its per-sequence form. */
export function isPackedBatch(b: PackedBatch | TrainBatch): b is PackedBatch {
  return (b as PackedBatch).cuSeqlens !== undefined;
}
