#pragma once
// Checks of the CUDA emulator itself (test/cuda-emu.test.ts through cudaEmuSelfTest in the emulation module).
// Plain C++ interface: the kernels live in self_test.cu, compiled like every .cu file of the emulation build.
#include <map>
#include <string>
#include <vector>

namespace lfm2_emu {

struct SelfTestResult {
  std::map<std::string, std::vector<double>> values;  // named outputs the test compares with its own reference
  std::map<std::string, std::string> errors;          // named error messages (cudaGetErrorString of the failure)
};

// name: "barrier" | "shuffle" | "atomics" | "divergence" | "launch" | "graph" | "memory" | "fault"; `input` is the
// test's random data (its use depends on the case). Throws lfm2::Error for an unknown name or an unexpected CUDA error.
SelfTestResult self_test(const std::string& name, const std::vector<float>& input);

}  // namespace lfm2_emu
