#include "backend/cuda/reduce.cuh"
#include "backend/cuda/sampling.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kThreads = 1024;

// Exclusive prefix over threads of one value per thread (id-ordered segments); also returns the block total.
__device__ float exclusive_scan(float v, float* buf, float* total) {
  buf[threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.x == 0) {  // 1024 additions: negligible next to the V-sized passes
    float acc = 0.f;
    for (int i = 0; i < kThreads; ++i) {
      const float x = buf[i];
      buf[i] = acc;
      acc += x;
    }
    buf[kThreads] = acc;
  }
  __syncthreads();
  const float r = buf[threadIdx.x];
  *total = buf[kThreads];
  __syncthreads();
  return r;
}

// Largest t (as FP32 bits of a non-negative value) with f(t) ≥ goal, f non-increasing in t; 31-step bisection.
template <typename F>
__device__ uint32_t bisect_threshold(F f, float goal) {
  uint32_t lo = 0, hi = 0x7f800000u;  // [0, +inf]
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo + 1) / 2;
    if (f(__uint_as_float(mid)) >= goal) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

__global__ void sample_kernel(const float* __restrict__ logits, float* __restrict__ scratch, int64_t V,
                              const SampleRowParams* __restrict__ params, const int32_t* __restrict__ seen,
                              const int32_t* __restrict__ allowed, int32_t* token, float* logq, float* logp_out) {
  __shared__ float red[32];
  __shared__ float buf[kThreads + 1];
  __shared__ int pick_shared;
  const int64_t r = blockIdx.x;
  const SampleRowParams P = params[r];
  const float* x = logits + r * V;
  float* p = scratch + r * V;  // z, then probabilities; NaN never appears: excluded tokens hold −inf then 0
  const int64_t seg = (V + kThreads - 1) / kThreads;
  const int64_t b = min(V, int64_t(threadIdx.x) * seg), e = min(V, b + seg);

  // log softmax of the raw row at temperature 1 (the sampler's `logprobs`)
  float mx = -INFINITY;
  for (int64_t v = b; v < e; ++v) mx = fmaxf(mx, x[v]);
  mx = block_max(mx, red);
  float se = 0.f;
  for (int64_t v = b; v < e; ++v) se += expf(x[v] - mx);
  const float raw_lse = mx + logf(block_sum(se, red));

  // 1. allowed mask, 2. repetition penalty
  const bool all_allowed = P.allowed_end < 0;
  for (int64_t v = b; v < e; ++v) p[v] = all_allowed ? x[v] : -INFINITY;
  __syncthreads();
  if (!all_allowed)
    for (int32_t i = P.allowed_begin + threadIdx.x; i < P.allowed_end; i += kThreads) p[allowed[i]] = x[allowed[i]];
  __syncthreads();
  if (P.repetition_penalty != 1.f)
    for (int32_t i = P.seen_begin + threadIdx.x; i < P.seen_end; i += kThreads) {
      const int32_t id = seen[i];
      const float z = p[id];
      if (z != -INFINITY) p[id] = z > 0.f ? z / P.repetition_penalty : z * P.repetition_penalty;
    }
  __syncthreads();

  // 3. temperature 0: greedy, lowest id among equal maxima
  if (P.temperature == 0.f) {
    float best = -INFINITY;
    int64_t arg = V;
    for (int64_t v = b; v < e; ++v)
      if (p[v] > best) best = p[v], arg = v;
    const float gmax = block_max(best, red);
    if (best != gmax) arg = V;
    buf[threadIdx.x] = float(arg);
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t a = V;
      for (int i = 0; i < kThreads; ++i) a = min(a, int64_t(buf[i]));
      token[r] = int32_t(a);
      logq[r] = 0.f;
      logp_out[r] = x[a] - raw_lse;
    }
    return;
  }

  // softmax at the temperature
  const float inv_t = 1.f / P.temperature;
  float m = -INFINITY;
  for (int64_t v = b; v < e; ++v) m = fmaxf(m, p[v] * inv_t);
  m = block_max(m, red);
  float s = 0.f;
  for (int64_t v = b; v < e; ++v) {
    const float q = p[v] == -INFINITY ? 0.f : expf(p[v] * inv_t - m);
    p[v] = q;
    s += q;
  }
  s = block_sum(s, red);
  for (int64_t v = b; v < e; ++v) p[v] /= s;
  __syncthreads();

  // Keeps every p > t and, among p == t, the first `need` by ascending id; zeroes the rest.
  auto cut = [&](float t, float need) {
    float ties = 0.f;
    for (int64_t v = b; v < e; ++v) ties += p[v] == t ? 1.f : 0.f;
    float total;
    float rank = exclusive_scan(ties, buf, &total);
    for (int64_t v = b; v < e; ++v) {
      if (p[v] > t) continue;
      if (p[v] == t && rank < need) {
        rank += 1.f;
        continue;
      }
      p[v] = 0.f;
    }
    __syncthreads();
  };
  auto count_ge = [&](float t) {
    float c = 0.f;
    for (int64_t v = b; v < e; ++v) c += (p[v] > 0.f && p[v] >= t) ? 1.f : 0.f;
    return block_sum(c, red);
  };
  auto count_gt = [&](float t) {
    float c = 0.f;
    for (int64_t v = b; v < e; ++v) c += p[v] > t ? 1.f : 0.f;
    return block_sum(c, red);
  };
  auto mass_ge = [&](float t) {
    float c = 0.f;
    for (int64_t v = b; v < e; ++v) c += (p[v] > 0.f && p[v] >= t) ? p[v] : 0.f;
    return block_sum(c, red);
  };
  auto mass_gt = [&](float t) {
    float c = 0.f;
    for (int64_t v = b; v < e; ++v) c += p[v] > t ? p[v] : 0.f;
    return block_sum(c, red);
  };

  // 4. top-k
  if (P.top_k > 0) {
    const float n_pos = count_ge(__uint_as_float(1u));  // tokens with p > 0
    if (float(P.top_k) < n_pos) {
      const float t = __uint_as_float(bisect_threshold(count_ge, float(P.top_k)));
      cut(t, float(P.top_k) - count_gt(t));
    }
  }
  // 5. top-p over what is kept: the smallest probability-descending prefix reaching top_p of the kept mass
  if (P.top_p < 1.f) {
    const float goal = P.top_p * mass_ge(__uint_as_float(1u));
    const float t = __uint_as_float(bisect_threshold(mass_ge, goal));
    const float above = mass_gt(t);
    const float need = t > 0.f ? ceilf((goal - above) / t) : 0.f;
    cut(t, fmaxf(need, 1.f));
  }
  // 6. min-p relative to the largest kept probability
  if (P.min_p > 0.f) {
    float pm = 0.f;
    for (int64_t v = b; v < e; ++v) pm = fmaxf(pm, p[v]);
    pm = block_max(pm, red);
    for (int64_t v = b; v < e; ++v)
      if (p[v] < P.min_p * pm) p[v] = 0.f;
    __syncthreads();
  }
  // 7. inverse CDF in ascending id order
  float mine = 0.f;
  for (int64_t v = b; v < e; ++v) mine += p[v];
  float total;
  const float before = exclusive_scan(mine, buf, &total);
  const float target = P.uniform * total;
  if (threadIdx.x == 0) pick_shared = -1;
  __syncthreads();
  if (mine > 0.f && target >= before && target < before + mine) {
    float c = before;
    int64_t last = -1;
    for (int64_t v = b; v < e; ++v) {
      if (p[v] <= 0.f) continue;
      last = v;
      c += p[v];
      if (target < c) break;
    }
    pick_shared = int(last);  // at most one thread's range contains the target
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int pick = pick_shared;
    if (pick < 0)  // rounding put the target at the very end: take the last kept token
      for (int64_t v = V - 1; v >= 0; --v)
        if (p[v] > 0.f) {
          pick = int(v);
          break;
        }
    token[r] = pick;
    logq[r] = logf(p[pick] / total);
    logp_out[r] = x[pick] - raw_lse;
  }
}

}  // namespace

void sample_rows(const float* logits, float* scratch, int64_t R, int64_t V, const SampleRowParams* params,
                 const int32_t* seen, const int32_t* allowed, int32_t* token, float* logq, float* logp,
                 cudaStream_t stream) {
  LFM2_CHECK(R >= 0 && V > 0 && V < (int64_t(1) << 24), "sample_rows: bad shape R=", R, " V=", V);  // ids pass through float
  if (R == 0) return;
  LFM2_LAUNCH(sample_kernel, unsigned(R), kThreads, 0, stream, logits, scratch, V, params, seen, allowed, token, logq, logp);
}

}  // namespace lfm2::cuda
