#pragma once
// AMX tile configuration shared by the AMX kernels (gemm_amx_avx512.cpp, gemm_small_amx_avx512.cpp): palette 1, the
// eight tiles 16 rows x 64 bytes (16 x 16 FP32 results, 16 x 32 BF16 operands). The configuration belongs to the
// thread; every AMX kernel here uses this one. Included only by files compiled with AMX enabled.
#include <immintrin.h>

#include <cstdint>

namespace lfm2 {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Loads the configuration on the calling thread the first time it runs an AMX kernel.
inline void configure_tiles() {
  static thread_local bool configured = false;
  if (configured) return;
  const TileConfig cfg;
  _tile_loadconfig(&cfg);
  configured = true;
}

}  // namespace
}  // namespace lfm2
