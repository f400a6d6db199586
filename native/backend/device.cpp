#include "backend/device.h"

#include "core/error.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_api.h"
#endif

namespace lfm2 {

CudaAvailability cuda_availability() {
  CudaAvailability a;
#ifdef LFM2_WITH_CUDA
  a.compiled = true;
  cuda_api::DeviceStatus st = cuda_api::device_status();
  a.device_count = st.device_count;
  a.device_name = st.name;
  a.reason = st.error;
  a.cublaslt = st.cublaslt;
  if (a.device_count > 0 && st.cc_major < 8) {
    a.reason = "device 0 (" + st.name + ") has compute capability " + std::to_string(st.cc_major) + "." +
               std::to_string(st.cc_minor) + "; the CUDA backend needs 8.0+ (BF16 tensor cores)";
    a.device_count = 0;
  }
#else
  a.reason = "this build of lfm2-rl has no CUDA backend (nvcc was not found at build time, or LFM2_CUDA=0)";
#endif
  return a;
}

Device resolve_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
#ifdef LFM2_CUDA_EMULATION
  if (name == "auto") return Device::CPU;  // the emulated GPU is a test tool, far slower than the CPU engine
#endif
  if (name == "auto") return cuda_availability().device_count > 0 ? Device::CUDA : Device::CPU;
  if (name == "cuda") {
    CudaAvailability a = cuda_availability();
    LFM2_CHECK(a.device_count > 0, "device 'cuda' is not available: ", a.reason);
    return Device::CUDA;
  }
  fail("unknown device '", name, "' (expected 'auto', 'cpu' or 'cuda')");
}

const char* device_name(Device d) { return d == Device::CUDA ? "cuda" : "cpu"; }

}  // namespace lfm2
