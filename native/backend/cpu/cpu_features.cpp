#include "backend/cpu/cpu_features.h"

#include <cstring>
#include <initializer_list>

#include "core/error.h"

namespace lfm2 {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* simd_isa_name(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::Auto: return "auto";
    case SimdIsa::Portable: return "portable";
    case SimdIsa::Avx2: return "avx2";
    case SimdIsa::Avx512: return "avx512";
  }
  return "?";
}

bool simd_isa_from_name(const char* name, SimdIsa* out) {
  for (SimdIsa i : {SimdIsa::Auto, SimdIsa::Portable, SimdIsa::Avx2, SimdIsa::Avx512})
    if (std::strcmp(name, simd_isa_name(i)) == 0) {
      *out = i;
      return true;
    }
  return false;
}

SimdIsa simd_isa_choose(SimdIsa want, bool has_avx2_kernels, const char* what) {
  // has_avx512 / has_avx2_fma: every flag the *_avx512.cpp / *_avx2.cpp files are compiled with.
  const CpuFeatures& f = cpu_features();
  if (want == SimdIsa::Auto)
    return f.has_avx512() ? SimdIsa::Avx512 : f.has_avx2_fma() && has_avx2_kernels ? SimdIsa::Avx2 : SimdIsa::Portable;
  LFM2_CHECK(want != SimdIsa::Avx2 || has_avx2_kernels, what, ": there are no avx2 kernels");
  const bool ok = want == SimdIsa::Portable || (want == SimdIsa::Avx2 && f.has_avx2_fma()) ||
                  (want == SimdIsa::Avx512 && f.has_avx512());
  LFM2_CHECK(ok, what, ": the ", simd_isa_name(want), " kernels need a CPU feature this machine lacks");
  return want;
}

}  // namespace lfm2
