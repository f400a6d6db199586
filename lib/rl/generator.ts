// What the rollout loop needs from a text generator: one batched call for a list of prompts, each asking for n
// samples, optionally constrained to an action trie. The native sampler (lib/engine/sampler.ts) is adapted to this
// shape in lib/rl/engine-policy.ts; tests can supply a scripted generator.
import type { ActionTrie } from './action-trie.ts';

export interface GenerationRequest {
  /** Chat-templated prompt ids. */
  prompt: readonly number[];
  /** Samples wanted from this prompt (members of a group that see the same prompt share one request). */
  n: number;
  /** Constrained decoding: every completion is one of the trie's strings followed by EOS. */
  trie?: ActionTrie | null;
}

export interface GenerationSettings {
  /** 0 = greedy. */
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  maxNewTokens: number;
  stopIds: readonly number[];
  /** Same seed and same batch → same tokens. */
  seed: number;
}

export type FinishReason = 'stop' | 'length' | 'constraint';

export interface GeneratedSample {
  /** Generated ids, the stop token (or the trie's EOS) included. */
  tokens: number[];
  /**
   * Per token: log-prob under the distribution the GRPO loss recomputes (the unmasked model distribution with logits
   * divided by the sampling temperature), i.e. the loss's π_old.
   */
  logprobs: number[];
  finish: FinishReason;
}

export interface GenerationTimings {
  /** Wall seconds of the call. */
  seconds: number;
  /** Prompt tokens actually run through the model (after prefix reuse), when known. */
  prefillTokens?: number;
  generatedTokens?: number;
}

export interface Generator {
  /** result[i] holds requests[i].n samples. */
  generate(requests: readonly GenerationRequest[], settings: GenerationSettings): Promise<{ samples: GeneratedSample[][]; timings: GenerationTimings }>;
}
