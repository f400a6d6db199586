#include "backend/cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/error.h"

namespace lfm2 {
namespace {

#if defined(__x86_64__)
// AMX needs the CPU's AMX-TILE and AMX-BF16 (CPUID leaf 7: EDX bits 24 and 22), the OS's support for the tile state
// (XCR0 bits 17 and 18) and, on Linux, this process's permission for the tile data, which is asked for once here:
// without it the first tile instruction faults.
bool amx_usable() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(d & (1u << 24)) || !(d & (1u << 22))) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv is allowed
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
#endif
  return true;
}
#endif

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
#if defined(__x86_64__)
  // LFM2_NO_AMX=1 hides AMX (to compare with the vdpbf16ps kernels in one build).
  const char* no_amx = std::getenv("LFM2_NO_AMX");
  f.amx_bf16 = !(no_amx && *no_amx && std::strcmp(no_amx, "0") != 0) && amx_usable();
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
