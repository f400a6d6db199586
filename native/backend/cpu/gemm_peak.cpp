#include "backend/cpu/gemm_peak.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_kernels.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

uint64_t read_stream_portable(const void* buf, int64_t bytes) {
  const auto* p = static_cast<const uint64_t*>(buf);
  uint64_t x0 = 0, x1 = 0, x2 = 0, x3 = 0;
  const int64_t n = bytes / 8;
  for (int64_t i = 0; i + 4 <= n; i += 4) x0 ^= p[i], x1 ^= p[i + 1], x2 ^= p[i + 2], x3 ^= p[i + 3];
  return x0 ^ x1 ^ x2 ^ x3;
}

}  // namespace

double cpu_peak_flops(const std::string& kind, double seconds) {
  LFM2_CHECK(seconds > 0 && seconds <= 60, "cpu_peak_flops: seconds must be in (0, 60], got ", seconds);
  const CpuFeatures& f = cpu_features();
  double (*probe)(double) = nullptr;
  if (kind == "fma-f32") {
    if (f.has_avx512()) probe = gemm_kernels::fma_peak_avx512;
    else if (f.has_avx2_fma()) probe = gemm_kernels::fma_peak_avx2;
  } else if (kind == "dot-bf16") {
    if (f.has_avx512_bf16()) probe = gemm_kernels::dot_bf16_peak_avx512;
  } else if (kind == "amx-bf16") {
    if (f.has_amx_bf16()) probe = gemm_kernels::amx_bf16_peak;
  } else {
    fail("cpu_peak_flops: unknown kind '", kind, "' (expected fma-f32, dot-bf16 or amx-bf16)");
  }
  LFM2_CHECK(probe, "cpu_peak_flops: this CPU has no instructions for '", kind, "'");
  const int t = num_threads();
  std::vector<double> rate(size_t(t), 0.0);
  parallel_for(t, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) rate[size_t(i)] = probe(seconds);
  });
  double total = 0;
  for (double r : rate) total += r;
  return total;
}

double cpu_read_bandwidth(int64_t bytes, double seconds) {
  LFM2_CHECK(bytes >= (int64_t(1) << 20) && bytes <= (int64_t(1) << 34),
             "cpu_read_bandwidth: bytes must be in [1 MiB, 16 GiB], got ", bytes);
  LFM2_CHECK(seconds > 0 && seconds <= 60, "cpu_read_bandwidth: seconds must be in (0, 60], got ", seconds);
  bytes = bytes / 4096 * 4096;
  std::unique_ptr<unsigned char, decltype(&std::free)> buf(
      static_cast<unsigned char*>(std::aligned_alloc(4096, size_t(bytes))), &std::free);
  LFM2_CHECK(buf, "cpu_read_bandwidth: cannot allocate ", bytes, " bytes");
  const int64_t pages = bytes / 4096;
  // Each thread first-touches and later reads the same pages.
  parallel_for(pages, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b * 4096; i < e * 4096; ++i) buf.get()[i] = static_cast<unsigned char>(i * 131 + 7);
  });
  const bool avx2 = cpu_features().has_avx2_fma();
  std::atomic<uint64_t> sink{0};
  int64_t passes = 0;
  // Process CPU time divided by the thread count: other processes on the cores do not dilute the rate.
  const auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  const double t0 = cpu_now();
  const int threads = std::min<int64_t>(num_threads(), pages);
  double elapsed = 0;
  do {
    parallel_for(pages, [&](int64_t b, int64_t e, int) {
      const unsigned char* p = buf.get() + b * 4096;
      const int64_t n = (e - b) * 4096;
      sink ^= avx2 ? gemm_kernels::read_stream_avx2(p, n) : read_stream_portable(p, n);
    });
    ++passes;
    elapsed = (cpu_now() - t0) / threads;
  } while (elapsed < seconds);
  return double(bytes) * double(passes) / elapsed;
}

}  // namespace lfm2
