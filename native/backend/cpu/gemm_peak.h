#pragma once
// Machine ceilings for the GEMM roofline, measured with microbenchmarks (used by bench/gemm.ts).
#include <cstdint>
#include <string>

namespace lfm2 {

// Rates are per second of CPU time (summed over the pool threads), so that other processes sharing the cores do not
// lower them: they are the ceilings of a quiet machine.
//
// Peak arithmetic rate in FLOP/s of `kind` on all pool threads at once, each running for about `seconds`:
//   "fma-f32"  : FP32 fused multiply-add stream (AVX-512 if available, else AVX2)
//   "dot-bf16" : vdpbf16ps stream (AVX512_BF16 only; 4 FLOP per FP32 lane per instruction)
// Throws lfm2::Error when the CPU lacks the instructions.
double cpu_peak_flops(const std::string& kind, double seconds);

// Sustained read bandwidth in bytes/s over a `bytes`-sized buffer on all pool threads (pick a buffer well above
// the last-level cache to measure DRAM; the weights of LFM2-350M are 0.71 GB).
double cpu_read_bandwidth(int64_t bytes, double seconds);

}  // namespace lfm2
