// RunScheduler with a stand-in agent (a shell script) so that slots, queue order, cancel and
// reconciliation are tested without Python.
#include "compute/run_scheduler.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "compute/local_target.h"
#include "store/run_tokens.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("schedtest-" + RandomHex(6));
    fs::create_directories(dir_);
    store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
    // The fake agent records start/end and marks its run Completed through a marker file the
    // test turns into a status (no server in this test).
    agent_ = dir_ / "fake-agent.sh";
    std::ofstream(agent_) << "#!/bin/sh\n"
                             "# args: agent --run ID --server URL --data DIR\n"
                             "echo \"$8 $9 ${10}\" >> \"$7/$3.args\"\n"
                             "echo \"$TRAINYARD_TOKEN\" >> \"$7/$3.token\"\n"
                             "echo start $(date +%s%N) >> \"$7/$3.times\"\n"
                             "sleep 0.3\n"
                             "echo end $(date +%s%N) >> \"$7/$3.times\"\n";
    fs::permissions(agent_, fs::perms(0755));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Queue(const std::string& id) {
    RunRecord r;
    r.id = id;
    r.experiment = "e";
    r.kind = "script";
    r.status = "Queued";
    r.created = NowMillis();
    store_->CreateRun(r);
    return id;
  }
  std::unique_ptr<RunScheduler> Make(int slots) {
    ComputeContext c;
    c.agent_exe = agent_.string();
    c.server_url = "http://127.0.0.1:1";
    c.data_dir = dir_.string();
    auto s = std::make_unique<RunScheduler>(*store_, notifier_);
    s->AddTarget(std::make_unique<LocalTarget>("local", c, slots));
    return s;
  }
  // Waits until the run has a final status.
  std::string WaitFinal(const std::string& id) {
    for (int i = 0; i < 200; ++i) {
      auto r = store_->GetRun(id);
      if (IsTerminalStatus(r->status)) return r->status;
      std::this_thread::sleep_for(25ms);
    }
    return store_->GetRun(id)->status;
  }
  std::pair<int64_t, int64_t> Times(const std::string& id) {
    std::ifstream in(dir_ / (id + ".times"));
    std::string word;
    int64_t start = 0, end = 0, t;
    while (in >> word >> t) (word == "start" ? start : end) = t;
    return {start, end};
  }

  fs::path dir_, agent_;
  std::unique_ptr<MetadataStore> store_;
  ChangeNotifier notifier_;
};

TEST_F(SchedulerTest, OneSlotRunsOneAtATimeInOrder) {
  auto s = Make(1);
  s->Start();
  for (auto id : {"a", "b", "c"}) s->Enqueue(Queue(id));
  // The fake agent never reports a status, so the scheduler marks each Failed ("agent stopped").
  for (auto id : {"a", "b", "c"}) EXPECT_EQ(WaitFinal(id), "Failed");
  auto a = Times("a"), b = Times("b"), c = Times("c");
  EXPECT_LE(a.second, b.first);
  EXPECT_LE(b.second, c.first);
  EXPECT_NE(store_->GetRun("a")->error["message"].get<std::string>().find("agent stopped"),
            std::string::npos);
}

TEST_F(SchedulerTest, TwoSlotsOverlap) {
  auto s = Make(2);
  s->Start();
  s->Enqueue(Queue("a"));
  s->Enqueue(Queue("b"));
  WaitFinal("a");
  WaitFinal("b");
  auto a = Times("a"), b = Times("b");
  EXPECT_LT(b.first, a.second);  // b started before a ended
}

TEST_F(SchedulerTest, CancelQueuedAndRunning) {
  auto s = Make(1);
  s->Start();
  s->Enqueue(Queue("a"));
  s->Enqueue(Queue("b"));
  std::this_thread::sleep_for(100ms);
  s->Cancel("b");  // still queued
  EXPECT_EQ(store_->GetRun("b")->status, "Canceled");
  s->Cancel("a");  // running: SIGTERM to the agent
  EXPECT_EQ(WaitFinal("a"), "Canceled");
  EXPECT_FALSE(fs::exists(dir_ / "b.times"));  // never started
}

TEST_F(SchedulerTest, ReconcileRecoversRunsWhoseAgentIsGoneAndRequeuesQueued) {
  Queue("lost");
  store_->UpdateRunStatus("lost", "Running", nullptr, std::nullopt);
  store_->SetAgentPid("lost", 999999);  // no such process
  Queue("waiting");
  auto s = Make(1);
  s->Start();
  // A recovery agent ships what the dead one left; this stand-in does not report, so the
  // scheduler fails the run once it exits.
  EXPECT_EQ(WaitFinal("lost"), "Failed");
  auto lost = store_->GetRun("lost");
  EXPECT_NE(lost->error["message"].get<std::string>().find("agent"), std::string::npos);
  std::ifstream args(dir_ / "lost.args");
  std::string line;
  std::getline(args, line);
  EXPECT_EQ(line.rfind("--recover --reason its process was gone", 0), 0u) << line;
  WaitFinal("waiting");
  EXPECT_TRUE(fs::exists(dir_ / "waiting.times"));  // it was started after the restart
}

TEST_F(SchedulerTest, AgentsGetARunTokenAndADeadAgentGetsARecoveryAgent) {
  Queue("r1");
  auto s = Make(1);
  s->Start();
  // The stand-in exits without reporting: the scheduler starts `agent --recover`, and when
  // that one also reports nothing, fails the run.
  EXPECT_EQ(WaitFinal("r1"), "Failed");
  std::ifstream args(dir_ / "r1.args");
  std::string first, second;
  std::getline(args, first);
  std::getline(args, second);
  EXPECT_EQ(first, "  ");
  EXPECT_EQ(second.rfind("--recover --reason agent exit code 0", 0), 0u) << second;
  // Each start got its own token of this run, never the workspace token; the run's end
  // revoked them.
  std::ifstream tokens(dir_ / "r1.token");
  std::string t1, t2;
  tokens >> t1 >> t2;
  EXPECT_TRUE(IsRunTokenShape(t1)) << t1;
  EXPECT_TRUE(IsRunTokenShape(t2)) << t2;
  EXPECT_NE(t1, t2);
  EXPECT_FALSE(store_->FindRunToken(HashRunToken(t1)));
  EXPECT_FALSE(store_->FindRunToken(HashRunToken(t2)));
}

TEST_F(SchedulerTest, RunTokensAreStoredHashedAndEndWithTheRun) {
  Queue("t");
  std::string tok = MintRunToken(*store_, "t");
  EXPECT_TRUE(IsRunTokenShape(tok));
  EXPECT_EQ(store_->FindRunToken(HashRunToken(tok)).value_or(""), "t");
  EXPECT_FALSE(store_->FindRunToken(tok));  // the token itself is not what is stored
  store_->UpdateRunStatus("t", "Running", nullptr, std::nullopt);
  EXPECT_TRUE(store_->FindRunToken(HashRunToken(tok)));
  store_->UpdateRunStatus("t", "Completed", nullptr, std::nullopt);
  EXPECT_FALSE(store_->FindRunToken(HashRunToken(tok)));
}

TEST_F(SchedulerTest, RunsOfAnUnknownTargetFailAtStartAndDetachNeedsForce) {
  RunRecord r;
  r.id = "elsewhere";
  r.experiment = "e";
  r.kind = "script";
  r.status = "Queued";
  r.compute_target = "gone-vm";
  r.created = NowMillis();
  store_->CreateRun(r);
  auto s = Make(1);
  s->Start();
  auto run = store_->GetRun("elsewhere");
  EXPECT_EQ(run->status, "Failed");
  EXPECT_NE(run->error["message"].get<std::string>().find("'gone-vm' does not exist"),
            std::string::npos);
  // A target with a queued run cannot be removed without force; with force the run is canceled.
  ComputeContext c;
  c.agent_exe = agent_.string();
  c.data_dir = dir_.string();
  s->AddTarget(std::make_unique<LocalTarget>("second", c, 1));
  RunRecord q;
  q.id = "on-second";
  q.experiment = "e";
  q.kind = "script";
  q.status = "Queued";
  q.compute_target = "second";
  q.created = NowMillis();
  store_->CreateRun(q);
  s->Enqueue("on-second");
  EXPECT_THROW(s->RemoveTarget("second", false), Conflict);
  s->RemoveTarget("second", true);
  EXPECT_FALSE(s->HasTarget("second"));
  EXPECT_EQ(WaitFinal("on-second"), "Canceled");
  // Each target has its own slots: the local queue is untouched.
  EXPECT_TRUE(s->HasTarget("local"));
}

}  // namespace
}  // namespace trainyard
