#pragma once
// Learning-rate schedules with warmup, as transformers' get_scheduler builds them (LambdaLR multipliers):
//   constant              1
//   constant_with_warmup  s < W ? s/max(1,W) : 1
//   linear                s < W ? s/max(1,W) : max(0, (S − s)/max(1, S − W))
//   cosine                s < W ? s/max(1,W) : max(0, 0.5·(1 + cos(π · 2·cycles · (s − W)/max(1, S − W))))   cycles = 0.5
// s = optimizer steps already taken (0-based: the first update uses s = 0, so with warmup it has lr 0, exactly as
// the HF Trainer does), W = warmup steps, S = total training steps.
#include <cstdint>

namespace lfm2 {

enum class LrScheduleKind : int { Constant = 0, ConstantWithWarmup = 1, Linear = 2, Cosine = 3 };

// Parses "constant" | "constant_with_warmup" | "linear" | "cosine"; throws on anything else.
LrScheduleKind parse_lr_schedule(const char* name);

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::Linear;
  double base_lr = 1e-6;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double num_cycles = 0.5;  // cosine only
};

// Multiplier λ(s) of the base learning rate.
double lr_multiplier(const LrSchedule& sch, int64_t step);
// base_lr · λ(s).
double lr_at(const LrSchedule& sch, int64_t step);

}  // namespace lfm2
