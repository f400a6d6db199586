#include "fiber.h"

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace lfm2_emu {

// AddressSanitizer must be told about every stack switch (__sanitizer_start/finish_switch_fiber) or it misjudges
// which stack an access is on. The host thread's own stack (the scheduler context, stack_base == nullptr) has its
// bounds filled in from what ASan reports the first time a fiber is entered from it.
namespace {
thread_local FiberContext* t_from = nullptr;

void before_switch(FiberContext& from, FiberContext& to) {
  t_from = &from;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(&from.asan_fake, to.stack_base, to.stack_size);
#else
  (void)to;
#endif
}

// `self` is the context now running (nullptr on a fiber's first entry).
void after_switch(FiberContext* self) {
#if defined(__SANITIZE_ADDRESS__)
  thread_local const void* bottom;  // not locals: see FiberContext::asan_fake
  thread_local size_t size;
  __sanitizer_finish_switch_fiber(self ? self->asan_fake : nullptr, &bottom, &size);
  if (t_from && !t_from->stack_base) {
    t_from->stack_base = const_cast<void*>(bottom);
    t_from->stack_size = size;
  }
#else
  (void)self;
#endif
}
}  // namespace

#ifdef LFM2_EMU_FIBER_UCONTEXT

namespace {
// makecontext passes int arguments only: split the two pointers into 32-bit halves.
void ucontext_trampoline(unsigned e_hi, unsigned e_lo, unsigned a_hi, unsigned a_lo) {
  auto entry = reinterpret_cast<void (*)(void*)>((uintptr_t(e_hi) << 32) | e_lo);
  void* arg = reinterpret_cast<void*>((uintptr_t(a_hi) << 32) | a_lo);
  entry(arg);
}
}  // namespace

void fiber_init(FiberContext& f, void* stack, size_t size, void (*entry)(void*), void* arg) {
  f.stack_base = stack;
  f.stack_size = size;
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = stack;
  f.uc.uc_stack.ss_size = size;
  f.uc.uc_link = nullptr;
  const uintptr_t e = reinterpret_cast<uintptr_t>(entry), a = reinterpret_cast<uintptr_t>(arg);
  makecontext(&f.uc, reinterpret_cast<void (*)()>(ucontext_trampoline), 4, unsigned(e >> 32), unsigned(e),
              unsigned(a >> 32), unsigned(a));
}

void fiber_switch(FiberContext& from, FiberContext& to) {
  before_switch(from, to);
  swapcontext(&from.uc, &to.uc);
  after_switch(&from);
}

#else

extern "C" void lfm2_emu_switch_sp(void** save_sp, void* new_sp);
extern "C" void lfm2_emu_fiber_start();

// lfm2_emu_switch_sp pushes the callee-saved registers on the current stack, stores the stack pointer in *save_sp,
// loads new_sp and pops the same frame from it. MXCSR and the x87 control word are not switched: every fiber runs
// with the host thread's (kernels never change rounding modes), and ldmxcsr/fldcw would double the switch cost. A new fiber's stack is laid out as that
// frame with r12 = entry, r13 = arg and the return address at lfm2_emu_fiber_start, which calls entry(arg).
asm(R"(
  .text
  .globl lfm2_emu_switch_sp
  .hidden lfm2_emu_switch_sp
  .type lfm2_emu_switch_sp,@function
lfm2_emu_switch_sp:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size lfm2_emu_switch_sp,.-lfm2_emu_switch_sp

  .globl lfm2_emu_fiber_start
  .hidden lfm2_emu_fiber_start
  .type lfm2_emu_fiber_start,@function
lfm2_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r13, %rdi
  callq *%r12
  ud2
  .cfi_endproc
  .size lfm2_emu_fiber_start,.-lfm2_emu_fiber_start
)");

void fiber_init(FiberContext& f, void* stack, size_t size, void (*entry)(void*), void* arg) {
  f.stack_base = stack;
  f.stack_size = size;
  // Top of stack, 16-byte aligned; once the frame is popped and `ret` consumes the return address, rsp is back at the
  // aligned top in lfm2_emu_fiber_start, so its `call` enters entry() with the ABI's alignment.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = reinterpret_cast<uint64_t>(&lfm2_emu_fiber_start);      // return address
  *--sp = 0;                                                      // rbp
  *--sp = 0;                                                      // rbx
  *--sp = reinterpret_cast<uint64_t>(entry);                      // r12
  *--sp = reinterpret_cast<uint64_t>(arg);                        // r13
  *--sp = 0;                                                      // r14
  *--sp = 0;                                                      // r15
  f.sp = sp;
}

void fiber_switch(FiberContext& from, FiberContext& to) {
  before_switch(from, to);
  lfm2_emu_switch_sp(&from.sp, to.sp);
  after_switch(&from);
}

#endif

void fiber_entered() { after_switch(nullptr); }

void fiber_abandon() {
#if defined(__SANITIZE_ADDRESS__)
  __asan_handle_no_return();
#endif
}

}  // namespace lfm2_emu
