#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace lfm2 {
namespace {

class Pool {
 public:
  Pool() { resize(int(std::max(1u, std::thread::hardware_concurrency()))); }
  ~Pool() { stop_workers(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    n = std::max(1, n);
    std::lock_guard<std::mutex> run_lock(run_mu_);
    stop_workers();
    nthreads_ = n;
    stopping_ = false;
    // New workers must not mistake the last finished job for a new one: they start at the current generation.
    uint64_t start_gen;
    {
      std::lock_guard<std::mutex> lk(mu_);
      start_gen = generation_;
    }
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start_gen] { worker_loop(i, start_gen); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain) {
    if (n <= 0) return;
    if (in_parallel_ || nthreads_ == 1 || n <= grain) {
      fn(0, n, 0);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mu_);
    int64_t units = (n + grain - 1) / grain;
    int t = int(std::min<int64_t>(nthreads_, units));
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      job_n_ = n;
      job_grain_ = grain;
      job_threads_ = t;
      pending_ = t - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int idx) {
    if (idx >= job_threads_) return;
    int64_t units = (job_n_ + job_grain_ - 1) / job_grain_;
    int64_t b = units * idx / job_threads_ * job_grain_;
    int64_t e = std::min(job_n_, units * (idx + 1) / job_threads_ * job_grain_);
    if (b >= e) return;
    in_parallel_ = true;
    try {
      (*job_)(b, e, idx);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    in_parallel_ = false;
  }

  void worker_loop(int idx, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      if (idx < job_threads_) {
        run_chunk(idx);
        std::lock_guard<std::mutex> lk(mu_);
        if (--pending_ == 0) done_cv_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0, job_grain_ = 1;
  int job_threads_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  int nthreads_ = 1;
  std::exception_ptr error_;
  static thread_local bool in_parallel_;
};

thread_local bool Pool::in_parallel_ = false;

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain) {
  pool().run(n, fn, std::max<int64_t>(1, grain));
}

}  // namespace lfm2
