#include "backend/cpu/cpu_features.h"

#include <cstring>
#include <initializer_list>

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

}  // namespace lfm2
