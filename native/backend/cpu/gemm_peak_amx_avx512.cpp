// AMX peak probe for the benchmark: TDPBF16PS into 4 accumulator tiles from A and B tiles loaded once (register-only
// stream, so the rate is the tile unit's and not a cache's), counted as 16 x 16 x 32 x 2 FLOP per instruction.
// Called only when cpu_features().has_amx_bf16().
#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/gemm_amx_tiles.h"
#include "backend/cpu/gemm_kernels.h"

namespace lfm2::gemm_kernels {

double amx_bf16_peak(double seconds) {
  configure_tiles();
  alignas(64) static const uint16_t ones[16 * 32] = {};  // zeros: the rate does not depend on the values
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const double t0 = thread_cpu_seconds();
  int64_t n = 0;
  double t = 0;
  do {
    for (int i = 0; i < 256; ++i) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    n += 1024;
    t = thread_cpu_seconds() - t0;
  } while (t < seconds);
  alignas(64) float sink[16 * 16];
  _tile_stored(0, sink, 64);
  return double(n) * 16 * 16 * 32 * 2 / t;
}

}  // namespace lfm2::gemm_kernels
