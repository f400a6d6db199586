// The attention tile loops of attention_tiles.inc compiled with AVX2+FMA flags, for CPUs without AVX-512; called
// only after a run-time CPU check in attention_backward.cpp. No kernels of its own: the blocked plain loops run on
// 8-float vectors (ymm) with fused multiply-adds, and the compiler vectorises the rest 8 wide.
#include <math.h>
#include <string.h>

#include <cstdint>

#include "backend/cpu/backward/attention_backward.h"

#define LFM2_ATTN_NS avx2
#define LFM2_ATTN_VBYTES 32
#include "backend/cpu/backward/attention_tiles.inc"
