// Kernels and host sequences that exercise the CUDA emulator (self_test.h). Compiled only in the emulation build.
#include "backend/cuda_emu/self_test.h"

#include <cmath>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda_emu/runtime.h"

namespace lfm2_emu {
namespace {

using lfm2::cuda::block_sum;
using lfm2::cuda::warp_sum;

// ---- barrier: block sums with the project's block_sum, one partial per block (blockDim 256)
__global__ void block_sum_kernel(const float* x, int n, float* partial) {
  __shared__ float red[32];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float s = block_sum(i < n ? x[i] : 0.f, red);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// The same sum in shared memory without the barrier between the writes and thread 0's reads: thread 0 reads slots
// the other threads have not written yet, so the emulator (like a GPU) gives a wrong total. `scale` differs between
// launches so stale shared memory from an earlier launch cannot supply the right values.
__global__ void racy_sum_kernel(const float* x, float scale, float* out) {
  __shared__ float s[256];
  s[threadIdx.x] = scale * x[threadIdx.x];
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int j = 0; j < 256; ++j) t += s[j];
    *out = t;
  }
}

// ---- warp collectives over 2 warps (64 threads); outputs [7, 64]
__global__ void shuffle_kernel(const float* x, float* out, unsigned* ballot) {
  const int t = threadIdx.x, lane = t & 31;
  const float v = x[t];
  out[0 * 64 + t] = __shfl_xor_sync(0xffffffffu, v, 5);
  out[1 * 64 + t] = __shfl_up_sync(0xffffffffu, v, 3);
  out[2 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 5);
  out[3 * 64 + t] = __shfl_sync(0xffffffffu, v, (lane * 7) % 32);
  out[4 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 2, 8);  // segments of 8 lanes
  out[5 * 64 + t] = warp_sum(v);
  out[6 * 64 + t] = float(__shfl_xor_sync(0x0000ffffu | 0xffff0000u, double(v) * 2.0, 16));
  const unsigned b = __ballot_sync(0xffffffffu, v > 0.f);
  if (lane == 0) ballot[t >> 5] = b;
}

// ---- atomics: n threads add into 7 float bins, one double and one int total, an int max and a CAS counter
__global__ void atomics_kernel(const float* x, int n, float* bins, double* dsum, int* count, int* imax, int* cas) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&bins[i % 7], x[i]);
  atomicAdd(dsum, double(x[i]));
  atomicAdd(count, 1);
  atomicMax(imax, int(std::lround(x[i] * 1000.f)));
  int old = *cas, seen;
  do {
    seen = old;
    old = atomicCAS(cas, seen, seen + 2);
  } while (old != seen);
}

// ---- divergence cases (each must end its launch with an error)
__global__ void early_exit_barrier_kernel(float* out) {
  if (threadIdx.x < 16) return;
  __syncthreads();
  out[threadIdx.x] = 1.f;
}
__global__ void split_barrier_kernel(float* out) {
  if (threadIdx.x < 64) {
    __syncthreads();
    out[threadIdx.x] = 1.f;
  } else {
    __syncthreads();
    out[threadIdx.x] = 2.f;
  }
}
__global__ void exited_lane_shuffle_kernel(float* out) {
  if ((threadIdx.x & 31) >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
__global__ void warp_vs_barrier_kernel(float* out) {
  float v = 1.f;
  if ((threadIdx.x & 31) < 8) v = __shfl_xor_sync(0xffffffffu, v, 1);  // lanes 8-31 never join
  __syncthreads();
  out[threadIdx.x] = v;
}
__global__ void partial_warp_kernel(float* out) { out[threadIdx.x] = warp_sum(1.f); }

// ---- memory faults: a wild store, and a thread recursing past its stack
__global__ void wild_store_kernel(float* base, int64_t offset) {
  if (threadIdx.x == 5) base[offset] = 1.f;
}
__device__ __noinline__ int deep(int depth) {
  volatile char frame[512];
  frame[0] = char(depth);
  return depth == 0 ? frame[0] : deep(depth - 1) + frame[0];
}
__global__ void deep_recursion_kernel(int* out, int depth) { out[threadIdx.x] = deep(depth); }

__global__ void fill_kernel(float* y, float v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = v;
}
__global__ void axpy_kernel(const float* x, float a, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];
}

// Launches and returns the error message (empty when the launch succeeded).
template <class F>
std::string launch_error(F&& launch) {
  launch();
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

std::string call_error(cudaError_t e) {
  cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

template <class T>
struct Dev {
  T* p = nullptr;
  explicit Dev(size_t n) { CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
  ~Dev() { cudaFree(p); }
};

std::vector<double> down(const float* d, size_t n) {
  std::vector<float> h(n);
  CUDA_CHECK(cudaMemcpy(h.data(), d, n * 4, cudaMemcpyDeviceToHost));
  return std::vector<double>(h.begin(), h.end());
}

void barrier_case(const std::vector<float>& x, SelfTestResult& r) {
  const int n = int(x.size()), blocks = (n + 255) / 256;
  LFM2_CHECK(n >= 256, "barrier self-test needs at least 256 inputs");
  Dev<float> dx(x.size()), partial{size_t(blocks)}, racy(1);
  CUDA_CHECK(cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  LFM2_LAUNCH(block_sum_kernel, blocks, 256, 0, nullptr, dx.p, n, partial.p);
  LFM2_LAUNCH(racy_sum_kernel, 1, 256, 0, nullptr, dx.p, 1.f, racy.p);
  r.values["partials"] = down(partial.p, size_t(blocks));
  r.values["racy"] = down(racy.p, 1);
  // In the other order (and with scale −1): in descending order thread 0 runs last, after every write, so the racy
  // sum comes out right; block_sum is unchanged.
  const bool was_reversed = lane_order_reversed();
  set_lane_order(!was_reversed);
  try {
    LFM2_LAUNCH(block_sum_kernel, blocks, 256, 0, nullptr, dx.p, n, partial.p);
    LFM2_LAUNCH(racy_sum_kernel, 1, 256, 0, nullptr, dx.p, -1.f, racy.p);
  } catch (...) {
    set_lane_order(was_reversed);
    throw;
  }
  set_lane_order(was_reversed);
  r.values["partialsOtherOrder"] = down(partial.p, size_t(blocks));
  r.values["racyOtherOrder"] = down(racy.p, 1);
  r.values["reversed"] = {double(was_reversed)};
}

void shuffle_case(const std::vector<float>& x, SelfTestResult& r) {
  LFM2_CHECK(x.size() == 64, "shuffle self-test takes 64 inputs");
  Dev<float> dx(64), out(7 * 64);
  Dev<unsigned> ballot(2);
  CUDA_CHECK(cudaMemcpy(dx.p, x.data(), 64 * 4, cudaMemcpyHostToDevice));
  LFM2_LAUNCH(shuffle_kernel, 1, 64, 0, nullptr, dx.p, out.p, ballot.p);
  r.values["out"] = down(out.p, 7 * 64);
  unsigned b[2];
  CUDA_CHECK(cudaMemcpy(b, ballot.p, 8, cudaMemcpyDeviceToHost));
  r.values["ballot"] = {double(b[0]), double(b[1])};
}

void atomics_case(const std::vector<float>& x, SelfTestResult& r) {
  const int n = int(x.size());
  Dev<float> dx(x.size()), bins(7);
  Dev<double> dsum(1);
  Dev<int> counters(3);  // count, max, cas
  CUDA_CHECK(cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(bins.p, 0, 7 * 4));
  CUDA_CHECK(cudaMemset(dsum.p, 0, 8));
  const int init[3] = {0, -2147483647, 0};
  CUDA_CHECK(cudaMemcpy(counters.p, init, 12, cudaMemcpyHostToDevice));
  LFM2_LAUNCH(atomics_kernel, unsigned((n + 127) / 128), 128, 0, nullptr, dx.p, n, bins.p, dsum.p, counters.p,
              counters.p + 1, counters.p + 2);
  r.values["bins"] = down(bins.p, 7);
  double ds;
  int c[3];
  CUDA_CHECK(cudaMemcpy(&ds, dsum.p, 8, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(c, counters.p, 12, cudaMemcpyDeviceToHost));
  r.values["dsum"] = {ds};
  r.values["ints"] = {double(c[0]), double(c[1]), double(c[2])};
}

void divergence_case(SelfTestResult& r) {
  Dev<float> out(256);
  r.errors["earlyExit"] = launch_error([&] { lfm2_emu::launch("early_exit_barrier_kernel", early_exit_barrier_kernel, dim3(2), dim3(128), 0, nullptr, out.p); });
  r.errors["splitBarrier"] = launch_error([&] { lfm2_emu::launch("split_barrier_kernel", split_barrier_kernel, dim3(1), dim3(128), 0, nullptr, out.p); });
  r.errors["exitedLane"] = launch_error([&] { lfm2_emu::launch("exited_lane_shuffle_kernel", exited_lane_shuffle_kernel, dim3(1), dim3(64), 0, nullptr, out.p); });
  r.errors["deadlock"] = launch_error([&] { lfm2_emu::launch("warp_vs_barrier_kernel", warp_vs_barrier_kernel, dim3(1), dim3(64), 0, nullptr, out.p); });
  r.errors["partialWarp"] = launch_error([&] { lfm2_emu::launch("partial_warp_kernel", partial_warp_kernel, dim3(1), dim3(48), 0, nullptr, out.p); });
  // The runtime is usable after a kernel error (the emulator does not make launch failures sticky).
  r.errors["after"] = launch_error([&] { lfm2_emu::launch("fill_kernel", fill_kernel, dim3(1), dim3(256), 0, nullptr, out.p, 3.f, 256); });
  r.values["after"] = down(out.p, 4);
  // And the project's error path: CUDA_CHECK turns it into lfm2::Error.
  try {
    LFM2_LAUNCH(early_exit_barrier_kernel, 1, 64, 0, nullptr, out.p);
    r.errors["thrown"] = "";
  } catch (const lfm2::Error& e) {
    r.errors["thrown"] = e.what();
  }
}

void launch_case(SelfTestResult& r) {
  Dev<float> out(2048);
  auto fill = [&](dim3 g, dim3 b, size_t smem) {
    return launch_error([&] { lfm2_emu::launch("fill_kernel", fill_kernel, g, b, smem, nullptr, out.p, 1.f, 2048); });
  };
  r.errors["block2048"] = fill(dim3(1), dim3(2048), 0);
  r.errors["blockZ65"] = fill(dim3(1), dim3(1, 1, 65), 0);
  r.errors["gridZero"] = fill(dim3(0), dim3(32), 0);
  r.errors["gridY"] = fill(dim3(1, 65536), dim3(32), 0);
  r.errors["smem64k"] = fill(dim3(1), dim3(32), 64 << 10);
  CUDA_CHECK(cudaFuncSetAttribute(fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 << 10));
  r.errors["smem64kOptin"] = fill(dim3(1), dim3(32), 64 << 10);
  r.errors["smem300k"] = fill(dim3(1), dim3(32), 300 << 10);
  r.errors["ok1024"] = fill(dim3(2), dim3(1024), 0);
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreate(&s));
  CUDA_CHECK(cudaStreamDestroy(s));
  r.errors["destroyedStream"] =
      launch_error([&] { lfm2_emu::launch("fill_kernel", fill_kernel, dim3(1), dim3(32), 0, s, out.p, 1.f, 2048); }) +
      " | " + call_error(cudaStreamSynchronize(s));
}

void graph_case(const std::vector<float>& x, SelfTestResult& r) {
  const int n = int(x.size());
  Dev<float> dx(x.size()), dy(x.size());
  float* pinned = nullptr;
  CUDA_CHECK(cudaMallocHost(&pinned, x.size() * 4));
  for (int i = 0; i < n; ++i) pinned[i] = -1.f;
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CUDA_CHECK(cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(dy.p, 0, x.size() * 4));

  // y = 1 + 2·x, then copied to pinned memory: recorded, not run.
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  cudaStreamCaptureStatus status;
  CUDA_CHECK(cudaStreamIsCapturing(s, &status));
  r.values["capturing"] = {double(status == cudaStreamCaptureStatusActive)};
  const unsigned blocks = unsigned((n + 127) / 128);
  LFM2_LAUNCH(fill_kernel, blocks, 128, 0, s, dy.p, 1.f, n);
  LFM2_LAUNCH(axpy_kernel, blocks, 128, 0, s, dx.p, 2.f, dy.p, n);
  CUDA_CHECK(cudaMemcpyAsync(pinned, dy.p, x.size() * 4, cudaMemcpyDeviceToHost, s));
  cudaGraph_t graph;
  CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  size_t nodes = 0;
  CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &nodes));
  r.values["nodes"] = {double(nodes)};
  r.values["beforeLaunch"] = std::vector<double>(pinned, pinned + n);
  r.values["deviceBeforeLaunch"] = down(dy.p, x.size());
  cudaGraphExec_t exec;
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  CUDA_CHECK(cudaGraphLaunch(exec, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  r.values["afterLaunch"] = std::vector<double>(pinned, pinned + n);
  // Replay after changing x in place: the graph reads the same device pointers again.
  std::vector<float> x2(x.size());
  for (int i = 0; i < n; ++i) x2[size_t(i)] = -x[size_t(i)];
  CUDA_CHECK(cudaMemcpy(dx.p, x2.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaGraphLaunch(exec, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  r.values["afterReplay"] = std::vector<double>(pinned, pinned + n);
  CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaGraphDestroy(graph));

  // Fork/join: a second stream joins the capture by waiting on an event recorded in it, and leaves it at the end.
  cudaStream_t s2;
  cudaEvent_t fork, join;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  CUDA_CHECK(cudaEventRecord(fork, s));
  CUDA_CHECK(cudaStreamWaitEvent(s2, fork, 0));
  LFM2_LAUNCH(fill_kernel, blocks, 128, 0, s2, dy.p, 5.f, n);
  CUDA_CHECK(cudaEventRecord(join, s2));
  CUDA_CHECK(cudaStreamWaitEvent(s, join, 0));
  CUDA_CHECK(cudaMemcpyAsync(pinned, dy.p, x.size() * 4, cudaMemcpyDeviceToHost, s));
  cudaGraph_t forked;
  CUDA_CHECK(cudaStreamEndCapture(s, &forked));
  CUDA_CHECK(cudaGraphGetNodes(forked, nullptr, &nodes));
  CUDA_CHECK(cudaStreamIsCapturing(s2, &status));
  r.values["forkNodes"] = {double(nodes)};
  r.values["forkStillCapturing"] = {double(status != cudaStreamCaptureStatusNone)};
  CUDA_CHECK(cudaGraphInstantiate(&exec, forked, 0));
  CUDA_CHECK(cudaGraphLaunch(exec, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  r.values["forkJoin"] = std::vector<double>(pinned, pinned + n);
  CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaGraphDestroy(forked));
  // After the capture, waiting on its events joins nothing: work on s2 runs at once.
  CUDA_CHECK(cudaStreamWaitEvent(s2, join, 0));
  LFM2_LAUNCH(fill_kernel, blocks, 128, 0, s2, dy.p, 7.f, n);
  r.values["afterCapture"] = down(dy.p, 2);
  CUDA_CHECK(cudaEventDestroy(fork));
  CUDA_CHECK(cudaEventDestroy(join));
  CUDA_CHECK(cudaStreamDestroy(s2));

  // Illegal during capture: cudaMalloc (Global mode), pageable copies, synchronising the capturing stream.
  auto capture_error = [&](cudaStreamCaptureMode mode, auto&& body) {
    CUDA_CHECK(cudaStreamBeginCapture(s, mode));
    std::string e = call_error(body());
    cudaGraph_t g = nullptr;
    const cudaError_t end = cudaStreamEndCapture(s, &g);
    e += " | end: " + call_error(end);
    if (g) cudaGraphDestroy(g);
    return e;
  };
  std::vector<float> pageable(x.size());
  void* extra = nullptr;
  r.errors["mallocGlobal"] = capture_error(cudaStreamCaptureModeGlobal, [&] { return cudaMalloc(&extra, 256); });
  r.errors["mallocRelaxed"] = capture_error(cudaStreamCaptureModeRelaxed, [&] { return cudaMalloc(&extra, 256); });
  if (extra) CUDA_CHECK(cudaFree(extra));
  r.errors["pageable"] = capture_error(cudaStreamCaptureModeGlobal, [&] {
    return cudaMemcpyAsync(pageable.data(), dy.p, x.size() * 4, cudaMemcpyDeviceToHost, s);
  });
  r.errors["syncCapturing"] = capture_error(cudaStreamCaptureModeGlobal, [&] { return cudaStreamSynchronize(s); });
  r.errors["legacyCapture"] = call_error(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal));
  CUDA_CHECK(cudaStreamDestroy(s));
  CUDA_CHECK(cudaFreeHost(pinned));
}

void memory_case(SelfTestResult& r) {
  size_t free0 = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free0, &total));
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, size_t(1) << 20));
  size_t free1 = 0;
  CUDA_CHECK(cudaMemGetInfo(&free1, &total));
  uint32_t word;
  CUDA_CHECK(cudaMemcpy(&word, p, 4, cudaMemcpyDeviceToHost));  // fresh memory holds the 0xFF poison pattern
  CUDA_CHECK(cudaFree(p));
  size_t free2 = 0;
  CUDA_CHECK(cudaMemGetInfo(&free2, &total));
  r.values["info"] = {double(free0), double(free1), double(free2), double(total), double(word)};
  void* big = nullptr;
  r.errors["overBudget"] = call_error(cudaMalloc(&big, free2 + 1));
  r.values["bigIsNull"] = {double(big == nullptr)};
  r.errors["doubleFree"] = call_error(cudaFree(p));
  Dev<float> small(4);
  r.errors["strayCopy"] = call_error(cudaMemcpy(small.p + 2, &word, 16, cudaMemcpyHostToDevice));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  r.values["props"] = {double(prop.major), double(prop.minor), double(prop.multiProcessorCount), double(prop.warpSize)};
  r.errors["name"] = prop.name;
}

void fault_case(SelfTestResult& r) {
  Dev<float> out(64);
  Dev<int> iout(64);
  // 2^40 floats past a live buffer: unmapped on any x86-64 Linux process layout.
  r.errors["wildStore"] = launch_error([&] { lfm2_emu::launch("wild_store_kernel", wild_store_kernel, dim3(1), dim3(32), 0, nullptr, out.p, int64_t(1) << 40); });
  r.errors["stackOverflow"] = launch_error([&] { lfm2_emu::launch("deep_recursion_kernel", deep_recursion_kernel, dim3(1), dim3(32), 0, nullptr, iout.p, 100000); });
  r.errors["after"] = launch_error([&] { lfm2_emu::launch("fill_kernel", fill_kernel, dim3(1), dim3(64), 0, nullptr, out.p, 2.f, 64); });
  r.values["after"] = down(out.p, 2);
}

}  // namespace

SelfTestResult self_test(const std::string& name, const std::vector<float>& input) {
  SelfTestResult r;
  if (name == "barrier") barrier_case(input, r);
  else if (name == "shuffle") shuffle_case(input, r);
  else if (name == "atomics") atomics_case(input, r);
  else if (name == "divergence") divergence_case(r);
  else if (name == "launch") launch_case(r);
  else if (name == "graph") graph_case(input, r);
  else if (name == "memory") memory_case(r);
  else if (name == "fault") fault_case(r);
  else lfm2::fail("cudaEmuSelfTest: unknown case '", name, "'");
  return r;
}

}  // namespace lfm2_emu
