#pragma once
// CUDA emulation: __nv_bfloat16 and its conversions, bit-exact with the real <cuda_bf16.h> (round to nearest even,
// NaN kept quiet). Host and "device" code are the same C++ here.
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  inline __nv_bfloat16(float f);  // rounds to nearest even, like __float2bfloat16
  inline operator float() const;
};
typedef __nv_bfloat16 nv_bfloat16;

inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  __nv_bfloat16 b;
  b.__x = u;
  return b;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(uint16_t((u >> 16) | 0x40u));  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return __ushort_as_bfloat16(uint16_t(u >> 16));
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
// Round toward zero (truncation), as the real intrinsic.
inline __nv_bfloat16 __float2bfloat16_rz(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(uint16_t((u >> 16) | 0x40u));
  return __ushort_as_bfloat16(uint16_t(u >> 16));
}
inline float __bfloat162float(__nv_bfloat16 b) {
  const uint32_t u = uint32_t(b.__x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline __nv_bfloat16::__nv_bfloat16(float f) : __x(__float2bfloat16_rn(f).__x) {}
inline __nv_bfloat16::operator float() const { return __bfloat162float(*this); }
