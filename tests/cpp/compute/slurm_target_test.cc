#include "compute/slurm_target.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace trainyard {
namespace {

TEST(SlurmVmSize, BuiltInRuleGivesGpuGresForGpuFamilies) {
  EXPECT_EQ(ResolveSlurmVmSize("STANDARD_NC6", "").gres, "gpu:1");
  EXPECT_EQ(ResolveSlurmVmSize("Standard_NC12", "").gres, "gpu:2");
  EXPECT_EQ(ResolveSlurmVmSize("STANDARD_NC24s_v3", "").gres, "gpu:4");
  EXPECT_EQ(ResolveSlurmVmSize("STANDARD_ND6S", "").gres, "gpu:1");
  EXPECT_EQ(ResolveSlurmVmSize("STANDARD_D2_V2", "").gres, "");
  EXPECT_EQ(ResolveSlurmVmSize("", "").gres, "");
}

TEST(SlurmVmSize, MapFileOverridesAndHasAWildcard) {
  auto path = std::filesystem::temp_directory_path() / "trainyard-vm-sizes-test.json";
  std::ofstream(path) << R"({"STANDARD_NC6": {"partition": "cpu"},
                             "*": {"partition": "big", "constraint": "avx2", "cpus_per_task": 4}})";
  SlurmVmSize nc6 = ResolveSlurmVmSize("standard_nc6", path.string());
  EXPECT_EQ(nc6.partition, "cpu");
  EXPECT_EQ(nc6.gres, "");
  SlurmVmSize other = ResolveSlurmVmSize("STANDARD_D2_V2", path.string());
  EXPECT_EQ(other.partition, "big");
  EXPECT_EQ(other.constraint, "avx2");
  EXPECT_EQ(other.cpus_per_task, 4);
  std::filesystem::remove(path);
  EXPECT_THROW(ResolveSlurmVmSize("STANDARD_NC6", path.string()), InvalidInput);
}

}  // namespace
}  // namespace trainyard
