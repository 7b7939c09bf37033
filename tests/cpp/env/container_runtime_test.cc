#include "env/container_runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "runner/launcher.h"
#include "runner/submission.h"

namespace trainyard {
namespace {

using json = nlohmann::json;

TEST(ImageRef, DockerHubNamesAreQualified) {
  ImageRef r = ParseImageRef("continuumio/miniconda");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "continuumio/miniconda");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.FullName(), "docker.io/continuumio/miniconda:latest");
  EXPECT_EQ(ParseImageRef("python:3.11-slim").FullName(), "docker.io/library/python:3.11-slim");
  EXPECT_FALSE(r.LocalOnly());
}

TEST(ImageRef, RegistryHostPortTagAndDigest) {
  ImageRef r = ParseImageRef("127.0.0.1:5000/team/trainer:1");
  EXPECT_EQ(r.registry, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "team/trainer");
  EXPECT_EQ(r.tag, "1");
  const std::string d = "sha256:" + std::string(64, 'a');
  ImageRef p = ParseImageRef("mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04@" + d);
  EXPECT_EQ(p.registry, "mcr.microsoft.com");
  EXPECT_EQ(p.tag, "");
  EXPECT_EQ(p.digest, d);
  EXPECT_EQ(p.FullName(), "mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04@" + d);
  EXPECT_TRUE(ParseImageRef("localhost/mine:2").LocalOnly());
}

TEST(ImageRef, DefaultRegistryFromBaseImageRegistry) {
  EXPECT_EQ(ParseImageRef("team/x:3", "https://registry.example.com/").FullName(),
            "registry.example.com/team/x:3");
  // An image that names its registry keeps it.
  EXPECT_EQ(ParseImageRef("quay.io/a/b", "registry.example.com").FullName(), "quay.io/a/b:latest");
  EXPECT_THROW(ParseImageRef("x", "not a host!"), InvalidInput);
}

TEST(ImageRef, MalformedReferencesNameTheImage) {
  for (const char* bad : {"", "Upper/Case", "a b", "repo:bad tag", "x@sha256:12", "a//b"}) {
    try {
      ParseImageRef(bad, "", "docker.base_image");
      FAIL() << bad;
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("docker.base_image"), std::string::npos) << e.what();
    }
  }
}

TEST(ContainerSettings, ParsesAndValidates) {
  json j = {{"runtime", "runc"},
            {"ulimits", {"nofile=20000:20000", "nproc=32768:32768"}},
            {"storage_root", "/tmp/s"},
            {"pull_policy", "always"},
            {"registries", {{"127.0.0.1:24001", {{"insecure", true}}}}}};
  ContainerSettings s = ContainerSettings::FromJson(j, "test.json");
  EXPECT_TRUE(s.Registry("127.0.0.1:24001").insecure);
  EXPECT_FALSE(s.Registry("docker.io").insecure);
  std::vector<std::string> p = s.Podman();
  EXPECT_EQ(p, (std::vector<std::string>{"podman", "--root", "/tmp/s", "--runtime", "runc"}));
  for (const json& bad : {json{{"pull_policy", "sometimes"}}, json{{"ulimits", {"nofile"}}},
                          json{{"registries", {{"h", {{"insecure", "yes"}}}}}},
                          json{{"registries", {{"h", {{"username", "u"}}}}}},
                          json{{"runtimes", "runc"}}, json::array()}) {
    try {
      ContainerSettings::FromJson(bad, "test.json");
      FAIL() << bad.dump();
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("containers config test.json"), std::string::npos);
    }
  }
}

TEST(PodmanRunArgv, RuntimeUlimitsLabelBindsAndPassedVariables) {
  ContainerSettings s;
  s.runtime = "runc";
  s.ulimits = {"nofile=20000:20000"};
  auto argv = PodmanRunArgv(s, "127.0.0.1:5000/x:1", "run-1", "", "/w", {{"/data", true}},
                            {{"A", "1"}}, {"OMPI_*"}, {"python3", "t.py"});
  auto has = [&](const std::vector<std::string>& seq) {
    return std::search(argv.begin(), argv.end(), seq.begin(), seq.end()) != argv.end();
  };
  EXPECT_TRUE(has({"--runtime", "runc", "run", "--pull=never", "--rm"}));
  EXPECT_TRUE(has({"--ulimit", "nofile=20000:20000"}));
  EXPECT_TRUE(has({"--label", "trainyard.run=run-1"}));
  EXPECT_TRUE(has({"-v", "/data:/data:ro"}));
  EXPECT_TRUE(has({"-e", "A=1"}));
  EXPECT_TRUE(has({"-e", "OMPI_*"}));
  EXPECT_TRUE(has({"127.0.0.1:5000/x:1", "python3", "t.py"}));
  EXPECT_FALSE(has({"--name"}));
}

TEST(EnvSpecDocker, BaseImageRegistryAddressKeptCredentialsRefused) {
  json j = {{"docker",
             {{"enabled", true},
              {"base_image", "team/x:1"},
              {"base_image_registry", {{"address", "r.example.com"}, {"username", nullptr}}}}}};
  EnvSpec spec = EnvSpec::FromJson(j);
  EXPECT_EQ(spec.docker_base_image_registry, "r.example.com");
  EXPECT_EQ(spec.ToJson()["docker"]["base_image_registry"]["address"], "r.example.com");
  EXPECT_FALSE(EnvSpec{}.ToJson()["docker"].contains("base_image_registry"));
  j["docker"]["base_image_registry"]["password"] = "secret";
  try {
    EnvSpec::FromJson(j);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("containers config"), std::string::npos) << e.what();
  }
}

TEST(RanksInContainers, SeveralNodesNeedAPullableImage) {
  json env = {{"docker", {{"enabled", true}, {"base_image", "localhost/mine:1"}}}};
  RankPlan one;
  one.kind = "mpi";
  one.processes_per_node = one.world_size = 2;
  EXPECT_NO_THROW(RequireNoContainerForRanks(one, env));  // one node: the local store is fine
  RankPlan two = one;
  two.node_count = 2;
  two.world_size = 4;
  try {
    RequireNoContainerForRanks(two, env);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.code(), "NotSupported");
    EXPECT_NE(std::string(e.what()).find("localhost/mine:1"), std::string::npos) << e.what();
  }
  env["docker"]["base_image"] = "127.0.0.1:5000/team/x:1";
  EXPECT_NO_THROW(RequireNoContainerForRanks(two, env));
  env["docker"]["enabled"] = false;
  env["docker"]["base_image"] = "localhost/mine:1";
  EXPECT_NO_THROW(RequireNoContainerForRanks(two, env));
}

TEST(ContainerImage, PinnedReferenceUsesTheDigest) {
  ContainerImage img;
  img.ref = ParseImageRef("127.0.0.1:5000/team/x:1");
  img.reference = img.ref.FullName();
  img.digest = "sha256:" + std::string(64, 'b');
  EXPECT_EQ(img.PinnedReference(), "127.0.0.1:5000/team/x@" + img.digest);
  ContainerSettings s;
  s.registries["127.0.0.1:5000"].insecure = true;
  EXPECT_EQ(PullOnRunOptions(s, img, ""),
            (std::vector<std::string>{"--pull=missing", "--tls-verify=false"}));
  auto argv = PodmanRunArgv(s, img.PinnedReference(), "r", "", "/w", {}, {}, {}, {"true"},
                            PullOnRunOptions(s, img, ""));
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--pull=never"), 0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--pull=missing"), 1);
}

}  // namespace
}  // namespace trainyard
