#pragma once
// Minimal user-space context switching for the CUDA emulation: one fiber per emulated CUDA thread.
// x86-64 uses a hand-written switch (the callee-saved registers only: a few nanoseconds); other targets, and
// builds with LFM2_CUDA_EMU_UCONTEXT, use ucontext (a syscall per switch).
// Fibers never return: their entry function ends by switching away for good.
#include <cstddef>

#if !defined(__x86_64__) || defined(LFM2_CUDA_EMU_UCONTEXT)
#define LFM2_EMU_FIBER_UCONTEXT 1
#include <ucontext.h>
#endif

namespace lfm2_emu {

struct FiberContext {
#ifdef LFM2_EMU_FIBER_UCONTEXT
  ucontext_t uc;
#else
  void* sp = nullptr;
#endif
  void* stack_base = nullptr;  // lowest address of the stack (for sanitizer annotations)
  size_t stack_size = 0;
  // AddressSanitizer's fake-stack handle across a switch. A member, not a local of fiber_switch: a fiber that
  // switches away for good would leave that local's redzone poison on its stack for the next fiber to trip over.
  void* asan_fake = nullptr;
};

// Prepares `f` to run entry(arg) on [stack, stack + size) at its first switch-in.
void fiber_init(FiberContext& f, void* stack, size_t size, void (*entry)(void*), void* arg);
// Saves the current context in `from` and resumes `to`.
void fiber_switch(FiberContext& from, FiberContext& to);
// Called first thing by a fiber's entry function (completes the switch for AddressSanitizer; no-op otherwise).
void fiber_entered();
// Called by a fiber about to switch away for good: under AddressSanitizer, clears the poisoning its unfinished frames
// left on the stack, which the next fiber on that stack would otherwise trip over; no-op otherwise.
void fiber_abandon();

}  // namespace lfm2_emu
