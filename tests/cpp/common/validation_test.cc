#include "common/validation.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trainyard {
namespace {

TEST(ValidateName, AcceptsAzureStyleNames) {
  EXPECT_NO_THROW(ValidateName("experiment name", "train-sklearn"));
  EXPECT_NO_THROW(ValidateName("model name", "sklearn_iris.v2"));
  EXPECT_NO_THROW(ValidateName("x", std::string(255, 'a')));
}

TEST(ValidateName, RejectsWithTheRule) {
  try {
    ValidateName("experiment name", "bad name!");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("experiment name"), std::string::npos);
    EXPECT_NE(m.find("letters, digits"), std::string::npos);
    EXPECT_EQ(e.http_status(), 400);
  }
  EXPECT_THROW(ValidateName("x", ""), InvalidInput);
  EXPECT_THROW(ValidateName("x", "-leading"), InvalidInput);
  EXPECT_THROW(ValidateName("x", std::string(256, 'a')), InvalidInput);
  EXPECT_THROW(ValidateName("x", "a/b"), InvalidInput);
}

TEST(ValidateRelativePath, NormalizesAndRejectsTraversal) {
  EXPECT_EQ(ValidateRelativePath("p", "./outputs/model.joblib"), "outputs/model.joblib");
  EXPECT_EQ(ValidateRelativePath("p", "outputs/"), "outputs");
  EXPECT_THROW(ValidateRelativePath("p", "../etc/passwd"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", "a/../../b"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", "/etc/passwd"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", "a//b"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", "a\\b"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", std::string("a\0b", 3)), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", ""), InvalidInput);
}

TEST(ValidateComputeName, FollowsAzureRule) {
  EXPECT_NO_THROW(ValidateComputeName("compute", "gpu-cluster"));
  EXPECT_THROW(ValidateComputeName("compute", "gpu_cluster"), InvalidInput);
  EXPECT_THROW(ValidateComputeName("compute", std::string(64, 'a')), InvalidInput);
  EXPECT_THROW(ValidateComputeName("compute", "1abc"), InvalidInput);
}

TEST(ErrorExitCodes, MapByKind) {
  EXPECT_EQ(InvalidInput("x").exit_code(), 2);
  EXPECT_EQ(NotFound("x").exit_code(), 3);
  EXPECT_EQ(Conflict("x").exit_code(), 4);
  EXPECT_EQ(Unauthorized("x").exit_code(), 5);
  EXPECT_EQ(InternalError("x").exit_code(), 1);
}

// One rule for every name, run id and path segment (issue 15): no '.'/'..', at most 255 bytes,
// UTF-8 only.
TEST(ValidatePathSegment, OneRuleForIdsNamesAndSegments) {
  EXPECT_THROW(ValidateRunId("run id", ".."), InvalidInput);
  EXPECT_THROW(ValidateRunId("run id", "."), InvalidInput);
  EXPECT_NO_THROW(ValidateRunId("run id", "exp_1_ab.c"));
  EXPECT_NO_THROW(ValidateRunId("run id", "..x"));  // only the whole segment is special
  EXPECT_THROW(ValidateRunId("run id", std::string(256, 'a')), InvalidInput);

  EXPECT_NO_THROW(ValidateRelativePath("p", std::string(255, 'a') + "/b"));
  try {
    ValidateRelativePath("artifact path", "outputs/" + std::string(256, 'a'));
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("at most 255 bytes (this one is 256)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ValidateRelativePath("p", "a/\xff/b"), InvalidInput);
  EXPECT_THROW(ValidateRelativePath("p", "a/\xc0\xaf"), InvalidInput);  // overlong '/'
  EXPECT_NO_THROW(ValidateRelativePath("p", "caf\xc3\xa9/na\xc3\xafve.txt"));
  EXPECT_THROW(ValidateRelativePath("p", "a/./b"), InvalidInput);
  EXPECT_THROW(ValidateKey("tag key", "\xff"), InvalidInput);
  EXPECT_THROW(ValidatePathSegment("x", "a/b", "a/b"), InvalidInput);
  try {
    ValidateRelativePath("log name", "\xff\xfe");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("\\xff\\xfe"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trainyard
