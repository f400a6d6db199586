// Token-by-token generation of one sequence, for callers that show text as it is produced (`lfm2-rl generate`).
// Sampler.generate returns only when every sample has finished, so this decodes on a generation state of its own:
// prefill, then one decode step per token, choosing each token with the native sampler's own row code and uniform
// stream (seed, sample 0, step). With the same prompt and options it yields exactly the tokens of
// `new Sampler(model).generate([{ prompt }], options)`.
import { type LfmModel, type TokenIds, toTokenArray } from './model.ts';
import { native } from './native.ts';
import type { NativeSamplingParams, PrecisionMode } from './native-types.ts';
import type { FinishReason, SamplingOptions } from './sampler.ts';

export interface StreamOptions extends Omit<SamplingOptions, 'stopStrings' | 'stopTokenIds'> {
  /** Ids that end the stream (the stop token is yielded, then the stream ends). Default: the model's eos id. */
  stopTokenIds?: readonly number[];
  /** Prompt + completion limit in tokens. Default: the model's max_position_embeddings. */
  maxContext?: number;
  /** 'exact' (default) or 'fast'. */
  precision?: PrecisionMode;
  /** Rows per prefill forward (bounds activation memory). Default 2048, as the Sampler. */
  prefillChunkTokens?: number;
  /** Stops the stream before the next forward; the generator then throws the signal's reason. */
  signal?: AbortSignal;
}

export interface StreamedToken {
  token: number;
  /** log softmax(logits)[token] at temperature 1 over the whole vocabulary (the Sampler's `logprobs`). */
  logprob: number;
}

/**
 * Yields each generated token as soon as it is chosen; the generator's return value is why it ended
 * ('stop': a stop id, 'length': maxNewTokens or maxContext). The state is freed however the loop ends.
 */
export async function* streamTokens(
  model: LfmModel,
  prompt: TokenIds,
  opts: StreamOptions = {},
): AsyncGenerator<StreamedToken, FinishReason, void> {
  const ids = toTokenArray(prompt, 'prompt');
  if (ids.length === 0) throw new RangeError('streamTokens: empty prompt');
  const maxNew = opts.maxNewTokens ?? 256;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new RangeError(`streamTokens: maxNewTokens = ${maxNew} (must be an integer ≥ 1)`);
  const maxContext = opts.maxContext ?? model.config.maxPositionEmbeddings;
  if (ids.length >= maxContext) throw new RangeError(`streamTokens: the prompt has ${ids.length} tokens, maxContext is ${maxContext}`);
  const chunk = opts.prefillChunkTokens ?? 2048;
  const seed = opts.seed ?? 0;
  const stopIds = new Set(opts.stopTokenIds ?? [model.config.eosTokenId]);
  const params: NativeSamplingParams = {
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    minP: opts.minP,
    repetitionPenalty: opts.repetitionPenalty,
    seed,
  };
  // The repetition penalty looks at prompt + generated tokens, as in the Sampler.
  const penalised = (opts.repetitionPenalty ?? 1) !== 1;
  const seen: number[] = penalised ? [...ids] : [];
  const ops = native().samplerOps;
  const state = model.createState();
  try {
    let logits: Float32Array = new Float32Array(0);
    for (let at = 0; at < ids.length; at += chunk) {
      opts.signal?.throwIfAborted();
      logits = await model.prefill(state, ids.subarray(at, at + chunk), { precision: opts.precision });
    }
    for (let step = 0; ; step++) {
      const u = ops.uniform(seed, 0, step);
      const c = ops.choose(logits, params, penalised ? Int32Array.from(seen) : null, null, u);
      yield { token: c.token, logprob: c.logprob };
      if (stopIds.has(c.token)) return 'stop';
      if (step + 1 >= maxNew || ids.length + step + 1 >= maxContext) return 'length';
      if (penalised) seen.push(c.token);
      opts.signal?.throwIfAborted();
      logits = await model.prefill(state, [c.token], { precision: opts.precision });
    }
  } finally {
    state.free();
  }
}
