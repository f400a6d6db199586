#pragma once
// exp(x) of 16 lanes for the AVX-512 kernel files (include only from files compiled with the AVX-512 flags).
// x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), exp(r) by a degree-7 polynomial in FMA Horner steps, then
// scaled by 2^n with vscalefps (exact, down to 0 below the denormal range). Inputs are clamped to [−104, 88.7]: exp
// of anything larger is the largest finite value's neighbourhood (~3.3e38), never Inf, and a NaN stays NaN.
// Relative error < 2e-7 on [−104, 88.7]; the same reduction and polynomial as the portable attention tiles' exp_poly.
#include <immintrin.h>

namespace lfm2::cpu {

static inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.f), x);  // max/min return the second operand for a NaN: it stays NaN
  x = _mm512_min_ps(_mm512_set1_ps(88.7f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace lfm2::cpu
