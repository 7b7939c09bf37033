// A pool of Python worker processes that score requests with an entry script (Azure ML's
// init() / run(raw_data) contract) or the built-in no-code scikit-learn scorer.
//
// Config ({"kind": "python", ...}):
//   python         interpreter of the service's environment
//   worker_script  path of trainyard/_serve_worker.py
//   entry_script   absolute path of the entry script
//   source_dir     working directory of the workers (put first on sys.path)
//   env            {"K": "V"} added to the workers' environment (AZUREML_MODEL_DIR, ...)
//   workers        number of processes (default 1)
//   init_timeout_s how long init() may take (default 600)
//   max_queue      requests waiting beyond this are answered 503 (default 10000)
//
// Each worker runs init() once, then run() per request over the frame protocol (frame.h) on
// its fds 3 (requests) and 4 (answers); its stdout/stderr go to the front's (the service log).
// One dispatcher thread per worker takes requests from one FIFO queue, so requests are served
// in arrival order whichever connection they came on. A worker that dies while scoring is
// replaced and its request answered 500; a request that runs past its deadline is answered
// 504 and its worker killed and replaced. Workers get SIGKILL when the front process dies.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "serve/frame.h"
#include "serve/scorer.h"

namespace trainyard::serve {

class PythonWorkerPool : public Scorer {
 public:
  explicit PythonWorkerPool(const nlohmann::json& config);
  ~PythonWorkerPool() override;

  void Start() override;
  void Score(std::string body, Clock::time_point deadline, ScoreCallback done) override;
  void Drain() override;
  std::string MetricsText() const override;

  int live_workers() const { return live_.load(); }

 private:
  struct Job {
    std::string body;
    Clock::time_point deadline;
    ScoreCallback done;
  };
  struct Worker {
    pid_t pid = -1;
    int to_fd = -1;        // requests, our end
    int from_fd = -1;      // answers, our end
    FrameDecoder decoder;  // answers read so far
  };

  // Starts a worker process; does not wait for it to be ready.
  Worker Spawn();
  // Waits for the ready frame. On failure the worker is killed, and `error`/`traceback` set.
  bool AwaitReady(Worker& w, Clock::time_point deadline, std::string* error,
                  std::string* traceback);
  // Kills (SIGKILL) and reaps; returns a description of how it ended.
  std::string Kill(Worker& w);
  std::string Reap(Worker& w, bool wait);
  // Reads the next frame before `deadline`. Returns 1 with *out set, 0 on timeout, -1 when
  // the worker closed its end (exited).
  int ReadFrame(Worker& w, Clock::time_point deadline, Frame* out);
  void Loop(Worker w);
  // Answers one job on worker `w`; returns false when the worker had to be replaced.
  bool Handle(Worker& w, Job& job);
  // Replaces a dead worker, retrying with backoff until it is ready or the pool drains.
  bool Respawn(Worker& w);

  std::string python_, worker_script_, entry_script_, source_dir_;
  std::map<std::string, std::string> env_;
  int workers_ = 1;
  std::chrono::seconds init_timeout_{600};
  size_t max_queue_ = 10000;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool draining_ = false;
  std::vector<std::thread> threads_;
  std::atomic<int> live_{0}, busy_{0};
  std::atomic<uint64_t> restarts_{0};
};

}  // namespace trainyard::serve
