// Runs a grid on the CPU: blocks one after another; within a block every CUDA thread is a fiber, scheduled
// round-robin until it blocks at a barrier (__syncthreads or a warp collective) or exits. A barrier releases its
// threads once everyone it names has arrived; when nobody can run the block is deadlocked. Every divergence the
// CUDA programming guide calls undefined (a barrier not reached by the whole block, lanes that exited or are
// missing from a collective, mismatched masks) ends the launch with an error naming the kernel and the threads.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "fiber.h"
#include "runtime.h"

namespace lfm2_emu {

Coords g_coords;

namespace {

enum class LaneState : uint8_t { Ready, AtBarrier, AtWarp, Exited };

struct Lane {
  FiberContext ctx;
  LaneState state = LaneState::Ready;
  uint3 tid{};
  int phase = 0;  // value slot of the warp collective this lane waits in
};

struct Warp {
  unsigned present = 0;  // lanes that exist (the last warp of a block may be partial)
  unsigned exited = 0;
  unsigned arrived = 0;  // lanes inside the pending collective
  unsigned op_mask = 0;  // mask of the pending collective
  const char* op = nullptr;
  int phase = 0;  // slot the pending collective writes; the other one may still be read by released lanes
  uint64_t values[2][32];
};

struct Run {
  const char* kernel = nullptr;
  const KernelCall* call = nullptr;
  int n = 0;     // threads per block
  int live = 0;  // threads not exited
  int current = -1;
  int at_barrier = 0;
  const char* bar_file = nullptr;
  int bar_line = 0;
  std::vector<Lane> lanes;
  std::vector<Warp> warps;
  FiberContext scheduler;
  bool failed = false;
  std::string error;
};

Run g_run;           // the grid in progress
// Order in which runnable lanes are resumed and blocks run: ascending ids, or descending with
// LFM2_CUDA_EMU_ORDER=reverse. A kernel whose result changes with the order has a race between threads of a block
// (a missing barrier) or depends on the order of blocks; running the suites both ways shows it.
int g_order = 0;  // 0 = not read yet, 1 = ascending, -1 = descending
std::mutex g_exec;   // one grid at a time in the whole process (so the globals above need no other protection)

// Fiber stacks, allocated once and reused; each has a PROT_NONE guard page below it so an overflow faults
// instead of corrupting the neighbouring stack.
class StackPool {
 public:
  void ensure(int n) {
    if (n <= count_) return;
    if (base_) munmap(base_, size_t(count_) * per_);
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    per_ = stack_bytes() + page;
    base_ = static_cast<char*>(
        mmap(nullptr, size_t(n) * per_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      count_ = 0;
      return;
    }
    for (int i = 0; i < n; ++i) mprotect(base_ + size_t(i) * per_, page, PROT_NONE);
    count_ = n;
    guard_ = page;
  }
  bool ok(int n) const { return base_ && count_ >= n; }
  void* stack(int i) const { return base_ + size_t(i) * per_ + guard_; }
  bool in_guard(const void* p) const {
    const char* c = static_cast<const char*>(p);
    if (!base_ || c < base_ || c >= base_ + size_t(count_) * per_) return false;
    return size_t(c - base_) % per_ < guard_;
  }
  size_t size() const { return per_ - guard_; }

 private:
  static size_t stack_bytes() {
#if defined(__SANITIZE_ADDRESS__)
    size_t kb = 512;  // instrumented frames are several times larger
#else
    size_t kb = 64;
#endif
    if (const char* env = std::getenv("LFM2_CUDA_EMU_STACK_KB")) {
      const long v = std::atol(env);
      if (v >= 16) kb = size_t(v);
    }
    return kb << 10;
  }
  char* base_ = nullptr;
  size_t per_ = 0, guard_ = 0;
  int count_ = 0;
};
StackPool g_stacks;

std::string coords(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

// "0-15,17,20-21"
std::string lane_list(unsigned bits) {
  std::string s;
  for (int l = 0; l < 32;) {
    if (!((bits >> l) & 1u)) {
      ++l;
      continue;
    }
    int e = l;
    while (e + 1 < 32 && ((bits >> (e + 1)) & 1u)) ++e;
    if (!s.empty()) s += ",";
    s += e == l ? std::to_string(l) : std::to_string(l) + "-" + std::to_string(e);
    l = e + 1;
  }
  return s.empty() ? "none" : s;
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

std::string site(const char* file, int line) {
  const char* slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

std::string who() { return "thread " + coords(g_run.lanes[size_t(g_run.current)].tid); }

// Suspends the current lane and resumes the next runnable one after it (wrapping around) directly, or the scheduler
// when none is left (block finished, deadlock) or the launch failed. Direct lane-to-lane switches halve the
// switches of a barrier round; the scan is O(1) amortised since lanes park in index order.
void park() {
  Run& r = g_run;
  Lane& me = r.lanes[size_t(r.current)];
  if (!r.failed) {
    for (int k = 1, j = r.current + g_order; k < r.n; ++k, j += g_order) {
      if (j == r.n) j = 0;
      if (j < 0) j = r.n - 1;
      Lane& next = r.lanes[size_t(j)];
      if (next.state != LaneState::Ready) continue;
      r.current = j;
      g_coords.thread = next.tid;
      fiber_switch(me.ctx, next.ctx);
      return;  // resumed by whichever lane or scheduler picked this one (it set current and the coordinates)
    }
  }
  fiber_switch(me.ctx, r.scheduler);
}

[[noreturn]] void fail_lane(std::string msg) {
  if (!g_run.failed) {
    g_run.failed = true;
    g_run.error = std::move(msg);
  }
  fiber_abandon();
  park();  // the scheduler abandons the block: this fiber is never resumed
  __builtin_unreachable();
}

void lane_exit(int i) {
  Lane& me = g_run.lanes[size_t(i)];
  me.state = LaneState::Exited;
  --g_run.live;
  Warp& w = g_run.warps[size_t(i >> 5)];
  const unsigned bit = 1u << (i & 31);
  w.exited |= bit;
  if (g_run.at_barrier > 0)
    fail_lane(who() + " exited while " + std::to_string(g_run.at_barrier) + " threads wait at __syncthreads() (" +
              site(g_run.bar_file, g_run.bar_line) +
              "): every thread of the block must reach each barrier (divergent __syncthreads)");
  if (w.arrived && (w.op_mask & bit))
    fail_lane(who() + " (warp " + std::to_string(i >> 5) + " lane " + std::to_string(i & 31) + ") exited while lanes " +
              lane_list(w.arrived) + " wait for it in " + w.op + " (mask " + hex(w.op_mask) + ")");
}

void lane_main(void* arg) {
  fiber_entered();
  const int i = int(reinterpret_cast<intptr_t>(arg));
  std::string thrown;
  try {
    g_run.call->run();
  } catch (const std::exception& e) {
    thrown = e.what();
  } catch (...) {
    thrown = "unknown exception";
  }
  // Fail outside the handler: switching away inside it would leave the C++ runtime's caught-exception state open.
  if (!thrown.empty()) fail_lane(who() + " threw a C++ exception: " + thrown);
  lane_exit(i);
  fiber_abandon();
  park();
  __builtin_unreachable();
}

std::string deadlock_message() {
  std::ostringstream os;
  os << "deadlock: no thread can proceed.";
  if (g_run.at_barrier > 0)
    os << " " << g_run.at_barrier << " of " << g_run.n << " threads wait at __syncthreads() ("
       << site(g_run.bar_file, g_run.bar_line) << ").";
  for (size_t wi = 0; wi < g_run.warps.size(); ++wi) {
    const Warp& w = g_run.warps[wi];
    if (!w.arrived) continue;
    unsigned at_bar = 0, elsewhere = 0;
    for (int l = 0; l < 32; ++l) {
      if (!((w.op_mask >> l) & 1u) || ((w.arrived >> l) & 1u)) continue;
      const size_t li = wi * 32 + size_t(l);
      if (li < g_run.lanes.size() && g_run.lanes[li].state == LaneState::AtBarrier) at_bar |= 1u << l;
      else elsewhere |= 1u << l;
    }
    os << " Warp " << wi << ": lanes " << lane_list(w.arrived) << " wait in " << w.op << " (mask " << hex(w.op_mask)
       << ")";
    if (at_bar) os << " for lanes " << lane_list(at_bar) << ", which wait at __syncthreads()";
    if (elsewhere) os << (at_bar ? " and" : " for") << " lanes " << lane_list(elsewhere) << ", which wait elsewhere";
    os << ".";
  }
  return os.str();
}

}  // namespace

void set_lane_order(bool reverse) {
  std::lock_guard<std::mutex> lock(g_exec);
  g_order = reverse ? -1 : 1;
}

bool lane_order_reversed() {
  std::lock_guard<std::mutex> lock(g_exec);
  if (g_order == 0) {
    const char* env = std::getenv("LFM2_CUDA_EMU_ORDER");
    g_order = env && std::strcmp(env, "reverse") == 0 ? -1 : 1;
  }
  return g_order < 0;
}

void syncthreads(const char* file, int line) {
  Run& r = g_run;
  if (r.live < r.n)
    fail_lane(who() + " reached __syncthreads() (" + site(file, line) + ") after " + std::to_string(r.n - r.live) +
              " of the block's " + std::to_string(r.n) +
              " threads exited: every thread of the block must reach each barrier (divergent __syncthreads)");
  if (r.at_barrier > 0 && (line != r.bar_line || (file != r.bar_file && std::strcmp(file, r.bar_file) != 0)))
    fail_lane(who() + " reached __syncthreads() at " + site(file, line) + " while " + std::to_string(r.at_barrier) +
              " threads wait at " + site(r.bar_file, r.bar_line) + " (divergent __syncthreads)");
  if (r.at_barrier == 0) r.bar_file = file, r.bar_line = line;
  if (++r.at_barrier == r.n) {  // last to arrive: release everyone and carry on
    r.at_barrier = 0;
    for (Lane& l : r.lanes)
      if (l.state == LaneState::AtBarrier) l.state = LaneState::Ready;
    return;
  }
  r.lanes[size_t(r.current)].state = LaneState::AtBarrier;
  park();
}

const uint64_t* warp_exchange(unsigned mask, uint64_t value, const char* op) {
  Run& r = g_run;
  const int lin = r.current, lane = lin & 31;
  const unsigned bit = 1u << lane;
  Warp& w = r.warps[size_t(lin >> 5)];
  Lane& me = r.lanes[size_t(lin)];
  if (!(mask & bit)) fail_lane(who() + " (lane " + std::to_string(lane) + ") calls " + op + " with mask " + hex(mask) +
                               ", which does not include its own lane");
  if (mask & ~w.present)
    fail_lane(who() + " calls " + op + " with mask " + hex(mask) + " naming lanes " + lane_list(mask & ~w.present) +
              " that do not exist (this warp has lanes " + lane_list(w.present) + ")");
  if (mask & w.exited)
    fail_lane(who() + " calls " + op + " with mask " + hex(mask) + " naming lanes " + lane_list(mask & w.exited) +
              " that have exited");
  if (w.arrived == 0) {
    w.op_mask = mask;
    w.op = op;
  } else if (mask != w.op_mask || (op != w.op && std::strcmp(op, w.op) != 0)) {
    fail_lane(who() + " (lane " + std::to_string(lane) + ") calls " + op + " with mask " + hex(mask) + " while lanes " +
              lane_list(w.arrived) + " wait in " + w.op + " with mask " + hex(w.op_mask) +
              " (warp collectives must be called by the same lanes with the same mask)");
  }
  w.values[w.phase][lane] = value;
  me.phase = w.phase;
  w.arrived |= bit;
  if (w.arrived == w.op_mask) {  // complete: release the others, flip to the other slot for the next collective
    w.arrived = 0;
    w.phase ^= 1;
    const size_t base = size_t(lin & ~31);
    for (int l = 0; l < 32; ++l)
      if (((mask >> l) & 1u) && l != lane) r.lanes[base + size_t(l)].state = LaneState::Ready;
    return w.values[me.phase];
  }
  me.state = LaneState::AtWarp;
  park();
  return w.values[me.phase];
}

int lane_id() { return g_run.current & 31; }

void device_fail(const char* what) { fail_lane(who() + ": " + what); }

namespace {

// Kernel memory faults. While a grid runs, SIGSEGV/SIGBUS on the running thread jump back to run_grid, which reports
// cudaErrorIllegalAddress naming the kernel and the thread (a fault on a fiber stack's guard page is a stack
// overflow). Faults on other threads go to the handler that was installed before (e.g. V8's WebAssembly traps).
// Not installed under AddressSanitizer, which reports such accesses itself.
thread_local bool t_in_grid = false;
sigjmp_buf g_fault_jmp;
void* g_fault_addr = nullptr;
int g_fault_sig = 0;
struct sigaction g_old_segv, g_old_bus;

void on_fault(int sig, siginfo_t* info, void* uctx) {
  if (t_in_grid) {
    g_fault_addr = info->si_addr;
    g_fault_sig = sig;
    siglongjmp(g_fault_jmp, 1);
  }
  const struct sigaction& old = sig == SIGBUS ? g_old_bus : g_old_segv;
  if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction) return old.sa_sigaction(sig, info, uctx);
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) return old.sa_handler(sig);
  sigaction(sig, &old, nullptr);  // default action: returning re-executes the access, which now kills the process
}

// An alternate signal stack for the launching thread, so a fiber stack overflow can still be reported.
void ensure_alt_stack() {
  thread_local bool done = false;
  if (done) return;
  done = true;
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // the thread has one already
  static thread_local char alt[64 << 10];
  stack_t st{};
  st.ss_sp = alt;
  st.ss_size = sizeof alt;
  sigaltstack(&st, nullptr);
}

class FaultGuard {
 public:
  FaultGuard() {
#if !defined(__SANITIZE_ADDRESS__)
    ensure_alt_stack();
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
    installed_ = true;
#endif
  }
  ~FaultGuard() {
    if (!installed_) return;
    sigaction(SIGSEGV, &g_old_segv, nullptr);
    sigaction(SIGBUS, &g_old_bus, nullptr);
  }

 private:
  bool installed_ = false;
};

cudaError_t run_blocks(const char* name, dim3 grid, dim3 block, int n, std::string& error) {
  Run& r = g_run;
  const uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t k = 0; k < nblocks; ++k) {
    const uint64_t b = g_order > 0 ? k : nblocks - 1 - k;  // reversed order too with LFM2_CUDA_EMU_ORDER
    g_coords.block = uint3{unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / grid.x / grid.y)};
    for (int i = 0; i < n; ++i) {
      Lane& l = r.lanes[size_t(i)];
      l.state = LaneState::Ready;
      fiber_init(l.ctx, g_stacks.stack(i), g_stacks.size(), lane_main, reinterpret_cast<void*>(intptr_t(i)));
    }
    for (Warp& w : r.warps) w.exited = w.arrived = 0, w.phase = 0;
    r.live = n;
    r.at_barrier = 0;
    while (r.live > 0) {
      int first = -1;
      for (int q = 0; q < n && !r.failed && first < 0; ++q) {
        const int i = g_order > 0 ? q : n - 1 - q;
        if (r.lanes[size_t(i)].state == LaneState::Ready) first = i;
      }
      if (first >= 0) {  // runs lanes until none is runnable (they switch among themselves, see park())
        r.current = first;
        g_coords.thread = r.lanes[size_t(first)].tid;
        fiber_switch(r.scheduler, r.lanes[size_t(first)].ctx);
        continue;
      }
      if (!r.failed) r.failed = true, r.error = deadlock_message();  // nobody can run, nobody failed
      std::ostringstream os;
      os << "kernel `" << name << "` <<<" << coords(grid) << ", " << coords(block) << ">>> block "
         << coords(g_coords.block) << ": " << r.error;
      error = os.str();
      return cudaErrorLaunchFailure;
    }
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t run_grid(const char* name, dim3 grid, dim3 block, size_t /*dynamic_smem*/, const KernelCall& call,
                     std::string& error) {
  std::lock_guard<std::mutex> lock(g_exec);
  if (g_order == 0) {
    const char* env = std::getenv("LFM2_CUDA_EMU_ORDER");
    g_order = env && std::strcmp(env, "reverse") == 0 ? -1 : 1;
  }
  Run& r = g_run;
  const int n = int(block.x * block.y * block.z);
  g_stacks.ensure(n);
  if (!g_stacks.ok(n)) {
    error = std::string("kernel `") + name + "`: could not map fiber stacks for " + std::to_string(n) + " threads";
    return cudaErrorLaunchOutOfResources;
  }
  r.kernel = name;
  r.call = &call;
  r.n = n;
  r.lanes.assign(size_t(n), Lane{});
  r.warps.assign(size_t((n + 31) / 32), Warp{});
  for (size_t wi = 0; wi < r.warps.size(); ++wi) {
    const int lanes = std::min(32, n - int(wi) * 32);
    r.warps[wi].present = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
  }
  for (int i = 0; i < n; ++i)
    r.lanes[size_t(i)].tid = uint3{unsigned(i) % block.x, (unsigned(i) / block.x) % block.y,
                                   unsigned(i) / (block.x * block.y)};
  r.failed = false;
  r.error.clear();
  r.scheduler = FiberContext{};  // this host thread's stack (its bounds differ between launching threads)
  g_coords.block_dim = block;
  g_coords.grid_dim = grid;
  FaultGuard guard;
  t_in_grid = true;
  cudaError_t result;
  if (sigsetjmp(g_fault_jmp, 1) == 0) {
    result = run_blocks(name, grid, block, n, error);
  } else {  // a kernel touched memory it cannot: the block is abandoned
    const bool overflow = g_stacks.in_guard(g_fault_addr);
    std::ostringstream os;
    os << "kernel `" << name << "` <<<" << coords(grid) << ", " << coords(block) << ">>> block "
       << coords(g_coords.block) << " thread " << coords(g_coords.thread) << ": illegal memory access at "
       << g_fault_addr << " (" << (g_fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV") << ")"
       << (overflow ? ": the thread overflowed its fiber stack (raise LFM2_CUDA_EMU_STACK_KB)" : "");
    error = os.str();
    result = cudaErrorIllegalAddress;
  }
  t_in_grid = false;
  r.current = -1;
  return result;
}

}  // namespace lfm2_emu
