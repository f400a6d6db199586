#include "backend/cuda/cublaslt_loader.cuh"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace lfm2::cuda::lt {
namespace {

struct Loaded {
  Api api{};
  bool ok = false;
  std::string why;
};

template <typename F>
bool resolve(void* lib, const char* name, F& fn, std::string& why) {
  void* p = dlsym(lib, name);
  if (!p) {
    why = std::string("libcublasLt has no symbol ") + name;
    return false;
  }
  fn = reinterpret_cast<F>(p);
  return true;
}

Loaded load() {
  Loaded L;
#ifdef LFM2_CUDA_EMULATION
  // The CPU emulation has no cuBLASLt; gemm.cu's tiled kernel runs every product.
  L.why = "not available (CUDA emulation)";
  return L;
#endif
  const char* env = std::getenv("LFM2_CUBLASLT");
  if (env && std::strcmp(env, "0") == 0) {
    L.why = "disabled by LFM2_CUBLASLT=0";
    return L;
  }
  const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  void* lib = nullptr;
  std::string tried;
  for (const char* n : names) {
    lib = dlopen(n, RTLD_NOW | RTLD_LOCAL);
    if (lib) break;
    tried += std::string(tried.empty() ? "" : ", ") + n;
  }
  if (!lib) {
    L.why = "libcublasLt not found (tried " + tried + ")";
    return L;
  }
  Api& a = L.api;
  L.ok = resolve(lib, "cublasLtCreate", a.create, L.why) && resolve(lib, "cublasLtDestroy", a.destroy, L.why) &&
         resolve(lib, "cublasLtMatmulDescCreate", a.desc_create, L.why) &&
         resolve(lib, "cublasLtMatmulDescDestroy", a.desc_destroy, L.why) &&
         resolve(lib, "cublasLtMatmulDescSetAttribute", a.desc_set, L.why) &&
         resolve(lib, "cublasLtMatrixLayoutCreate", a.layout_create, L.why) &&
         resolve(lib, "cublasLtMatrixLayoutDestroy", a.layout_destroy, L.why) &&
         resolve(lib, "cublasLtMatmulPreferenceCreate", a.pref_create, L.why) &&
         resolve(lib, "cublasLtMatmulPreferenceDestroy", a.pref_destroy, L.why) &&
         resolve(lib, "cublasLtMatmulPreferenceSetAttribute", a.pref_set, L.why) &&
         resolve(lib, "cublasLtMatmulAlgoGetHeuristic", a.heuristic, L.why) &&
         resolve(lib, "cublasLtMatmul", a.matmul, L.why);
  // The library stays open for the life of the process (its handles may outlive any one caller).
  return L;
}

}  // namespace

const Api* api(std::string* why) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (why) *why = loaded.why;
  return loaded.ok ? &loaded.api : nullptr;
}

}  // namespace lfm2::cuda::lt
