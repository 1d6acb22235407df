// Minimal fork-join parallel loop over [0, n) in contiguous chunks.
//
// The thread count comes from Python (torch.get_num_threads()) so fastgan's
// CPU kernels use the same parallelism as torch. Exceptions thrown inside a
// worker are re-thrown in the caller.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fastgan {

// Calls fn(begin, end) on disjoint chunks covering [0, n). Each chunk holds at
// least `grain` items (except the last); at most `num_threads` chunks run at once.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, int num_threads, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t threads = std::max<int64_t>(1, std::min<int64_t>(num_threads, max_chunks));
  if (threads == 1) {
    fn(int64_t(0), n);
    return;
  }
  int64_t chunk = (n + threads - 1) / threads;
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int64_t t = 1; t < threads; ++t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back(run, b, e);
  }
  run(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace fastgan
