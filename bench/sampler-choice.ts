// Token-choice cost per sequence over one V = 65,536 logits row (the LFM2 vocabulary): default rollout settings
// (temperature 1), temperature 0.7, repetition penalty, top-k 50 + top-p 0.9, and greedy. Timed in a native loop
// (samplerOps.timeChoose: choose_token only, one scratch, no JS copy per call), with the dispatched row kernels
// (AVX2+FMA when present) and with the portable scalar ones.
// Run alone: `npx tsx bench/sampler-choice.ts`.
import { pathToFileURL } from 'node:url';
import { native } from '../lib/engine/native.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import type { BenchRow } from './types.ts';

export function benchTokenChoice(log: (m: string) => void = (m) => process.stderr.write(`  ${m}\n`), iters = 200): BenchRow[] {
  const V = 65536;
  const r = mulberry32(11);
  // Logits spread like a trained model's (a few units wide, a handful of clear favourites).
  const logits = Float32Array.from({ length: V }, (_, i) => 4 * (r() - 0.5) + (i % 997 === 0 ? 8 : 0));
  const seen = Int32Array.from({ length: 600 }, (_, i) => (i * 104729) % V);
  const ops = native().samplerOps;
  const cases: [string, Record<string, number>, Int32Array | null][] = [
    ['temperature 1', { temperature: 1 }, null],
    ['temperature 0.7', { temperature: 0.7 }, null],
    ['temperature 1, repetition penalty 1.1 (600 seen)', { temperature: 1, repetitionPenalty: 1.1 }, seen],
    ['top-k 50, top-p 0.9', { temperature: 1, topK: 50, topP: 0.9 }, null],
    ['greedy', { temperature: 0 }, null],
  ];
  const rows: BenchRow[] = [];
  for (const [label, params, s] of cases) {
    const us: Record<string, number> = {};
    for (const [kernels, portable] of [['dispatched', false], ['portable', true]] as const) {
      ops.setPortableKernels(portable);
      ops.timeChoose(logits, params, s, null, 5);  // warm the scratch and caches
      us[kernels] = ops.timeChoose(logits, params, s, null, iters);
    }
    ops.setPortableKernels(false);
    log(`token choice, ${label}: ${us.dispatched.toFixed(1)} µs per sequence (portable kernels ${us.portable.toFixed(1)})`);
    rows.push({
      workload: `token choice over V = 65536, ${label}`,
      engine: 'lfm2-rl',
      'µs/sequence': us.dispatched,
      'µs/sequence portable': us.portable,
    });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.table(benchTokenChoice());
