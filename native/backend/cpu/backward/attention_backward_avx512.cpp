// The attention tile loops compiled with AVX-512 flags (the compiler vectorises them 16 wide with FMA); called
// only after a run-time CPU check in attention_backward.cpp.
#include <math.h>

#include <cstdint>

#include "backend/cpu/backward/attention_backward.h"

#define LFM2_ATTN_NS avx512
#include "backend/cpu/backward/attention_tiles.inc"
