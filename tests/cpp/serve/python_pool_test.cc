#include "serve/python_pool.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/util.h"

namespace trainyard::serve {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;

// Real worker processes (this machine's python3 running trainyard/_serve_worker.py).
class PythonPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pooltest-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Json Config(const std::string& script, int workers = 1) {
    std::ofstream(dir_ / "score.py") << script;
    return {
        {"kind", "python"},
        {"python", "python3"},
        {"worker_script", std::string(TRAINYARD_SOURCE_PYTHON_DIR) + "/trainyard/_serve_worker.py"},
        {"entry_script", (dir_ / "score.py").string()},
        {"source_dir", dir_.string()},
        {"workers", workers},
        {"init_timeout_s", 60}};
  }

  // Scores synchronously through the asynchronous interface.
  static ScoreResult Call(Scorer& s, const std::string& body, int timeout_ms = 10000) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<ScoreResult> got;
    s.Score(body, Clock::now() + std::chrono::milliseconds(timeout_ms), [&](ScoreResult r) {
      std::lock_guard lk(mu);
      got = std::move(r);
      cv.notify_all();
    });
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return got.has_value(); });
    return *got;
  }

  fs::path dir_;
};

constexpr const char* kScript = R"(
import json, os, time
state = {}
def init():
    state["ready"] = True
def run(raw_data):
    if raw_data == '"exit"':
        os._exit(9)
    if raw_data == '"sleep"':
        time.sleep(30)
    if raw_data == '"bad"':
        e = ValueError("wrong input"); e.http_status = 400; raise e
    if raw_data == '"boom"':
        raise RuntimeError("boom")
    return {"echo": json.loads(raw_data), "type": type(raw_data).__name__, "init": state["ready"]}
)";

TEST_F(PythonPoolTest, RunGetsTheRawBodyAsStr) {
  PythonWorkerPool pool(Config(kScript));
  pool.Start();
  ScoreResult r = Call(pool, R"({"data": [[1, 2]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["echo"]["data"][0][1], 2);
  EXPECT_EQ(j["type"], "str");
  EXPECT_EQ(j["init"], true);
  pool.Drain();
  EXPECT_EQ(Call(pool, "1").status, 503);
}

TEST_F(PythonPoolTest, ErrorsCrashesAndTimeouts) {
  PythonWorkerPool pool(Config(kScript));
  pool.Start();
  ScoreResult r = Call(pool, R"("bad")");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("wrong input"), std::string::npos) << r.body;
  r = Call(pool, R"("boom")");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("RuntimeError: boom"), std::string::npos) << r.body;
  // A worker that exits: 500 for its request, a replacement for the next.
  r = Call(pool, R"("exit")");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("exit code 9"), std::string::npos) << r.body;
  EXPECT_EQ(Call(pool, "2").status, 200);
  // Past the deadline: 504, the worker is killed and replaced.
  r = Call(pool, R"("sleep")", 300);
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(Call(pool, "3").status, 200);
  EXPECT_NE(pool.MetricsText().find("trainyard_serve_worker_restarts_total 2"), std::string::npos)
      << pool.MetricsText();
}

TEST_F(PythonPoolTest, FailingInitReportsTheTraceback) {
  PythonWorkerPool pool(
      Config("def init():\n    raise KeyError('no model')\n"
             "def run(raw_data):\n    return 1\n",
             2));
  try {
    pool.Start();
    FAIL() << "Start() should throw";
  } catch (const ScorerInitError& e) {
    EXPECT_NE(std::string(e.what()).find("KeyError"), std::string::npos) << e.what();
    EXPECT_NE(e.traceback().find("Traceback (most recent call last)"), std::string::npos);
  }
  PythonWorkerPool no_run(Config("def init():\n    pass\n"));
  EXPECT_THROW(no_run.Start(), ScorerInitError);
}

}  // namespace
}  // namespace trainyard::serve
