// The ssh kind's attach validation (through the registry, as the server calls it) and the
// translation of ssh's errors. Connecting for real is tested end to end with a real sshd
// (tests/e2e/test_e2e_remote_compute.py).
#include "compute/ssh_target.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class SshValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sshval-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Json Validate(const Json& req) {
    return ComputeTargetRegistry::Instance().Find("ssh")->validate(req, dir_.string());
  }
  std::string Error(const Json& req) {
    try {
      Validate(req);
    } catch (const InvalidInput& e) {
      EXPECT_TRUE(fs::is_empty(dir_)) << "a secret was written for a refused request";
      return e.what();
    }
    return "(accepted)";
  }
  Json Base() {
    return {{"type", "ssh"},
            {"address", "10.0.0.4"},
            {"username", "azureuser"},
            {"private_key",
             "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH "
             "PRIVATE KEY-----\n"}};
  }
  fs::path dir_;
};

TEST_F(SshValidateTest, GoodRequestStoresSettingsAndKeepsSecretsInFiles) {
  Json req = Base();
  req["ssh_port"] = 2222;
  req["max_concurrent_runs"] = 3;
  Json s = Validate(req);
  EXPECT_EQ(s["address"], "10.0.0.4");
  EXPECT_EQ(s["ssh_port"], 2222);
  EXPECT_EQ(s["auth"], "key");
  EXPECT_EQ(s["max_concurrent_runs"], 3);
  EXPECT_FALSE(s.dump().find("PRIVATE KEY") != std::string::npos);  // not in the settings
  EXPECT_EQ(fs::status(dir_ / "id_key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Validate(Base())["ssh_port"], 22);  // Azure's default
}

TEST_F(SshValidateTest, BadInputIsRefusedWithWhatToDo) {
  auto with = [&](const char* k, Json v) {
    Json r = Base();
    if (v.is_null())
      r.erase(k);
    else
      r[k] = v;
    return r;
  };
  EXPECT_NE(Error(with("ssh_port", 0)).find("between 1 and 65535, got 0"), std::string::npos);
  EXPECT_NE(Error(with("ssh_port", 70000)).find("between 1 and 65535"), std::string::npos);
  EXPECT_NE(Error(with("ssh_port", "22x")).find("must be a port number"), std::string::npos);
  EXPECT_NE(Error(with("address", "10.0.0.1 10.0.0.2")).find("contains spaces"), std::string::npos);
  EXPECT_NE(Error(with("address", nullptr)).find("address is required"), std::string::npos);
  EXPECT_NE(Error(with("address", "-oProxyCommand=x")).find("not an IP address or DNS name"),
            std::string::npos);
  EXPECT_NE(Error(with("username", nullptr)).find("username is required"), std::string::npos);
  EXPECT_NE(Error(with("password", "pw")).find("either a password or a private key"),
            std::string::npos);
  EXPECT_NE(Error(with("private_key", nullptr)).find("give a private key"), std::string::npos);
  EXPECT_NE(Error(with("private_key", "ssh-ed25519 AAAA... me@host")).find("the .pub file"),
            std::string::npos);
  EXPECT_NE(Error(with("colour", "blue")).find("unknown attach setting 'colour'"),
            std::string::npos);
  EXPECT_NE(Error(with("heartbeat_timeout_seconds", 0)).find("heartbeat_timeout_seconds"),
            std::string::npos);
}

TEST(SshFailureTest, SshErrorsBecomeClearMessages) {
  const std::string who = "u@h:22", kh = "/d/known_hosts";
  EXPECT_NE(ExplainSshFailure("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key "
                              "verification failed.",
                              who, kh)
                .find("not the one recorded when the target was attached (/d/known_hosts)"),
            std::string::npos);
  EXPECT_NE(ExplainSshFailure("u@h: Permission denied (publickey).", who, kh)
                .find("refused the login (Permission denied)"),
            std::string::npos);
  EXPECT_NE(ExplainSshFailure("ssh: connect to host h port 22: Connection refused", who, kh)
                .find("nothing accepts SSH connections on u@h:22"),
            std::string::npos);
  EXPECT_NE(ExplainSshFailure("ssh: connect to host h port 22: No route to host", who, kh)
                .find("cannot be reached"),
            std::string::npos);
}

TEST(SshRunCapturedTest, FeedsStdinAndCapturesBothStreams) {
  auto r = RunCaptured({"sh", "-c", "cat; echo err >&2; exit 3"}, {{"X", "1"}}, "hello", 10);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "hello");
  EXPECT_EQ(r.err, "err\n");
  auto t = RunCaptured({"sleep", "5"}, {}, "", 1);
  EXPECT_TRUE(t.timed_out);
}

}  // namespace
}  // namespace trainyard
