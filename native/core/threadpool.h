#pragma once
// A small persistent thread pool. parallel_for splits [0, n) into contiguous chunks, one per worker, and
// runs them with the calling thread taking part. Exceptions thrown by any chunk are rethrown in the caller.
// Calls from inside a running parallel_for run serially (no nested parallelism).
#include <cstdint>
#include <functional>

namespace lfm2 {

// Number of threads used by parallel_for (including the caller). Defaults to the hardware concurrency.
int num_threads();
void set_num_threads(int n);

// fn(begin, end, thread_index). Chunks are split so each of the T threads gets ~n/T items,
// rounded to multiples of `grain` where possible.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1);

}  // namespace lfm2
