#pragma once
// Internal interface between the parts of the CUDA emulation runtime (not included by kernels).
#include <functional>
#include <string>

#include "include/cuda_emu_launch.h"
#include "include/cuda_runtime.h"

namespace lfm2_emu {

// Records `e` as the calling thread's last error with a detailed message (returned by cudaGetErrorString(e)).
// Returns e; cudaSuccess is never recorded.
cudaError_t record_error(cudaError_t e, const std::string& detail);

// One piece of stream work: a kernel grid, a copy, a memset or an event record. Returns its error (already
// recorded with record_error).
using StreamOp = std::function<cudaError_t()>;
// Runs `op` now, or appends it to the graph when `stream` is capturing. `what` names the operation in errors.
cudaError_t enqueue(cudaStream_t stream, const char* what, StreamOp op);
// Checks that `stream` is a live stream (or the legacy/per-thread default stream).
cudaError_t check_stream(cudaStream_t stream, const char* api);
// Errors for calls that are illegal while a stream capture is in progress (cudaMalloc, synchronous copies,
// device synchronisation, ...): returns cudaErrorStreamCaptureUnsupported and invalidates the affected captures
// as CUDA does, or cudaSuccess when the call is allowed.
cudaError_t check_capture_safe(const char* api);
// Invalidates the capture `stream` belongs to (if any), as CUDA does when an operation fails during capture.
void invalidate_capture(cudaStream_t stream, const std::string& why);
// Whether a capture is in progress on any stream (some checks are only made then).
bool any_capture_active();

// Device memory registry: whether [p, p + bytes) lies inside one live cudaMalloc block, or inside pinned host
// memory (cudaMallocHost/cudaHostAlloc).
bool is_device_range(const void* p, size_t bytes);
size_t memory_budget();  // emulated device memory: 8 GiB or LFM2_CUDA_EMU_MEMORY bytes
size_t memory_in_use();
bool is_pinned_range(const void* p, size_t bytes);

// Order in which the threads of a block take turns between barriers (ascending ids by default, descending with
// LFM2_CUDA_EMU_ORDER=reverse). A result that depends on it reveals a race inside a block.
void set_lane_order(bool reverse);
bool lane_order_reversed();

// Runs every block of a grid on fibers. On a kernel error (divergent barrier, deadlock, bad shuffle) returns
// cudaErrorLaunchFailure and sets `error` to a message naming the kernel, the block and the threads involved.
cudaError_t run_grid(const char* name, dim3 grid, dim3 block, size_t dynamic_smem, const KernelCall& call,
                     std::string& error);

}  // namespace lfm2_emu
