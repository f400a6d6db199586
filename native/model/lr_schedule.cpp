#include "model/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace lfm2 {

LrScheduleKind parse_lr_schedule(const char* name) {
  const std::string s = name ? name : "";
  if (s == "constant") return LrScheduleKind::Constant;
  if (s == "constant_with_warmup") return LrScheduleKind::ConstantWithWarmup;
  if (s == "linear") return LrScheduleKind::Linear;
  if (s == "cosine") return LrScheduleKind::Cosine;
  fail("unknown lr schedule '", s, "' (expected constant, constant_with_warmup, linear or cosine)");
}

double lr_multiplier(const LrSchedule& sch, int64_t s) {
  LFM2_CHECK(s >= 0, "lr schedule: step must be >= 0, got ", s);
  LFM2_CHECK(sch.warmup_steps >= 0 && sch.total_steps >= 0, "lr schedule: warmup and total steps must be >= 0");
  const double W = double(sch.warmup_steps), S = double(sch.total_steps), x = double(s);
  if (sch.kind == LrScheduleKind::Constant) return 1.0;
  if (x < W) return x / std::max(1.0, W);
  switch (sch.kind) {
    case LrScheduleKind::ConstantWithWarmup: return 1.0;
    case LrScheduleKind::Linear: return std::max(0.0, (S - x) / std::max(1.0, S - W));
    case LrScheduleKind::Cosine: {
      const double progress = (x - W) / std::max(1.0, S - W);
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * sch.num_cycles * 2.0 * progress)));
    }
    default: return 1.0;
  }
}

double lr_at(const LrSchedule& sch, int64_t step) { return sch.base_lr * lr_multiplier(sch, step); }

}  // namespace lfm2
