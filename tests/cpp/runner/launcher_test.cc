#include "runner/launcher.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "compute/slurm_client.h"

namespace trainyard {
namespace {

using Json = nlohmann::json;

TEST(PlanRanks, SingleProcessWithoutDistributedConfig) {
  RankPlan p = PlanRanks(Json::object());
  EXPECT_FALSE(p.distributed());
  EXPECT_EQ(p.world_size, 1);
}

TEST(PlanRanks, MpiFromEstimatorFields) {
  RankPlan p = PlanRanks({{"node_count", 2},
                          {"distributed_job_config",
                           {{"type", "mpi"}, {"process_count_per_node", 3}, {"node_count", 2}}}});
  EXPECT_EQ(p.kind, "mpi");
  EXPECT_EQ(p.node_count, 2);
  EXPECT_EQ(p.processes_per_node, 3);
  EXPECT_EQ(p.world_size, 6);
}

TEST(PlanRanks, PyTorchDefaultsToOneProcessPerNode) {
  RankPlan p = PlanRanks({{"distributed_job_config",
                           {{"type", "pytorch"}, {"process_count", nullptr}, {"node_count", 3}}}});
  EXPECT_EQ(p.world_size, 3);
  EXPECT_EQ(p.processes_per_node, 1);
  EXPECT_EQ(p.backend, "nccl");
}

TEST(PlanRanks, TensorflowCountsWorkersAndParameterServers) {
  RankPlan p =
      PlanRanks({{"distributed_job_config",
                  {{"type", "tensorflow"}, {"worker_count", 2}, {"parameter_server_count", 1}}}});
  EXPECT_EQ(p.world_size, 3);
  EXPECT_EQ(p.worker_count, 2);
  EXPECT_EQ(p.ps_count, 1);
}

TEST(PlanRanks, NodeCountWithoutConfigRunsOneCopyPerNode) {
  RankPlan p = PlanRanks({{"node_count", 2}});
  EXPECT_EQ(p.kind, "nodes");
  EXPECT_EQ(p.world_size, 2);
}

TEST(PlanRanks, RefusesWhatItCannotRun) {
  EXPECT_THROW(PlanRanks({{"process_count_per_node", 2}}), InvalidInput);
  EXPECT_THROW(PlanRanks({{"distributed_job_config", {{"type", "horovod"}}}}), InvalidInput);
  EXPECT_THROW(PlanRanks({{"distributed_job_config",
                           {{"type", "pytorch"}, {"process_count", 3}, {"node_count", 2}}}}),
               InvalidInput);
  EXPECT_THROW(PlanRanks({{"node_count", 3},
                          {"distributed_job_config", {{"type", "mpi"}, {"node_count", 2}}}}),
               InvalidInput);
  EXPECT_THROW(PlanRanks({{"distributed_job_config", {{"type", "mpi"}, {"node_count", 0}}}}),
               InvalidInput);
  EXPECT_THROW(
      PlanRanks({{"node_count", 2},
                 {"distributed_job_config",
                  {{"type", "tensorflow"}, {"worker_count", 1}, {"parameter_server_count", 3}}}}),
      InvalidInput);  // a node with parameter servers only would never end
  EXPECT_THROW(PlanRanks({{"distributed_job_config",
                           {{"type", "pytorch"}, {"communication_backend", "smoke"}}}}),
               InvalidInput);
}

TEST(RankOutput, SplitsLabelledLinesIntoPerRankLogs) {
  std::map<std::string, std::string> logs;
  RankOutput out("pytorch", [&](const std::string& n, std::string_view d) { logs[n] += d; });
  out.Feed("0: hello\n1: wor");
  out.Feed("ld\n 12: twelve\nlauncher says hi\n3:\n");
  out.Feed("1: no newline");
  out.Finish();
  EXPECT_EQ(logs["azureml-logs/70_driver_log_0.txt"], "hello\n");
  EXPECT_EQ(logs["azureml-logs/70_driver_log_1.txt"], "world\nno newline\n");
  EXPECT_EQ(logs["azureml-logs/70_driver_log_12.txt"], "twelve\n");
  EXPECT_EQ(logs["azureml-logs/70_driver_log_3.txt"], "\n");
  EXPECT_EQ(logs["azureml-logs/70_driver_log.txt"],
            "[rank 0] hello\n[rank 1] world\n[rank 12] twelve\nlauncher says hi\n[rank 3] \n"
            "[rank 1] no newline\n");
}

TEST(RankOutput, FailureTailPrefersTheRankTheLauncherNamed) {
  RankOutput out("pytorch", [](const std::string&, std::string_view) {});
  out.Feed("0: Traceback (most recent call last):\n0: KeyboardInterrupt\n");
  out.Feed("1: Traceback (most recent call last):\n1: ValueError: boom\n");
  out.Feed("trainyard: rank 1 exited with code 1; stopping the other ranks\n");
  int rank = -1;
  std::string tail = out.FailureTail(&rank);
  EXPECT_EQ(rank, 1);
  EXPECT_NE(tail.find("ValueError: boom"), std::string::npos);
}

TEST(SlurmHostlist, Expands) {
  EXPECT_EQ(ExpandSlurmHostlist("n[1-3],m2"), (std::vector<std::string>{"n1", "n2", "n3", "m2"}));
  EXPECT_EQ(ExpandSlurmHostlist("gpu[08-10,12]"),
            (std::vector<std::string>{"gpu08", "gpu09", "gpu10", "gpu12"}));
  EXPECT_EQ(ExpandSlurmHostlist("single"), (std::vector<std::string>{"single"}));
}

}  // namespace
}  // namespace trainyard
