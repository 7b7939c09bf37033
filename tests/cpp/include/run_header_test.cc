#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/util.h"
#include "trainyard/run.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

TEST(RunHeader, WritesSpoolLines) {
  fs::path spool = fs::temp_directory_path() / ("spool-" + RandomHex(6));
  setenv("TRAINYARD_SPOOL", spool.c_str(), 1);
  setenv("TRAINYARD_RUN_ID", "run_1", 1);
  {
    auto run = Run::GetContext();
    ASSERT_FALSE(run.offline());
    run.Log("loss", 0.25);
    run.Log("bad", std::nan(""));
    run.Log("kernel", std::string_view("li\"near"));
    run.LogList("l", {1, 2});
    run.LogRow("row", {{"a", 1}, {"b", 2}});
  }
  unsetenv("TRAINYARD_SPOOL");
  unsetenv("TRAINYARD_RUN_ID");
  std::ifstream in(spool);
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  fs::remove(spool);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["r"], "run_1");
  EXPECT_EQ(lines[0]["n"], "loss");
  EXPECT_DOUBLE_EQ(lines[0]["v"].get<double>(), 0.25);
  EXPECT_EQ(lines[1]["v"], "NaN");
  EXPECT_EQ(lines[2]["v"], "li\"near");
  EXPECT_EQ(lines[3]["k"], "list");
  EXPECT_EQ(lines[4]["v"]["b"], 2);
}

TEST(RunHeader, OfflinePrintsLikeAzure) {
  unsetenv("TRAINYARD_SPOOL");
  auto run = Run::GetContext();
  EXPECT_TRUE(run.offline());
  testing::internal::CaptureStdout();
  run.Log("accuracy", 0.5);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "Attempted to log scalar metric accuracy:\n0.5\n");
}

}  // namespace
}  // namespace trainyard
