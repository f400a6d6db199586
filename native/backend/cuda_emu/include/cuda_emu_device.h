#pragma once
// CUDA emulation: the device-side language as plain C++. Each CUDA thread of a block is a fiber on the launching
// host thread (native/backend/cuda_emu/block_runner.cpp); blocks run one after another and every launch in the
// process runs under one lock, so
//   - threadIdx/blockIdx/blockDim/gridDim are process globals the scheduler sets before resuming a fiber;
//   - __shared__ is `static` (one instance, used by one block at a time; contents are NOT cleared between blocks);
//   - atomics are plain read-modify-writes (no two fibers ever run at once);
//   - __syncthreads and the warp collectives suspend the fiber until every thread they name has arrived, and report
//     divergence (a barrier not reached by the whole block, lanes that exited, mismatched masks) and deadlocks
//     as a launch error naming the kernel.
// Not supported (fails to compile): __constant__, extern __shared__ (dynamic shared memory), textures, cooperative
// groups, __activemask, __match_*_sync, dynamic parallelism. The size of static __shared__ arrays is not checked
// here (nvcc's ptxas rejects more than 48 KiB at compile time); the launch checks the dynamic size.
#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

constexpr int warpSize = 32;

namespace lfm2_emu {

// Coordinates of the fiber that is running (set by the scheduler on every switch).
struct Coords {
  uint3 thread;
  uint3 block;
  dim3 block_dim;
  dim3 grid_dim;
};
extern Coords g_coords;

// Suspends the calling CUDA thread until the whole block has arrived (file/line name the barrier in errors).
void syncthreads(const char* file, int line);
// Warp collective: every lane of `mask` contributes `value`; returns the 32 contributed values (index = lane),
// valid until the caller's next collective. `op` names the intrinsic in errors.
const uint64_t* warp_exchange(unsigned mask, uint64_t value, const char* op);
// Lane of the calling thread within its warp (warps are formed from the linear thread id, as on the GPU).
int lane_id();
// Ends the current launch with a kernel error (e.g. a shuffle reading a lane outside its mask).
[[noreturn]] void device_fail(const char* what);

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp collectives move ≤ 8-byte values");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
// Value of lane `src` after a collective; a source outside the participating lanes is an error (undefined on a GPU).
template <class T>
T lane_value(const uint64_t* vals, unsigned mask, int src, const char* op) {
  if (!((mask >> src) & 1u)) device_fail(op);
  return from_bits<T>(vals[src]);
}

}  // namespace lfm2_emu

#define threadIdx (::lfm2_emu::g_coords.thread)
#define blockIdx (::lfm2_emu::g_coords.block)
#define blockDim (::lfm2_emu::g_coords.block_dim)
#define gridDim (::lfm2_emu::g_coords.grid_dim)

#define __syncthreads() ::lfm2_emu::syncthreads(__FILE__, __LINE__)

inline void __syncwarp(unsigned mask = 0xffffffffu) { ::lfm2_emu::warp_exchange(mask, 0, "__syncwarp"); }
inline void __threadfence() {}
inline void __threadfence_block() {}

// ---- warp shuffles (width = power of two ≤ 32 splits the warp into independent segments, as on the GPU)
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize) {
  const uint64_t* vals = ::lfm2_emu::warp_exchange(mask, ::lfm2_emu::to_bits(v), "__shfl_sync");
  const int lane = ::lfm2_emu::lane_id();
  const int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
  return ::lfm2_emu::lane_value<T>(vals, mask, src, "__shfl_sync reads a lane outside its mask");
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  const uint64_t* vals = ::lfm2_emu::warp_exchange(mask, ::lfm2_emu::to_bits(v), "__shfl_xor_sync");
  const int lane = ::lfm2_emu::lane_id();
  const int src = lane ^ lane_mask;
  if (src >= warpSize || (src & ~(width - 1)) != (lane & ~(width - 1))) return v;  // outside the segment: own value
  return ::lfm2_emu::lane_value<T>(vals, mask, src, "__shfl_xor_sync reads a lane outside its mask");
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  const uint64_t* vals = ::lfm2_emu::warp_exchange(mask, ::lfm2_emu::to_bits(v), "__shfl_up_sync");
  const int lane = ::lfm2_emu::lane_id();
  if ((lane & (width - 1)) < int(delta)) return v;
  return ::lfm2_emu::lane_value<T>(vals, mask, lane - int(delta), "__shfl_up_sync reads a lane outside its mask");
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  const uint64_t* vals = ::lfm2_emu::warp_exchange(mask, ::lfm2_emu::to_bits(v), "__shfl_down_sync");
  const int lane = ::lfm2_emu::lane_id();
  if ((lane & (width - 1)) + int(delta) >= width) return v;
  return ::lfm2_emu::lane_value<T>(vals, mask, lane + int(delta), "__shfl_down_sync reads a lane outside its mask");
}

// ---- warp votes and reductions
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const uint64_t* vals = ::lfm2_emu::warp_exchange(mask, pred != 0, "__ballot_sync");
  unsigned r = 0;
  for (int l = 0; l < warpSize; ++l)
    if (((mask >> l) & 1u) && vals[l]) r |= 1u << l;
  return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
namespace lfm2_emu {
template <class T, class F>
T warp_reduce(unsigned mask, T v, const char* op, F f) {
  const uint64_t* vals = warp_exchange(mask, to_bits(v), op);
  bool first = true;
  T r{};
  for (int l = 0; l < warpSize; ++l)
    if ((mask >> l) & 1u) r = first ? from_bits<T>(vals[l]) : f(r, from_bits<T>(vals[l])), first = false;
  return r;
}
}  // namespace lfm2_emu
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
  return ::lfm2_emu::warp_reduce(mask, v, "__reduce_add_sync", [](unsigned a, unsigned b) { return a + b; });
}
inline int __reduce_add_sync(unsigned mask, int v) {
  return int(__reduce_add_sync(mask, unsigned(v)));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  return ::lfm2_emu::warp_reduce(mask, v, "__reduce_max_sync", [](unsigned a, unsigned b) { return a > b ? a : b; });
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return ::lfm2_emu::warp_reduce(mask, v, "__reduce_max_sync", [](int a, int b) { return a > b ? a : b; });
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  return ::lfm2_emu::warp_reduce(mask, v, "__reduce_min_sync", [](unsigned a, unsigned b) { return a < b ? a : b; });
}
inline int __reduce_min_sync(unsigned mask, int v) {
  return ::lfm2_emu::warp_reduce(mask, v, "__reduce_min_sync", [](int a, int b) { return a < b ? a : b; });
}

// ---- atomics: fibers never run concurrently, so a plain read-modify-write is atomic. Return the old value.
#define LFM2_EMU_ATOMIC(name, T, expr) \
  inline T name(T* p, T v) {           \
    const T old = *p;                  \
    *p = (expr);                       \
    return old;                        \
  }
LFM2_EMU_ATOMIC(atomicAdd, float, old + v)
LFM2_EMU_ATOMIC(atomicAdd, double, old + v)
LFM2_EMU_ATOMIC(atomicAdd, int, int(unsigned(old) + unsigned(v)))
LFM2_EMU_ATOMIC(atomicAdd, unsigned int, old + v)
LFM2_EMU_ATOMIC(atomicAdd, unsigned long long, old + v)
LFM2_EMU_ATOMIC(atomicSub, int, int(unsigned(old) - unsigned(v)))
LFM2_EMU_ATOMIC(atomicSub, unsigned int, old - v)
LFM2_EMU_ATOMIC(atomicExch, int, v)
LFM2_EMU_ATOMIC(atomicExch, unsigned int, v)
LFM2_EMU_ATOMIC(atomicExch, unsigned long long, v)
LFM2_EMU_ATOMIC(atomicExch, float, v)
LFM2_EMU_ATOMIC(atomicMax, int, old > v ? old : v)
LFM2_EMU_ATOMIC(atomicMax, unsigned int, old > v ? old : v)
LFM2_EMU_ATOMIC(atomicMax, long long, old > v ? old : v)
LFM2_EMU_ATOMIC(atomicMax, unsigned long long, old > v ? old : v)
LFM2_EMU_ATOMIC(atomicMin, int, old < v ? old : v)
LFM2_EMU_ATOMIC(atomicMin, unsigned int, old < v ? old : v)
LFM2_EMU_ATOMIC(atomicMin, long long, old < v ? old : v)
LFM2_EMU_ATOMIC(atomicMin, unsigned long long, old < v ? old : v)
LFM2_EMU_ATOMIC(atomicAnd, int, old & v)
LFM2_EMU_ATOMIC(atomicAnd, unsigned int, old & v)
LFM2_EMU_ATOMIC(atomicOr, int, old | v)
LFM2_EMU_ATOMIC(atomicOr, unsigned int, old | v)
LFM2_EMU_ATOMIC(atomicXor, int, old ^ v)
LFM2_EMU_ATOMIC(atomicXor, unsigned int, old ^ v)
LFM2_EMU_ATOMIC(atomicInc, unsigned int, old >= v ? 0u : old + 1u)
LFM2_EMU_ATOMIC(atomicDec, unsigned int, (old == 0u || old > v) ? v : old - 1u)
#undef LFM2_EMU_ATOMIC
#define LFM2_EMU_ATOMIC_CAS(T)               \
  inline T atomicCAS(T* p, T compare, T v) { \
    const T old = *p;                        \
    if (old == compare) *p = v;              \
    return old;                              \
  }
LFM2_EMU_ATOMIC_CAS(int)
LFM2_EMU_ATOMIC_CAS(unsigned int)
LFM2_EMU_ATOMIC_CAS(unsigned long long)
LFM2_EMU_ATOMIC_CAS(unsigned short)
#undef LFM2_EMU_ATOMIC_CAS

// ---- bit casts and fast-math intrinsics (the emulation computes them at full precision)
inline float __uint_as_float(unsigned int u) { return ::lfm2_emu::from_bits<float>(u); }
inline float __int_as_float(int i) { return ::lfm2_emu::from_bits<float>(uint32_t(i)); }
inline unsigned int __float_as_uint(float f) { return uint32_t(::lfm2_emu::to_bits(f)); }
inline int __float_as_int(float f) { return int(uint32_t(::lfm2_emu::to_bits(f))); }
inline double __longlong_as_double(long long i) { return ::lfm2_emu::from_bits<double>(uint64_t(i)); }
inline long long __double_as_longlong(double d) { return (long long)(::lfm2_emu::to_bits(d)); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

// CUDA's integer min/max overloads (device code calls them unqualified on mixed int/int64 arguments).
template <class A, class B, class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(a) < C(b) ? C(a) : C(b);
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(a) > C(b) ? C(a) : C(b);
}
