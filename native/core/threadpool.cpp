#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace lfm2 {
namespace {

// How long an idle thread polls for the next job (a worker) or for the others to finish (the caller) before it
// blocks. A decode step is ~100 parallel regions a few hundred microseconds apart with a little serial work in
// between: polling across those gaps saves a futex wake-up (and, on a busy machine, a trip through the scheduler)
// per region; a thread idle for longer sleeps and costs nothing. LFM2_POOL_SPIN_US overrides it (0 = always block,
// e.g. for more pool threads than free cores), read when the pool starts.
constexpr int64_t kDefaultSpinMicros = 50;

std::chrono::microseconds spin_from_env() {
  const char* v = std::getenv("LFM2_POOL_SPIN_US");
  if (!v || !*v) return std::chrono::microseconds(kDefaultSpinMicros);
  char* end = nullptr;
  const long long us = std::strtoll(v, &end, 10);
  if (*end != '\0' || us < 0 || us > 1000000) return std::chrono::microseconds(kDefaultSpinMicros);
  return std::chrono::microseconds(us);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `done` until it holds or `spin` has passed; returns its last value.
template <class Pred>
bool spin_until(std::chrono::microseconds spin, const Pred& done) {
  if (done()) return true;
  if (spin.count() == 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + spin;
  for (int i = 0; i < 64; ++i) {  // a few microseconds of pause loop: the common short gap
    cpu_relax();
    if (done()) return true;
  }
  // Then poll with yields: a core that other processes want goes to them instead of being burnt here.
  for (;;) {
    std::this_thread::yield();
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

class Pool {
 public:
  Pool() : spin_(spin_from_env()) { resize(int(std::max(1u, std::thread::hardware_concurrency()))); }
  ~Pool() { stop_workers(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    n = std::max(1, std::min(n, kMaxThreads));
    std::lock_guard<std::mutex> run_lock(run_mu_);
    stop_workers();
    nthreads_ = n;
    stopping_.store(false);
    // New workers must not mistake the last finished job for a new one: they start at the current generation.
    const uint64_t start_gen = ticket_.load() >> kThreadBits;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start_gen] { worker_loop(i, start_gen); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain) {
    if (n <= 0) return;
    if (in_parallel_ || nthreads_ == 1 || n <= grain) {
      fn(0, n, 0);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mu_);
    const int64_t units = (n + grain - 1) / grain;
    const int t = int(std::min<int64_t>(nthreads_, units));
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    error_ = nullptr;
    pending_.store(t - 1);
    // One word carries the generation and the job's thread count, so a worker reads both consistently: a worker
    // outside the job never touches it, and every worker inside it is waited for before the next job is written.
    const uint64_t gen = (ticket_.load() >> kThreadBits) + 1;
    ticket_.store((gen << kThreadBits) | uint64_t(t));
    if (sleepers_.load() > 0) {
      // A worker registers as a sleeper and re-checks the ticket under mu_: taking it here orders this store
      // before that check or the notify after its wait begins.
      { std::lock_guard<std::mutex> lk(mu_); }
      cv_.notify_all();
    }
    run_chunk(0, t);
    if (!spin_until(spin_, [this] { return pending_.load() == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      caller_waiting_.store(true);
      done_cv_.wait(lk, [this] { return pending_.load() == 0; });
      caller_waiting_.store(false);
    }
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr int kThreadBits = 16;
  static constexpr int kMaxThreads = (1 << kThreadBits) - 1;

  void run_chunk(int idx, int threads) {
    const int64_t units = (job_n_ + job_grain_ - 1) / job_grain_;
    const int64_t b = units * idx / threads * job_grain_;
    const int64_t e = std::min(job_n_, units * (idx + 1) / threads * job_grain_);
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
      const auto fresh = [&] { return (ticket_.load() >> kThreadBits) != seen || stopping_.load(); };
      if (!spin_until(spin_, fresh)) {
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lk, fresh);
        sleepers_.fetch_sub(1);
      }
      if (stopping_.load()) return;
      const uint64_t t = ticket_.load();
      seen = t >> kThreadBits;
      const int threads = int(t & kMaxThreads);
      if (idx >= threads) continue;
      run_chunk(idx, threads);
      if (pending_.fetch_sub(1) == 1 && caller_waiting_.load()) {
        // As above: the caller sets caller_waiting_ and re-checks pending_ under mu_.
        { std::lock_guard<std::mutex> lk(mu_); }
        done_cv_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  // The job: written by the caller before it publishes the ticket, read by the workers after they load it.
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0, job_grain_ = 1;
  std::exception_ptr error_;
  // Sequentially consistent atomics: the sleep/wake hand-offs above rely on their single total order.
  std::atomic<uint64_t> ticket_{0};  // generation << kThreadBits | threads of the current job
  std::atomic<int> pending_{0};      // workers of the current job still running
  std::atomic<int> sleepers_{0};     // workers blocked (or about to block) on cv_
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stopping_{false};
  int nthreads_ = 1;
  const std::chrono::microseconds spin_;
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
