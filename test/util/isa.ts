// Which builds of the CPU attention tile loops this machine can run (native/backend/cpu/backward/attention_backward.cpp,
// attention_isa): tests force each one, so an AVX-512 machine also covers the AVX2 and portable builds.
import { native } from '../../lib/engine/native.ts';
import type { AttentionIsa } from '../../lib/engine/native-types.ts';

export function attentionIsas(): Exclude<AttentionIsa, 'auto'>[] {
  const f = native().cpuFeatures();
  const avx2 = f.avx2 && f.fma && f.f16c;
  const avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  return ['portable', ...(avx2 ? (['avx2'] as const) : []), ...(avx512 ? (['avx512'] as const) : [])];
}
