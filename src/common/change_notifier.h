// Wakes long-polling readers when something changes (a run's status, a log append, a metric).
// Coarse by design: one generation counter for the whole server; waiters re-check their own
// condition on every wake-up. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
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
    CallListeners();
  }

  // Makes every current and future WaitUntil return at once (server shutdown).
  void Shutdown() {
    {
      std::lock_guard lk(mu_);
      shutdown_ = true;
      ++generation_;
    }
    cv_.notify_all();
    CallListeners();
  }

  // Calls `fn` after every Notify() and Shutdown() (on the notifying thread; it must not
  // block). Returns an id for RemoveListener.
  int AddListener(std::function<void()> fn) {
    std::lock_guard lk(listeners_mu_);
    listeners_[++last_listener_] = std::move(fn);
    return last_listener_;
  }
  // After it returns the listener is not running and is never called again.
  void RemoveListener(int id) {
    std::lock_guard lk(listeners_mu_);
    listeners_.erase(id);
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
  void CallListeners() {
    std::lock_guard lk(listeners_mu_);
    for (auto& [id, fn] : listeners_) fn();
  }

  std::mutex listeners_mu_;
  std::map<int, std::function<void()>> listeners_;
  int last_listener_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool shutdown_ = false;
};

}  // namespace trainyard
