// Names of the ops in the op table, as the JS binding and the tests spell them.
#include "backend/backend_ops.h"

namespace lfm2 {
namespace {

constexpr const char* kOpNames[int(Op::Count)] = {
    "gemm.nn",        "gemm.nt",          "gemm.tn",          "gemm.tt",        "gemmMulti",
    "rmsnorm",        "rmsnormBackward",  "rmsnormHeadsBackward",
    "rope",           "ropeBackward",
    "attention",      "attentionPacked",  "attentionBackward",
    "shortconv",      "shortconvPacked",  "shortconvBackward",
    "swiglu",         "swigluBackward",
    "embedding",      "embeddingBackward",
    "grpoLoss",       "adamw",
    "loraForward",    "loraBackward",
    "gatherRows",     "scatterRows",
    "rowExpStats",    "sample",
};

}  // namespace

const char* op_name(Op op) { return kOpNames[int(op)]; }

bool op_from_name(const std::string& name, Op* out) {
  for (int i = 0; i < int(Op::Count); ++i)
    if (name == kOpNames[i]) {
      *out = Op(i);
      return true;
    }
  return false;
}

}  // namespace lfm2
