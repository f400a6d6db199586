#pragma once
// Run-time CPU feature detection. SIMD kernels (files named *_avx2.cpp / *_avx512.cpp) may only be called
// after checking the matching flags here: the addon is built with those files on every x86-64 machine.
namespace lfm2 {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512bf16 = false;
  bool amx_bf16 = false;  // AMX-TILE and AMX-BF16, and the OS let this process use the tile state

  // What the kernels of each file family need (see CMakeLists.txt for the flags they are compiled with).
  bool has_avx2_fma() const { return avx2 && fma && f16c; }
  bool has_avx512() const { return has_avx2_fma() && avx512f && avx512bw && avx512vl && avx512dq; }
  bool has_avx512_bf16() const { return has_avx512() && avx512bf16; }
  bool has_amx_bf16() const { return has_avx512_bf16() && amx_bf16; }
};

// Which family of kernels to run, for code that has several (tests force each one the CPU supports).
enum class SimdIsa : int { Auto = 0, Portable = 1, Avx2 = 2, Avx512 = 3 };
const char* simd_isa_name(SimdIsa isa);                  // "auto", "portable", "avx2", "avx512"
bool simd_isa_from_name(const char* name, SimdIsa* out);  // false for any other name

// The kernels a family runs for a request: Auto = the best this CPU supports among those the family has (portable
// and AVX-512 always, AVX2 when has_avx2_kernels); an explicit choice the family or the CPU lacks is an error naming
// `what`.
SimdIsa simd_isa_choose(SimdIsa want, bool has_avx2_kernels, const char* what);

// Detected once; cheap to call.
const CpuFeatures& cpu_features();

}  // namespace lfm2
