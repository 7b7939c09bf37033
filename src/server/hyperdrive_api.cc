#include "server/hyperdrive_api.h"

#include "common/error.h"
#include "common/json_limits.h"
#include "common/validation.h"

namespace trainyard {
namespace {

std::vector<std::string> Segments(const std::string& path) { return PathSegments(path); }

// The bounded parser (common/json_limits.h): depth and size checked before anything else.
Json Body(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  return ParseJsonBounded(req.body, "request body");
}

// The child config as PrepareSubmission sees it once the data routes have resolved dataset
// inputs: those are the data layer's to validate when each child is submitted.
Json WithoutDatasetInputs(Json config) {
  if (config.contains("arguments") && config["arguments"].is_array()) {
    for (auto& a : config["arguments"])
      if (a.is_object()) a = "dataset-input";
  }
  config.erase("inputs");
  return config;
}

}  // namespace

HttpResponse ApiRunSubmitter::Call(const std::string& method, const std::string& target,
                                   std::string body) {
  HttpRequest req;
  req.method = method;
  req.target = target;
  req.path = UrlDecode(target.substr(0, target.find('?')), false);
  req.headers["authorization"] = "Bearer " + token_;
  req.headers["content-type"] = "application/json";
  req.body = std::move(body);
  req.peer = "hyperdrive";
  HttpResponse res;
  handler_(req, res);
  return res;
}

Json ApiRunSubmitter::CreateRun(const std::string& experiment, const Json& body) {
  HttpResponse res =
      Call("POST", "/api/v1/experiments/" + UrlEncode(experiment, false) + "/runs", body.dump());
  return Json::parse(res.body);
}

void ApiRunSubmitter::CancelRun(const std::string& run_id) {
  try {
    Call("POST", "/api/v1/runs/" + UrlEncode(run_id, false) + "/cancel", "");
  } catch (const NotFound&) {
  }
}

bool HandleHyperDriveRoute(hyperdrive::SweepController& sweeps, BlobStore& blobs,
                           const SubmissionLimits& limits, HttpRequest& req, HttpResponse& res) {
  auto segs = Segments(req.path);
  if (segs.size() != 5 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "experiments" ||
      segs[4] != "hyperdrive") {
    return false;
  }
  if (req.method != "POST") {
    throw Error("MethodNotAllowed", "method " + req.method + " is not allowed on " + req.path, 405);
  }
  const std::string& experiment = segs[3];
  ValidateName("experiment name", experiment);
  Json body = Body(req);
  if (!body.is_object() || !body.contains("hyperdrive")) {
    throw InvalidInput("body must be {\"hyperdrive\": {...}, \"config\": {...}} (docs/REST.md)");
  }
  if (!body.contains("config") || !body["config"].is_object()) {
    throw InvalidInput(
        "a HyperDrive run needs 'config': the run configuration of its children "
        "(HyperDriveConfig(run_config=ScriptRunConfig(...)) or estimator=...)");
  }
  // Validate the sweep first (cheap, no side effects), then the children's run config.
  hyperdrive::SweepConfig::Parse(body["hyperdrive"]);
  PrepareSubmission(WithoutDatasetInputs(body["config"]), blobs, limits);
  std::string run_id;
  if (body.contains("run_id") && body["run_id"].is_string()) {
    run_id = body["run_id"];
    ValidateRunId("run_id", run_id);
  }
  Json run = sweeps.CreateSweep(experiment, body["hyperdrive"], body["config"],
                                body.value("tags", Json::object()), run_id);
  res.status = 201;
  res.content_type = "application/json";
  res.body = run.dump(-1, ' ', false, Json::error_handler_t::replace);
  return true;
}

}  // namespace trainyard
