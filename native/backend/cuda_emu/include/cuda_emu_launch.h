#pragma once
// CUDA emulation: kernel launches. LFM2_LAUNCH (prelude.h) calls lfm2_emu::launch, which copies the arguments (by
// value, converted to the kernel's parameter types, as a real launch does) into a closure and hands it to the
// runtime: run now, or recorded when the stream is capturing a graph.
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime.h"

namespace lfm2_emu {

// A kernel invocation with its arguments bound; `run` is called once per CUDA thread.
struct KernelCall {
  virtual ~KernelCall() = default;
  virtual void run() const = 0;
};

// Validates the configuration, then runs the grid (or records it on a capturing stream). Errors are returned and
// also left for cudaGetLastError, with a message naming `name`.
cudaError_t launch_kernel(const char* name, const void* func, dim3 grid, dim3 block, size_t dynamic_smem,
                          cudaStream_t stream, std::shared_ptr<const KernelCall> call);

template <class... P>
struct BoundKernel final : KernelCall {
  void (*func)(P...);
  std::tuple<std::decay_t<P>...> args;
  template <class... A>
  explicit BoundKernel(void (*f)(P...), A&&... a) : func(f), args(std::forward<A>(a)...) {}
  void run() const override { std::apply(func, args); }
};

template <class... P, class... A>
cudaError_t launch(const char* name, void (*func)(P...), dim3 grid, dim3 block, size_t dynamic_smem,
                   cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  auto call = std::make_shared<const BoundKernel<P...>>(func, std::forward<A>(args)...);
  return launch_kernel(name, reinterpret_cast<const void*>(func), grid, block, dynamic_smem, stream, std::move(call));
}

}  // namespace lfm2_emu
