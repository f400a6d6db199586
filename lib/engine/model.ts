// Typed API over the native LFM2 engine (native/binding/model.cpp): loading, full-sequence forward over a ragged
// batch, per-token log-probs of a packed batch, and incremental generation states (prefill, chunked prefill, batched
// one-token decode, fork, free).
import { checkFiniteWeights, modelWeightFiles } from './finite-weights.ts';
import { native } from './native.ts';
import type {
  LogitsSelection,
  NativeForwardResult,
  NativeGenerationState,
  NativeModel,
  NativeModelConfig,
  NativeModelInfo,
  PrecisionMode,
} from './native-types.ts';
import type { PackedBatch } from './packed-batch.ts';

export type { LogitsSelection, NativeForwardResult, NativeGenerationState, NativeModelInfo, PrecisionMode };
export type TokenIds = Int32Array | readonly number[];
export type GenerationState = NativeGenerationState;

export interface LoadOptions {
  /** Storage dtype of the embedding and linears: the file's ('auto', default), or force 'bf16' / 'f32'. */
  dtype?: 'auto' | 'bf16' | 'f32';
  /**
   * Backend: 'cpu' (default: the Trainer and Sampler bindings take CPU models), 'auto' uses the GPU when one is
   * usable, 'cuda' requires one (clear error otherwise).
   */
  device?: 'auto' | 'cpu' | 'cuda';
  /** CUDA only: bytes all generation states may hold on the GPU (default 90% of free memory). */
  stateBytesCap?: number;
}

export interface ForwardOptions {
  /** Which rows get logits: every position, the last of each sequence (default), or none. */
  logits?: LogitsSelection;
  /** Also return the final-norm hidden states [T, hiddenSize] of every row. */
  hidden?: boolean;
  /** 'exact' (default): FP32 activations, weights upcast exactly. 'fast': BF16 activation rounding in GEMMs. */
  precision?: PrecisionMode;
  /** Run with training-mode storage (every layer keeps its activations for a backward pass); same results. */
  retainActivations?: boolean;
}

/** Converts token ids to an Int32Array, rejecting non-integers early with a clear message. */
export function toTokenArray(ids: TokenIds, what = 'tokens'): Int32Array {
  if (ids instanceof Int32Array) return ids;
  if (!Array.isArray(ids)) throw new TypeError(`${what} must be an Int32Array or an array of integers`);
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new TypeError(`${what}[${i}] = ${String(v)} is not a 32-bit integer token id`);
    }
    out[i] = v;
  }
  return out;
}

/**
 * The engine's tensor list with Hugging Face's shapes: the engine keeps a short-conv kernel as [C, L] (it loads
 * either layout), the checkpoint files and transformers hold `conv.conv.weight` as Conv1d's [C, 1, L].
 */
function withHfShapes(info: NativeModelInfo): NativeModelInfo {
  const tensors = info.tensors.map((t) =>
    t.name.endsWith('.conv.conv.weight') && t.shape.length === 2 ? { ...t, shape: [t.shape[0], 1, t.shape[1]] } : t,
  );
  return { ...info, tensors };
}

export class LfmModel {
  /** Config, parameter count, storage dtype and every tensor with its HF name and shape. */
  readonly info: NativeModelInfo;

  private constructor(readonly native: NativeModel) {
    this.info = withHfShapes(native.info());
  }

  /**
   * Loads config.json + model.safetensors (or a sharded index) from a Hugging Face model folder. Weights holding NaN
   * or Inf are refused, naming the tensor (lib/engine/finite-weights.ts).
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<LfmModel> {
    const { device = 'cpu', stateBytesCap, ...cpuOpts } = opts;
    await checkFiniteWeights(modelWeightFiles(dir));
    // The GPU engine stores the file's weights as BF16 (its GEMMs take BF16 inputs); dtype does not apply.
    const onCuda = native().resolveDevice(device) === 'cuda';
    return new LfmModel(await native().Model.load(dir, onCuda ? { device: 'cuda', stateBytesCap } : cpuOpts));
  }

  /** Which backend runs this model. */
  get device(): 'cpu' | 'cuda' {
    return (this.info as { device?: string }).device === 'cuda' ? 'cuda' : 'cpu';
  }

  get config(): NativeModelConfig {
    return this.info.config;
  }

  /** Full-sequence forward of independent sequences (each from position 0), one pass over the packed batch. */
  async forward(seqs: readonly TokenIds[], opts: ForwardOptions = {}): Promise<NativeForwardResult> {
    return this.native.forward(seqs.map((s, i) => toTokenArray(s, `seqs[${i}]`)), opts);
  }

  /** Logits of every position of one sequence: [T, vocab]. */
  async logits(tokens: TokenIds, opts: { precision?: PrecisionMode } = {}): Promise<Float32Array> {
    const r = await this.forward([tokens], { logits: 'all', precision: opts.precision });
    return r.logits;
  }

  /**
   * Log-probs and entropies [T] of the completion tokens of a packed batch (0 elsewhere) under this model's own
   * weights, no gradient: the same passes and numbers as a trainer's computeLogprobs with no adapter. A frozen copy
   * of the starting weights scores the KL reference of full fine-tuning this way.
   */
  async tokenLogprobs(
    batch: Pick<PackedBatch, 'tokens' | 'cuSeqlens' | 'completionMask'>,
    opts: { temperature?: number; precision?: PrecisionMode } = {},
  ): Promise<{ logprobs: Float32Array; entropies: Float32Array }> {
    const r = await this.native.tokenLogprobs(batch, opts);
    return { logprobs: r.logp, entropies: r.entropy };
  }

  createState(): GenerationState {
    return this.native.createState();
  }

  /** Appends chunks[i] to states[i] for every i in one pass; returns the requested logits rows. */
  async advance(
    states: readonly GenerationState[],
    chunks: readonly TokenIds[],
    opts: { logits?: LogitsSelection; precision?: PrecisionMode } = {},
  ): Promise<NativeForwardResult> {
    return this.native.advance([...states], chunks.map((c, i) => toTokenArray(c, `chunks[${i}]`)), opts);
  }

  /** Feeds a prompt (or the next chunk of one) into `state`; returns the last position's logits [vocab]. */
  async prefill(state: GenerationState, tokens: TokenIds, opts: { precision?: PrecisionMode } = {}): Promise<Float32Array> {
    const r = await this.advance([state], [tokens], { logits: 'last', precision: opts.precision });
    return r.logits;
  }

  /** One new token per state, all states in one batched pass; returns logits [states.length, vocab]. */
  async decodeBatch(
    states: readonly GenerationState[],
    tokens: TokenIds,
    opts: { precision?: PrecisionMode } = {},
  ): Promise<Float32Array> {
    const ids = toTokenArray(tokens, 'tokens');
    if (ids.length !== states.length) {
      throw new RangeError(`decodeBatch: ${states.length} states but ${ids.length} tokens`);
    }
    const chunks = Array.from({ length: ids.length }, (_, i) => ids.subarray(i, i + 1));
    const r = await this.advance(states, chunks, { logits: 'last', precision: opts.precision });
    return r.logits;
  }
}
