// Names of the ops in the op table, as the JS binding and the tests spell them.
#include "backend/backend_ops.h"

#include "core/error.h"

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

void check_row_list(const char* op, const int32_t* rows, int64_t R, int64_t limit, bool distinct) {
  std::vector<bool> seen(distinct ? size_t(limit) : 0, false);
  for (int64_t i = 0; i < R; ++i) {
    LFM2_CHECK(rows[i] >= 0 && rows[i] < limit, op, ": row ", rows[i], " outside [0, ", limit, ")");
    if (!distinct) continue;
    LFM2_CHECK(!seen[size_t(rows[i])], op, ": row ", rows[i], " appears twice");
    seen[size_t(rows[i])] = true;
  }
}

}  // namespace lfm2
