#pragma once
// LoRA math for one adapted linear W [out, in] (PEFT layout: lora_A [r, in], lora_B [out, r], scale s = alpha/r, or
// alpha/sqrt(r) with rsLoRA). Rows are the packed tokens of every sequence in the batch.
//
// Forward:   xa = x·Aᵀ                [N, r]   (kept for the backward)
//            y += s · xa·Bᵀ           [N, out] (added onto the base layer's output)
// Backward (dy [N, out]):
//            dxa = s · dy·B           [N, r]
//            dB += s · dyᵀ·xa         [out, r]
//            dA += dxaᵀ·x             [r, in]
//            dx += dxa·A              [N, in]  (the adapter's share of the input gradient)
// Gradient accumulation policy: dA, dB (parameters) and dx (the caller also adds the base path into it) are +=.
//
// Init like PEFT: A ~ kaiming_uniform(a = √5) = U(−1/√in, 1/√in); B = 0 (so a fresh adapter changes nothing).
// Merge / unmerge: W ± s·B·A. With a BF16 base the result is rounded to BF16 each time, so unmerge(merge(W)) can
// differ from W by BF16 rounding (PEFT behaves the same way).
#include <cstdint>

#include "backend/cpu/gemm.h"

namespace lfm2 {

float lora_scale(float alpha, int64_t rank, bool use_rslora);

// x [N, in], A [r, in], B [out, r] → xa [N, r] (written), y [N, out] (+=)
void lora_forward(int64_t rows, int64_t in, int64_t out, int64_t rank, float scale, const float* x, const float* A,
                  const float* B, float* xa, float* y);

// dy [N, out], x [N, in], xa [N, r] (from lora_forward), A, B → dA [r, in] (+=), dB [out, r] (+=), dx [N, in] (+=;
// nullptr skips it, e.g. for the first layer's input).
void lora_backward(int64_t rows, int64_t in, int64_t out, int64_t rank, float scale, const float* dy, const float* x,
                   const float* xa, const float* A, const float* B, float* dA, float* dB, float* dx);

// A [r, in] ← U(−1/√in, 1/√in) from a deterministic generator seeded with `seed`; B [out, r] ← 0.
void lora_init(int64_t in, int64_t out, int64_t rank, uint64_t seed, float* A, float* B);

// W [out, in] (FP32 or BF16) += sign · scale · B·A, sign = +1 (merge) or −1 (unmerge).
void lora_merge(int64_t in, int64_t out, int64_t rank, float scale, const float* A, const float* B, void* W,
                DType wtype, int sign);

}  // namespace lfm2
