// The REST API over a real loopback HTTP server.
#include "server/api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "net/http_client.h"
#include "runner/node_cache.h"
#include "server/api_server.h"
#include "store/run_tokens.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("apitest-" + RandomHex(6));
    fs::create_directories(dir_);
    store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
    blobs_ = std::make_unique<BlobStore>(dir_ / "objects");
    ComputeContext cc;
    cc.agent_exe = "/bin/true";
    cc.data_dir = dir_.string();
    scheduler_ = std::make_unique<RunScheduler>(*store_, notifier_);
    compute_ = std::make_unique<ComputeService>(cc, *store_, *scheduler_);
    compute_->Start();
    ApiServerOptions ho;
    ho.upload_tmp_dir = blobs_->TempDir().string();
    server_ = std::make_unique<ApiServer>(ho, &notifier_);
    uint16_t port = server_->Listen();
    url_ = "http://127.0.0.1:" + std::to_string(port);
    ApiContext ctx;
    ctx.data_dir = dir_;
    ctx.workspace_name = "ws";
    ctx.token = "secret";
    ctx.server_url = url_;
    ctx.store = store_.get();
    ctx.blobs = blobs_.get();
    ctx.notifier = &notifier_;
    ctx.scheduler = scheduler_.get();
    ctx.compute = compute_.get();
    ctx.snapshot_max_files = 5;
    api_ = std::make_unique<Api>(ctx);
    server_->SetApi(api_.get());
    thread_ = std::thread([this] { server_->Serve(); });
    client_ = std::make_unique<HttpClient>(url_, "secret");
  }
  void TearDown() override {
    server_->Stop();
    thread_.join();
    fs::remove_all(dir_);
  }
  Json Call(const std::string& m, const std::string& t, const Json& body = nullptr) {
    return client_->Call(m, t, body);
  }
  int Status(const std::string& m, const std::string& t, const std::string& body = "") {
    return client_->Request(m, t, body).status;
  }

  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  ChangeNotifier notifier_;
  std::unique_ptr<RunScheduler> scheduler_;
  std::unique_ptr<ComputeService> compute_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<Api> api_;
  std::thread thread_;
  std::string url_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(ApiTest, HealthzIsOpenEverythingElseNeedsTheToken) {
  HttpClient anon(url_, "");
  EXPECT_EQ(anon.Request("GET", "/healthz").status, 200);
  auto r = anon.Request("GET", "/api/v1/workspace");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Json()["error"]["code"], "Unauthorized");
  HttpClient wrong(url_, "nope");
  EXPECT_EQ(wrong.Request("GET", "/api/v1/experiments").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/workspace")["name"], "ws");
}

TEST_F(ApiTest, ErrorsAreJsonWithStatus) {
  auto r = client_->Request("POST", "/api/v1/experiments/exp/runs", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["error"]["code"], "InvalidJson");
  r = client_->Request("PUT", "/api/v1/experiments/bad%20name!");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.Json()["error"]["message"].get<std::string>().find("experiment name"),
            std::string::npos);
  EXPECT_EQ(Status("GET", "/api/v1/nothing"), 404);
  EXPECT_EQ(Status("DELETE", "/api/v1/experiments"), 405);
  EXPECT_EQ(Status("POST", "/api/v1/experiments/e/runs", std::string(17 << 20, ' ')), 413);
}

TEST_F(ApiTest, InteractiveRunMetricsAreShapedAsAzure) {
  Json run = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}});
  EXPECT_EQ(run["status"], "Running");
  EXPECT_EQ(run["number"], 1);
  std::string base = "/api/v1/runs/" + run["id"].get<std::string>();
  Json pts = Json::array();
  pts.push_back({{"name", "acc"}, {"value", 0.5}});
  pts.push_back({{"name", "acc"}, {"value", 0.7}});
  pts.push_back({{"name", "kernel"}, {"value", "linear"}});
  pts.push_back({{"name", "lst"}, {"kind", "list"}, {"value", {1, 2, 3}}});
  pts.push_back({{"name", "row"}, {"kind", "row"}, {"value", {{"a", 1}, {"b", 2}}}});
  pts.push_back({{"name", "row"}, {"kind", "row"}, {"value", {{"a", 3}, {"b", 4}}}});
  pts.push_back({{"name", "img"}, {"kind", "image"}, {"value", {{"artifact", "plot.png"}}}});
  EXPECT_EQ(Call("POST", base + "/metrics", {{"metrics", pts}})["accepted"], 7);
  Json m = Call("GET", base + "/metrics")["metrics"];
  EXPECT_EQ(m["acc"], Json({0.5, 0.7}));
  EXPECT_EQ(m["kernel"], "linear");
  EXPECT_EQ(m["lst"], Json({1, 2, 3}));
  EXPECT_EQ(m["row"]["a"], Json({1, 3}));
  EXPECT_NE(m["img"].get<std::string>().find("plot.png"), std::string::npos);
  EXPECT_EQ(Call("GET", base + "/metrics?name=kernel")["metrics"].size(), 1u);

  Json bad = Json::array({{{"name", "x"}, {"kind", "weird"}, {"value", 1}}});
  EXPECT_EQ(Status("POST", base + "/metrics", Json{{"metrics", bad}}.dump()), 400);
}

TEST_F(ApiTest, SpoolLinesAreParsedAndIdempotent) {
  Json run = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}});
  std::string id = run["id"];
  std::string base = "/api/v1/runs/" + id;
  std::string body = "{\"r\":\"" + id +
                     "\",\"n\":\"loss\",\"k\":\"scalar\",\"v\":0.5,\"t\":1,\"s\":3}\n"
                     "{\"r\":\"" +
                     id +
                     "\",\"n\":\"epochs\",\"k\":\"scalar\",\"v\":7,\"t\":1}\n"
                     "{\"flush\":\"abc\"}\n"
                     "{\"r\":\"" +
                     id +
                     "\",\"n\":\"quote\\\"d\",\"k\":\"scalar\",\"v\":\"NaN\",\"t\":1}\n"
                     "{\"r\":\"" +
                     id +
                     "\",\"n\":\"row\",\"k\":\"row\",\"v\":{\"a\":1},\"t\":1}\n"
                     "{\"r\":\"" +
                     id + "\",\"n\":\"torn";
  auto r =
      client_->Request("POST", base + "/metrics/spool?first_seq=10", body, "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["accepted"], 4);
  EXPECT_EQ(r.Json()["skipped"], 2);  // the flush marker and the torn line
  EXPECT_EQ(r.Json()["next_seq"], 16);
  // Resent after a lost answer: nothing is stored twice.
  r = client_->Request("POST", base + "/metrics/spool?first_seq=10", body, "application/x-ndjson");
  EXPECT_EQ(r.Json()["accepted"], 0);
  Json m = Call("GET", base + "/metrics")["metrics"];
  EXPECT_DOUBLE_EQ(m["loss"].get<double>(), 0.5);
  EXPECT_TRUE(m["epochs"].is_number_integer());
  EXPECT_EQ(m["quote\"d"], "NaN");
  EXPECT_EQ(m["row"]["a"], Json({1}));
  EXPECT_EQ(Call("GET", base + "/metrics/raw?name=loss")["points"][0]["step"], 3);
  EXPECT_EQ(Status("POST", base + "/metrics/spool", body), 400);  // first_seq missing
}

TEST_F(ApiTest, ChildrenPropertiesAndStatus) {
  Json p = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}});
  std::string pid = p["id"];
  Json c = Call("POST", "/api/v1/experiments/exp/runs",
                {{"kind", "child"}, {"parent_id", pid}, {"status", "NotStarted"}});
  EXPECT_EQ(c["parent_id"], pid);
  EXPECT_EQ(c["status"], "NotStarted");
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + pid + "/children")["runs"].size(), 1u);
  Call("PATCH", "/api/v1/runs/" + pid + "/properties", {{"k", "v"}});
  EXPECT_EQ(Status("PATCH", "/api/v1/runs/" + pid + "/properties", R"({"k":"w"})"), 409);
  Json done = Call("POST", "/api/v1/runs/" + pid + "/status", {{"status", "Completed"}});
  EXPECT_EQ(done["status"], "Completed");
  EXPECT_EQ(Status("POST", "/api/v1/runs/" + pid + "/status", R"({"status":"Failed"})"), 409);
  EXPECT_EQ(Status("POST", "/api/v1/runs/" + pid + "/status", R"({"status":"Bogus"})"), 400);
}

TEST_F(ApiTest, LongPollWakesOnStatusChange) {
  Json run = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}});
  std::string id = run["id"];
  auto t0 = std::chrono::steady_clock::now();
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    HttpClient c2(url_, "secret");
    c2.Call("POST", "/api/v1/runs/" + id + "/status", {{"status", "Completed"}});
  });
  Json r = Call("GET", "/api/v1/runs/" + id + "?wait_ms=10000&status=Running");
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  later.join();
  EXPECT_EQ(r["status"], "Completed");
  EXPECT_GE(ms, 150);
  EXPECT_LT(ms, 5000);
}

TEST_F(ApiTest, ArtifactsModelsAndTraversal) {
  Json run = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}});
  std::string base = "/api/v1/runs/" + run["id"].get<std::string>();
  fs::path f = dir_ / "model.bin";
  std::ofstream(f) << "weights";
  EXPECT_EQ(client_->UploadFile("PUT", base + "/artifacts/outputs/model.bin", f.string()).status,
            201);
  EXPECT_EQ(client_->UploadFile("PUT", base + "/artifacts/..%2Fescape", f.string()).status, 400);
  EXPECT_EQ(client_->UploadFile("PUT", base + "/artifacts/outputs/..%2F..%2Fx", f.string()).status,
            400);
  Json files = Call("GET", base + "/artifacts")["files"];
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]["path"], "outputs/model.bin");
  EXPECT_EQ(client_->Request("GET", base + "/artifacts/outputs/model.bin").body, "weights");

  Json m = Call("POST", "/api/v1/models",
                {{"name", "m"},
                 {"run_id", run["id"]},
                 {"model_path", "outputs/model.bin"},
                 {"model_framework", "ScikitLearn"}});
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["path"], "model.bin");
  EXPECT_EQ(m["files"][0]["path"], "model.bin");
  auto bad = client_->Request(
      "POST", "/api/v1/models",
      Json{{"name", "m"}, {"run_id", run["id"]}, {"model_path", "outputs/nope"}}.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Json()["error"]["message"].get<std::string>().find("model_path"),
            std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/models/m")["version"], 1);  // the failed one made no version
}

TEST_F(ApiTest, BlobUploadChecksTheHash) {
  fs::path f = dir_ / "b.bin";
  std::ofstream(f) << "abc";
  std::string sha = Sha256Hex("abc");
  EXPECT_EQ(client_->UploadFile("PUT", "/api/v1/blobs/" + sha, f.string()).status, 201);
  EXPECT_EQ(client_->UploadFile("PUT", "/api/v1/blobs/" + std::string(64, 'a'), f.string()).status,
            400);
  EXPECT_FALSE(blobs_->Has(std::string(64, 'a')));
  Json miss = Call("POST", "/api/v1/blobs/missing", {{"sha256", {sha, std::string(64, 'b')}}});
  EXPECT_EQ(miss["missing"], Json({std::string(64, 'b')}));
}

TEST_F(ApiTest, ScriptSubmissionValidatesBeforeWriting) {
  fs::path src = dir_ / "src";
  fs::create_directories(src);
  std::ofstream(src / "train.py") << "print(1)\n";
  auto submit = [&](const Json& cfg) {
    return client_->Request("POST", "/api/v1/experiments/exp/runs",
                            Json{{"kind", "script"}, {"config", cfg}}.dump());
  };
  auto r = submit({{"source_directory", src.string()}, {"script", "missing.py"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("missing.py"), std::string::npos);
  r = submit({{"source_directory", (dir_ / "nope").string()}, {"script", "train.py"}});
  EXPECT_EQ(r.status, 400);
  r = submit(
      {{"source_directory", src.string()}, {"script", "train.py"}, {"compute_target", "gpu"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["error"]["code"], "UnknownComputeTarget");
  for (int i = 0; i < 6; ++i) std::ofstream(src / ("f" + std::to_string(i))) << i;
  r = submit({{"source_directory", src.string()}, {"script", "train.py"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Json()["error"]["code"], "SnapshotTooLarge");
  RunFilter all;
  all.include_children = true;
  EXPECT_TRUE(store_->ListRuns(all).empty());  // nothing half-created
}

}  // namespace
}  // namespace trainyard

namespace trainyard {
namespace {

// Run tokens (server/run_access.h): scoped to their run and children, refused after the run.
TEST_F(ApiTest, RunTokenReachesItsRunAndChildrenOnlyAndEndsWithTheRun) {
  std::string me = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}})["id"];
  std::string other = Call("POST", "/api/v1/experiments/exp/runs", {{"kind", "interactive"}})["id"];
  std::string tok = Call("POST", "/api/v1/runs/" + me + "/token")["token"];
  ASSERT_TRUE(IsRunTokenShape(tok));
  HttpClient run_client(url_, tok);
  auto status = [&](const std::string& m, const std::string& t, const std::string& body = "") {
    return run_client.Request(m, t, body).status;
  };
  EXPECT_EQ(status("GET", "/api/v1/runs/" + me), 200);
  EXPECT_EQ(status("GET", "/api/v1/runs/" + other), 403);
  EXPECT_EQ(status("GET", "/api/v1/experiments/exp/runs"), 403);
  EXPECT_EQ(status("POST", "/api/v1/runs/" + me + "/token"), 403);
  EXPECT_EQ(status("GET", "/api/v1/experiments"), 200);
  // A child of its run, then the child's own routes.
  auto child = run_client.Request("POST", "/api/v1/experiments/exp/runs",
                                  Json{{"kind", "child"}, {"parent_id", me}}.dump());
  ASSERT_EQ(child.status, 201) << child.body;
  std::string cid = child.Json()["id"];
  EXPECT_EQ(status("POST", "/api/v1/runs/" + cid + "/status", R"({"status":"Completed"})"), 200);
  EXPECT_EQ(status("POST", "/api/v1/experiments/exp/runs", R"({"kind":"interactive"})"), 403);
  EXPECT_EQ(status("POST", "/api/v1/experiments/exp/runs",
                   Json{{"kind", "child"}, {"parent_id", other}}.dump()),
            403);
  // Bodies the policy reads are checked for depth before they are parsed.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(status("POST", "/api/v1/experiments/exp/runs", deep), 400);
  // Spool lines naming another run are refused; lines for a child are fine.
  std::string line_other = "{\"r\":\"" + other + "\",\"n\":\"x\",\"v\":1,\"t\":1}\n";
  std::string line_child = "{\"r\":\"" + cid + "\",\"n\":\"x\",\"v\":1,\"t\":1}\n";
  EXPECT_EQ(run_client
                .Request("POST", "/api/v1/runs/" + me + "/metrics/spool?first_seq=0", line_other,
                         "application/x-ndjson")
                .status,
            403);
  EXPECT_EQ(run_client
                .Request("POST", "/api/v1/runs/" + me + "/metrics/spool?first_seq=0", line_child,
                         "application/x-ndjson")
                .status,
            200);
  // Blobs: another run's artifact is out of reach, its own upload is not.
  fs::path f = dir_ / "secret.txt";
  std::ofstream(f) << "secret of another run";
  ASSERT_EQ(
      client_->UploadFile("PUT", "/api/v1/runs/" + other + "/artifacts/secret.txt", f.string())
          .status,
      201);
  std::string secret_sha = Sha256Hex("secret of another run");
  EXPECT_EQ(status("GET", "/api/v1/blobs/" + secret_sha), 403);
  Json missing =
      run_client.Call("POST", "/api/v1/blobs/missing", Json{{"sha256", Json::array({secret_sha})}});
  EXPECT_EQ(missing["missing"], Json::array({secret_sha}));  // existence is not revealed
  fs::path mine = dir_ / "mine.txt";
  std::ofstream(mine) << "my model";
  std::string mine_sha = Sha256Hex("my model");
  EXPECT_EQ(run_client.UploadFile("PUT", "/api/v1/blobs/" + mine_sha, mine.string()).status, 201);
  EXPECT_EQ(status("GET", "/api/v1/blobs/" + mine_sha), 200);
  // The run ends: its token is refused everywhere.
  EXPECT_EQ(status("POST", "/api/v1/runs/" + me + "/status", R"({"status":"Completed"})"), 200);
  auto after = run_client.Request("GET", "/api/v1/runs/" + me);
  EXPECT_EQ(after.status, 401);
  EXPECT_NE(after.body.find("no longer valid"), std::string::npos) << after.body;
  EXPECT_EQ(Status("POST", "/api/v1/runs/" + me + "/token"), 409);
}

// The HTTP-only agent's node cache: blobs fetched by hash only when missing, verified.
TEST_F(ApiTest, NodeCacheFetchesMissingBlobsOnce) {
  std::vector<std::string> hashes;
  for (int i = 0; i < 5; ++i) hashes.push_back(blobs_->Put("file " + std::to_string(i)));
  BlobStore node(dir_ / "node" / "objects");
  node.Put("file 0");  // already on the node
  FetchStats st = FetchMissingBlobs(url_, "secret", node, hashes, 3);
  EXPECT_EQ(st.wanted, 5u);
  EXPECT_EQ(st.fetched, 4u);
  EXPECT_EQ(st.bytes, 4u * 6);
  for (auto& h : hashes) EXPECT_EQ(node.Get(h), blobs_->Get(h));
  EXPECT_EQ(FetchMissingBlobs(url_, "secret", node, hashes).fetched, 0u);
  std::string absent(64, 'a');
  EXPECT_THROW(FetchMissingBlobs(url_, "secret", node, {absent}), Error);
  EXPECT_THROW(FetchMissingBlobs(url_, "secret", node, {"../x"}), InvalidInput);
  // The downloads are one BlobBatch: a failed fetch leaves no temp file and no blob of it; a
  // big one (the syncfs path) puts every blob in place.
  std::string more = blobs_->Put("file 5");
  EXPECT_THROW(FetchMissingBlobs(url_, "secret", node, {more, absent}, 1), Error);
  EXPECT_TRUE(fs::is_empty(node.TempDir()));
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back(blobs_->Put("many " + std::to_string(i)));
  EXPECT_EQ(FetchMissingBlobs(url_, "secret", node, many, 4).fetched, 20u);
  for (auto& h : many) EXPECT_EQ(node.Get(h), blobs_->Get(h));
  EXPECT_TRUE(fs::is_empty(node.TempDir()));
}

}  // namespace
}  // namespace trainyard
