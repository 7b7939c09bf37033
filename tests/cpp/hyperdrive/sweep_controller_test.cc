// How a child's run config and hyperparameters record are built from the sampled values.
#include "hyperdrive/sweep_controller.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

SweepConfig Config() {
  return SweepConfig::Parse(
      {{"sampling",
        {{"name", "RANDOM"},
         {"parameter_space",
          Json::array(
              {{{"name", "--lr"}, {"expression", {"loguniform", {-6, -1}}}},
               {{"name", "kernel"},
                {"expression",
                 Json::array({"choice", Json::array({Json::array({"rbf", "a b"})})})}},
               {{"name", "--batch-size"},
                {"expression", Json::array({"choice", Json::array({Json::array({25, 50})})})}}})}}},
       {"primary_metric_name", "acc"},
       {"primary_metric_goal", "maximize"},
       {"max_total_runs", 3}});
}

TEST(HyperDriveChild, ArgumentsAppendFlagValuePairsInSpaceOrder) {
  Json params = {{"--lr", 0.001}, {"kernel", "rbf"}, {"--batch-size", 50}};
  Json cfg = {{"script", "train.py"}, {"arguments", {"--epochs", "3"}}};
  Json out = SweepController::ChildConfig(cfg, Config(), params);
  EXPECT_EQ(out["arguments"], Json::array({"--epochs", "3", "--lr", "0.001", "--kernel", "rbf",
                                           "--batch-size", "50"}));
  EXPECT_EQ(SweepController::HyperparametersJson(Config(), params),
            "{\"--lr\": 0.001, \"kernel\": \"rbf\", \"--batch-size\": 50}");
}

TEST(HyperDriveChild, CommandStringsGetQuotedArguments) {
  Json params = {{"--lr", 1e-5}, {"kernel", "a b"}, {"--batch-size", 25}};
  Json out = SweepController::ChildConfig({{"command", "python train.py"}}, Config(), params);
  EXPECT_EQ(out["command"], "python train.py --lr 1e-05 --kernel 'a b' --batch-size 25");
  out = SweepController::ChildConfig({{"command", {"python", "t.py"}}}, Config(), params);
  EXPECT_EQ(out["command"], Json::array({"python", "t.py", "--lr", "1e-05", "--kernel", "a b",
                                         "--batch-size", "25"}));
}

TEST(HyperDriveConfig, ResumeChildRunsAreValidatedAndKept) {
  Json wire = Config().ToJson();
  wire["resume_child_runs"] = {"HD_a_0", "HD_a_2"};
  SweepConfig c = SweepConfig::Parse(wire);
  EXPECT_EQ(c.resume_child_runs, Json::array({"HD_a_0", "HD_a_2"}));
  EXPECT_EQ(SweepConfig::Parse(c.ToJson()).resume_child_runs, c.resume_child_runs);
  auto refused = [&](const Json& value, const std::string& needle) {
    Json w = Config().ToJson();
    w["resume_child_runs"] = value;
    try {
      SweepConfig::Parse(w);
      ADD_FAILURE() << "accepted " << value.dump();
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(Json::array({1}), "must list child run ids");
  refused("HD_a_0", "must list child run ids");
  refused(Json::array({"x_0", "x_0"}), "twice");
  refused(Json::array({"x_0", "x_1", "x_2", "x_3"}), "max_total_runs is 3");
}

}  // namespace
}  // namespace trainyard::hyperdrive
