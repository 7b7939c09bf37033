// The run object written as text (server/run_json.h) is byte for byte what nlohmann writes for
// the same object built as a tree (the way Api built it before), for ordinary and awkward runs.
#include "server/run_json.h"

#include <gtest/gtest.h>

#include "common/util.h"
#include "net/http_types.h"

namespace trainyard {
namespace {

using Json = nlohmann::json;

Json TimeOrNull(int64_t ms) { return ms > 0 ? Json(FormatIsoTime(ms)) : Json(nullptr); }

// The reference: the tree Api::RunJson built, dumped as SendJson dumps it.
std::string Reference(const RunRecord& r, const std::string& url,
                      const std::vector<std::pair<std::string, uint64_t>>& logs,
                      const std::vector<RunInputRecord>& inputs, const Json* metrics) {
  Json j = {{"id", r.id},
            {"number", r.number},
            {"experiment", r.experiment},
            {"parent_id", r.parent_id.empty() ? Json(nullptr) : Json(r.parent_id)},
            {"kind", r.kind},
            {"display_name", r.display_name},
            {"status", r.status},
            {"created_utc", TimeOrNull(r.created)},
            {"start_time_utc", TimeOrNull(r.started)},
            {"end_time_utc", TimeOrNull(r.ended)},
            {"tags", r.tags},
            {"properties", r.properties},
            {"compute_target", r.compute_target},
            {"script", r.definition.value("script", Json(nullptr))},
            {"command", r.definition.value("command", Json(nullptr))},
            {"arguments", r.definition.value("arguments", Json::array())},
            {"environment", r.definition.value("environment", Json(nullptr))},
            {"definition", r.definition},
            {"snapshot_id", r.snapshot_id.empty() ? Json(nullptr) : Json(r.snapshot_id)},
            {"git", r.git},
            {"error", r.error},
            {"exit_code", r.exit_code ? Json(*r.exit_code) : Json(nullptr)},
            {"portal_url", url + "/runs/" + r.id}};
  Json lf = Json::object();
  for (auto& [rel, size] : logs)
    lf[rel] = url + "/api/v1/runs/" + r.id + "/logs/" + UrlEncode(rel, true);
  j["log_files"] = lf;
  Json arr = Json::array();
  for (const RunInputRecord& in : inputs) {
    arr.push_back({{"input_name", in.input_name},
                   {"mode", in.mode},
                   {"name", in.name.empty() ? Json(nullptr) : Json(in.name)},
                   {"version", in.version ? Json(in.version) : Json(nullptr)},
                   {"id", in.asset_id}});
  }
  j["input_datasets"] = arr;
  if (metrics) j["metrics"] = *metrics;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

TEST(RunJsonText, SameBytesAsTheTree) {
  std::string url = "http://127.0.0.1:23456";
  RunRecord plain;
  plain.id = "exp_1_abcd";
  plain.number = 7;
  plain.experiment = "exp";
  plain.kind = "interactive";
  plain.status = "Completed";
  plain.created = 1764000000123;
  plain.tags = Json::object();
  plain.properties = Json::object();
  plain.definition = Json::object();
  EXPECT_EQ(
      [&] {
        std::string s;
        AppendRunJson(s, plain, {&url, nullptr, nullptr, nullptr});
        return s;
      }(),
      Reference(plain, url, {}, {}, nullptr));

  RunRecord odd = plain;
  odd.parent_id = "parent_run";
  odd.display_name = "quote \" backslash \\ tab \t ü \xff invalid";
  odd.started = 1764000001000;
  odd.ended = 1764000002999;
  odd.compute_target = "cpu-cluster";
  odd.tags = {{"b", "2"}, {"a", "x\ny"}, {"n", 3}};
  odd.properties = {{"lr", "0.1"}, {"émoji", "✓"}};
  odd.definition = {{"script", "train.py"},
                    {"arguments", {"--lr", 0.1, 3}},
                    {"environment", {{"name", "env"}, {"version", "1"}}},
                    {"command", nullptr},
                    {"extra", {{"z", 1.5}, {"a", Json::array()}}}};
  odd.snapshot_id = "abc123";
  odd.git = {{"repository", "r"}, {"dirty", true}};
  odd.error = {{"message", "boom"}, {"traceback", "line 1\nline 2"}};
  odd.exit_code = -9;
  std::vector<std::pair<std::string, uint64_t>> logs = {
      {"azureml-logs/70_driver_log.txt", 10}, {"logs/a b.txt", 3}, {"azureml-logs/20_x.txt", 1}};
  std::vector<RunInputRecord> inputs(2);
  inputs[0].asset_id = "ds:1";
  inputs[0].input_name = "train";
  inputs[0].mode = "mount";
  inputs[0].name = "mnist";
  inputs[0].version = 2;
  inputs[1].asset_id = "inline:abc";
  inputs[1].input_name = "test";
  inputs[1].mode = "download";
  Json metrics = {{"acc", 0.25}, {"loss", 3}};
  std::string s;
  AppendRunJson(s, odd, {&url, &logs, &inputs, &metrics});
  EXPECT_EQ(s, Reference(odd, url, logs, inputs, &metrics));
  EXPECT_TRUE(Json::accept(s));
}

TEST(RunJsonText, TimesAreFormatIsoTime) {
  std::vector<int64_t> cases = {1,
                                999,
                                1000,
                                86399999,
                                86400000,
                                951782400000 /* 2000-02-29 */,
                                4107542399999 /* 2100-02-28 23:59:59.999 */,
                                253402300799999};
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {  // xorshift: times from 1970 to ~2100
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    cases.push_back(static_cast<int64_t>(x % 4102444800000ull) + 1);
  }
  for (int64_t ms : cases) {
    std::string s;
    AppendJsonTime(s, ms);
    ASSERT_EQ(s, "\"" + FormatIsoTime(ms) + "\"") << ms;
  }
  std::string s;
  AppendJsonTime(s, 0);
  EXPECT_EQ(s, "null");
}

}  // namespace
}  // namespace trainyard
