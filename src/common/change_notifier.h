// Wakes long-polling readers when something changes (a run's status, a log append, a metric).
// Coarse by design: one generation counter for the whole server; waiters re-check their own
// condition on every wake-up. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace trainyard {

class ChangeNotifier {
 public:
  void Notify() {
    {
      std::lock_guard lk(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }

  // Makes every current and future WaitUntil return at once (server shutdown).
  void Shutdown() {
    {
      std::lock_guard lk(mu_);
      shutdown_ = true;
      ++generation_;
    }
    cv_.notify_all();
  }

  // Returns true as soon as done() is true, false when the deadline passes first (or after
  // Shutdown()). done() is called without the notifier's lock held.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline,
                 const std::function<bool()>& done) {
    for (;;) {
      uint64_t seen;
      {
        std::lock_guard lk(mu_);
        seen = generation_;
        if (shutdown_) break;
      }
      if (done()) return true;
      std::unique_lock lk(mu_);
      if (!cv_.wait_until(lk, deadline, [&] { return generation_ != seen; })) return done();
    }
    return done();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool shutdown_ = false;
};

}  // namespace trainyard
