// Error state of the emulated runtime: the per-thread last error and the detailed message of the latest one.
#include <string>

#include "runtime.h"

namespace lfm2_emu {
namespace {

thread_local cudaError_t t_last = cudaSuccess;
thread_local cudaError_t t_detail_code = cudaSuccess;
thread_local std::string t_detail;

}  // namespace

cudaError_t record_error(cudaError_t e, const std::string& detail) {
  if (e == cudaSuccess) return e;
  t_last = e;
  t_detail_code = e;
  t_detail = detail;
  return e;
}

}  // namespace lfm2_emu

cudaError_t cudaGetLastError() {
  const cudaError_t e = lfm2_emu::t_last;
  lfm2_emu::t_last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return lfm2_emu::t_last; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define LFM2_EMU_NAME(x) \
  case x:                \
    return #x;
    LFM2_EMU_NAME(cudaSuccess)
    LFM2_EMU_NAME(cudaErrorInvalidValue)
    LFM2_EMU_NAME(cudaErrorMemoryAllocation)
    LFM2_EMU_NAME(cudaErrorInitializationError)
    LFM2_EMU_NAME(cudaErrorInvalidConfiguration)
    LFM2_EMU_NAME(cudaErrorInvalidMemcpyDirection)
    LFM2_EMU_NAME(cudaErrorNoDevice)
    LFM2_EMU_NAME(cudaErrorInvalidDevice)
    LFM2_EMU_NAME(cudaErrorInvalidResourceHandle)
    LFM2_EMU_NAME(cudaErrorIllegalState)
    LFM2_EMU_NAME(cudaErrorNotReady)
    LFM2_EMU_NAME(cudaErrorIllegalAddress)
    LFM2_EMU_NAME(cudaErrorLaunchOutOfResources)
    LFM2_EMU_NAME(cudaErrorLaunchFailure)
    LFM2_EMU_NAME(cudaErrorNotSupported)
    LFM2_EMU_NAME(cudaErrorStreamCaptureUnsupported)
    LFM2_EMU_NAME(cudaErrorStreamCaptureInvalidated)
    LFM2_EMU_NAME(cudaErrorStreamCaptureMerge)
    LFM2_EMU_NAME(cudaErrorStreamCaptureUnmatched)
    LFM2_EMU_NAME(cudaErrorStreamCaptureUnjoined)
    LFM2_EMU_NAME(cudaErrorStreamCaptureIsolation)
    LFM2_EMU_NAME(cudaErrorStreamCaptureImplicit)
    LFM2_EMU_NAME(cudaErrorCapturedEvent)
    LFM2_EMU_NAME(cudaErrorStreamCaptureWrongThread)
    LFM2_EMU_NAME(cudaErrorUnknown)
#undef LFM2_EMU_NAME
  }
  return "cudaErrorUnknown";
}

namespace {
const char* generic_string(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureMerge: return "operation would result in a merge of separate capture sequences";
    case cudaErrorStreamCaptureUnmatched: return "capture was not ended in the same stream as it began";
    case cudaErrorStreamCaptureUnjoined: return "capturing stream has unjoined work";
    case cudaErrorStreamCaptureIsolation: return "dependency created on uncaptured work in another stream";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unknown error";
}
}  // namespace

const char* cudaGetErrorString(cudaError_t e) {
  if (e != cudaSuccess && e == lfm2_emu::t_detail_code && !lfm2_emu::t_detail.empty())
    return lfm2_emu::t_detail.c_str();
  return generic_string(e);
}
