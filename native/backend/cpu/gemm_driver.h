#pragma once
// Cache-blocked GEMM driver shared by the SIMD kernel files (BLIS loop order jc -> pc -> ic -> jr -> ir).
// Included only by gemm_*_<isa>.cpp: everything here has internal linkage, so each ISA file gets its own copy
// compiled with its own instruction set.
//
// A `Kern` describes one register-blocked micro-kernel:
//   using PackT;                       element type of the packed panels
//   static constexpr int MR, NR;       register tile (rows of C x columns of C)
//   static constexpr int64_t MC, KC, NC;   cache blocks: MC x KC of A in L2, KC x NR of B in L1, KC x NC of B in L3
//   static int64_t kpad(int64_t kc);   packed depth (kc rounded up to the kernel's k step)
//   static void micro(int64_t kc, const PackT* a_panel, const PackT* b_panel, float* C, int64_t ldc, float beta,
//                     int mr, int nr);  C[mr, nr] = beta*C + a_panel . b_panel (beta == 0: C is not read)
//   static void thread_begin();        optional: per-thread set-up before a thread's first micro call of a product
//                                      (AMX loads its tile configuration there)
// pack_a(dst, i0, mc, p0, kc) writes ceil(mc/MR) panels of MR rows x kpad(kc), zero-padded, each MR*kpad long;
// pack_b(dst, j0, nc, p0, kc) writes ceil(nc/NR) panels of NR columns likewise. Packers may write up to
// kPackSlack elements past the last panel.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

#include "core/threadpool.h"

namespace lfm2 {
namespace {

constexpr int64_t kPackSlack = 64;

// Grows on demand; one per thread and kernel type, kept for the life of the (persistent) pool thread.
template <class T>
struct PackBuffer {
  T* data = nullptr;
  int64_t cap = 0;
  ~PackBuffer() { std::free(data); }
  T* get(int64_t n) {
    n += kPackSlack;
    if (n > cap) {
      std::free(data);
      data = static_cast<T*>(std::aligned_alloc(64, size_t((n * int64_t(sizeof(T)) + 63) / 64 * 64)));
      if (!data) throw std::bad_alloc();
      cap = n;
    }
    return data;
  }
};

// One A and one B buffer per thread and packed element type, shared by every kernel that packs into T (Which = 0, 1),
// and the calling thread's buffer for an A packed once for all threads (Which = 2).
template <class T, int Which>
PackBuffer<T>& thread_pack_buffer() {
  static thread_local PackBuffer<T> buf;
  return buf;
}

inline void scale_c(int64_t M, int64_t N, float* C, int64_t ldc, float beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
}

// Whether a kernel has the optional Kern::thread_begin().
template <class Kern, class = void>
struct HasThreadBegin : std::false_type {};
template <class Kern>
struct HasThreadBegin<Kern, std::void_t<decltype(Kern::thread_begin())>> : std::true_type {};

// A packed once for all threads (gemm calls that split C's columns between threads): every (depth block, row block)
// pair in its own slot, slots kPackSlack apart so that one packer's spill never reaches a slot another thread fills.
// The storage is the calling thread's own growable buffer, kept between calls (no page faults per call).
template <class T>
struct SharedPackedA {
  T* data = nullptr;
  int64_t slot = 0;  // elements per slot
  int64_t row_blocks = 0;
  T* at(int64_t depth_block, int64_t row_block) const { return data + (depth_block * row_blocks + row_block) * slot; }
};
// Above this A is packed per thread as before: the shared copy would cost more memory than the packing it saves.
// 8 MiB holds a 512-row prefill's widest product (K = 4608: 5.8 MB); training's 4096-row products (10-42 MB) keep
// packing per thread, a small share of their time, and their peak memory (16 MiB more put LoRA 8×512 at 6.53 GiB).
constexpr int64_t kSharedPackMaxBytes = int64_t(8) << 20;

template <class Kern, class PackA, class PackB>
void blocked_gemm(int64_t M, int64_t N, int64_t K, const PackA& pack_a, const PackB& pack_b, float* C, int64_t ldc,
                  float beta) {
  using T = typename Kern::PackT;
  constexpr int MR = Kern::MR, NR = Kern::NR;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(M, N, C, ldc, beta);
    return;
  }
  // Each thread owns a slice of C's columns (and reads all of A) or of its rows (and packs all of B): split the
  // dimension whose partner operand is smaller, so the duplicated packing work is the cheaper one.
  const bool split_n = N >= M;
  const int64_t units = split_n ? (N + NR - 1) / NR : (M + MR - 1) / MR;
  // Below ~2 MFLOP the pool's hand-off costs more than it saves.
  const int64_t grain = (M * N * K < (int64_t(1) << 20)) ? units : 1;
  // Column split on several threads: pack A once, in parallel, instead of once per thread and column block (4.2 % of
  // a prefill was A packing, done 4 times over with 2 threads).
  const int64_t depth_blocks = (K + Kern::KC - 1) / Kern::KC;
  SharedPackedA<T> shared;
  shared.row_blocks = (M + Kern::MC - 1) / Kern::MC;
  shared.slot = (Kern::MC + MR) * Kern::kpad(Kern::KC) + kPackSlack;
  const int64_t shared_elems = depth_blocks * shared.row_blocks * shared.slot;
  if (split_n && grain == 1 && num_threads() > 1 && shared_elems * int64_t(sizeof(T)) <= kSharedPackMaxBytes) {
    shared.data = thread_pack_buffer<T, 2>().get(shared_elems);
    parallel_for(depth_blocks * shared.row_blocks, [&](int64_t b0, int64_t b1, int) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t pcb = b / shared.row_blocks, icb = b % shared.row_blocks;
        const int64_t pc = pcb * Kern::KC, ic = icb * Kern::MC;
        pack_a(shared.at(pcb, icb), ic, std::min<int64_t>(Kern::MC, M - ic), pc, std::min<int64_t>(Kern::KC, K - pc));
      }
    });
  }
  parallel_for(
      units,
      [&](int64_t u0, int64_t u1, int) {
        if constexpr (HasThreadBegin<Kern>::value) Kern::thread_begin();
        const int64_t n0 = split_n ? u0 * NR : 0, n1 = split_n ? std::min(N, u1 * NR) : N;
        const int64_t m0 = split_n ? 0 : u0 * MR, m1 = split_n ? M : std::min(M, u1 * MR);
        PackBuffer<T>& abuf = thread_pack_buffer<T, 0>();
        PackBuffer<T>& bbuf = thread_pack_buffer<T, 1>();
        const int64_t kp_max = Kern::kpad(std::min<int64_t>(Kern::KC, K));
        T* ap = shared.data ? nullptr : abuf.get((std::min<int64_t>(Kern::MC, m1 - m0) + MR) * kp_max);
        T* bp = bbuf.get((std::min<int64_t>(Kern::NC, n1 - n0) + NR) * kp_max);
        for (int64_t jc = n0; jc < n1; jc += Kern::NC) {
          const int64_t nc = std::min<int64_t>(Kern::NC, n1 - jc);
          for (int64_t pc = 0; pc < K; pc += Kern::KC) {
            const int64_t kc = std::min<int64_t>(Kern::KC, K - pc);
            const int64_t kp = Kern::kpad(kc);
            const float b = pc == 0 ? beta : 1.f;  // later depth blocks accumulate onto the first one's result
            pack_b(bp, jc, nc, pc, kc);
            for (int64_t ic = m0; ic < m1; ic += Kern::MC) {
              const int64_t mc = std::min<int64_t>(Kern::MC, m1 - ic);
              const T* a = ap;
              if (shared.data)
                a = shared.at(pc / Kern::KC, ic / Kern::MC);  // split_n: m0 = 0, so ic is a multiple of MC
              else
                pack_a(ap, ic, mc, pc, kc);
              for (int64_t jr = 0; jr < nc; jr += NR)
                for (int64_t ir = 0; ir < mc; ir += MR)
                  Kern::micro(kc, a + (ir / MR) * MR * kp, bp + (jr / NR) * NR * kp, C + (ic + ir) * ldc + jc + jr,
                              ldc, b, int(std::min<int64_t>(MR, mc - ir)), int(std::min<int64_t>(NR, nc - jr)));
            }
          }
        }
      },
      grain);
}

}  // namespace
}  // namespace lfm2
