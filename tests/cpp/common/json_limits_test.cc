#include "common/json_limits.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "env/env_spec.h"

namespace trainyard {
namespace {

using Json = nlohmann::json;

std::string Nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(ParseJsonBounded, AcceptsUpToTheDepthLimit) {
  Json j = ParseJsonBounded(Nested(kMaxJsonDepth), "body");
  EXPECT_EQ(JsonDepth(j), kMaxJsonDepth);
  EXPECT_EQ(ParseJsonBounded("{\"a\": [1, {\"b\": null}]}", "body")["a"][0], 1);
  EXPECT_EQ(ParseJsonBounded("3", "body"), 3);
}

TEST(ParseJsonBounded, RefusesOneLevelTooDeep) {
  try {
    ParseJsonBounded(Nested(kMaxJsonDepth + 1), "request body");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.code(), "JsonTooDeep");
    EXPECT_EQ(e.http_status(), 400);
    EXPECT_NE(std::string(e.what()).find("request body is nested deeper than 128"),
              std::string::npos)
        << e.what();
  }
}

// The review's crash: ~57k levels overflowed the stack in dump/copy. Refused at parse time now,
// objects as well as arrays, and with the rest of the document never read.
TEST(ParseJsonBounded, SixtyThousandLevelsAreRefusedWithoutCrashing) {
  EXPECT_THROW(ParseJsonBounded(Nested(60000), "body"), InvalidInput);
  std::string objs;
  for (int i = 0; i < 60000; ++i) objs += "{\"a\":";
  objs += "1" + std::string(60000, '}');
  EXPECT_THROW(ParseJsonBounded(objs, "body"), InvalidInput);
  EXPECT_THROW(ParseJsonBounded(std::string(60000, '['), "body"), InvalidInput);  // unclosed
}

TEST(ParseJsonBounded, SyntaxErrorsAndSizeLimit) {
  try {
    ParseJsonBounded("{\"a\": tru}", "request body");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.code(), "InvalidJson");
    EXPECT_NE(std::string(e.what()).find("line 1, column"), std::string::npos) << e.what();
  }
  JsonLimits small;
  small.max_bytes = 10;
  try {
    ParseJsonBounded("[1,2,3,4,5,6,7]", "request body", small);
    FAIL();
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.http_status(), 413);
    EXPECT_NE(std::string(e.what()).find("limit is 10 bytes"), std::string::npos) << e.what();
  }
  std::string why;
  EXPECT_FALSE(TryParseJsonBounded(Nested(200), JsonLimits{}, &why));
  EXPECT_NE(why.find("deeper"), std::string::npos);
  EXPECT_TRUE(TryParseJsonBounded("[[1]]"));
}

TEST(ParseJsonBounded, InvalidUtf8InAStringIsASyntaxErrorWithEscapedBytes) {
  try {
    ParseJsonBounded("\"\xff\xfe\"", "request body");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_TRUE(IsValidUtf8(e.what())) << e.what();
    // The message can be sent as JSON.
    EXPECT_NO_THROW(Json(std::string(e.what())).dump());
  }
}

TEST(ParseStoredJson, DeepStoredValuesComeBackAsAString) {
  Json j = ParseStoredJson(Nested(60000));
  ASSERT_TRUE(j.is_string());
  EXPECT_NE(j.get<std::string>().find("not shown"), std::string::npos);
  EXPECT_EQ(ParseStoredJson("[1,2]"), Json::array({1, 2}));
  EXPECT_TRUE(ParseStoredJson("{bad").is_string());
}

TEST(JsonDepth, CountsWithoutRecursionAndStopsEarly) {
  // A value built in memory (not parsed) 10,000 deep: no recursion in the count.
  Json deep = Json::array();
  Json* cur = &deep;
  for (int i = 0; i < 10000; ++i) {
    cur->push_back(Json::array());
    cur = &(*cur)[0];
  }
  EXPECT_EQ(JsonDepth(deep, 100), 101u);
  EXPECT_EQ(JsonDepth(Json(1)), 0u);
  EXPECT_EQ(JsonDepth(Json::parse("{\"a\":[[]],\"b\":{}}")), 3u);
  EXPECT_THROW(CheckMetricValue("m", deep), InvalidInput);
  // Destroying it would recurse in older nlohmann versions; 3.11 destroys iteratively.
}

TEST(CheckMetricValue, SizeLimit) {
  EXPECT_NO_THROW(CheckMetricValue("m", Json(1.5)));
  EXPECT_NO_THROW(CheckMetricValue("m", Json::array({1, 2, 3})));
  try {
    CheckMetricValue("big", Json(std::string(kMaxMetricValueBytes + 1, 'x')));
    FAIL();
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.code(), "MetricValueTooLarge");
    EXPECT_NE(std::string(e.what()).find("metric 'big'"), std::string::npos);
  }
  Json table = Json::array();
  for (int i = 0; i < 200000; ++i) table.push_back(123456);
  EXPECT_THROW(CheckMetricValue("t", table), PayloadTooLarge);
}

TEST(CheckYamlBounds, DepthAndSize) {
  EXPECT_NO_THROW(CheckYamlBounds("name: x\ndependencies:\n  - python=3.10\n  - pip:\n    - a\n",
                                  "conda file"));
  EXPECT_THROW(CheckYamlBounds("a: " + Nested(200), "conda file"), InvalidInput);
  EXPECT_THROW(CheckYamlBounds("a: " + Nested(60000, '{', '}'), "conda file"), InvalidInput);
  std::string dashes;
  for (int i = 0; i < 200; ++i) dashes += "- ";
  EXPECT_THROW(CheckYamlBounds(dashes + "x\n", "conda file"), InvalidInput);
  std::string block;
  for (int i = 0; i < 200; ++i) block += std::string(i, ' ') + "k" + std::to_string(i) + ":\n";
  try {
    CheckYamlBounds(block, "conda file");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.code(), "YamlTooDeep");
    EXPECT_NE(std::string(e.what()).find("line 129"), std::string::npos) << e.what();
  }
  // Brackets inside quotes and comments do not count; block scalars are text.
  EXPECT_NO_THROW(CheckYamlBounds("a: '" + std::string(300, '[') + "'\n# " + std::string(300, '{') +
                                      "\nb: |\n" + std::string(300, ' ') + "deep text\n",
                                  "conda file"));
  EXPECT_THROW(CheckYamlBounds(std::string(kMaxYamlBytes + 1, '#'), "conda file"), PayloadTooLarge);
}

TEST(CheckYamlBounds, CondaParserRefusesDeepYamlBeforeYamlCpp) {
  EXPECT_THROW(EnvSpec::FromCondaYaml("name: x\ndependencies: " + Nested(100000) + "\n"),
               InvalidInput);
  // Found by fuzz_env_spec: bytes that are not UTF-8 were accepted and made ToJson().dump()
  // throw; refused now with the line.
  try {
    EnvSpec::FromCondaYaml("name: x\ndependencies:\n  - nump\xfe\n");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("line 3: the file is not valid UTF-8"), std::string::npos)
        << e.what();
  }
  EnvSpec ok = EnvSpec::FromCondaYaml("name: x\ndependencies:\n  - numpy\n");
  ASSERT_TRUE(ok.conda_dependencies);
  EXPECT_EQ(ok.conda_dependencies->conda_packages.size(), 1u);
}

}  // namespace
}  // namespace trainyard
