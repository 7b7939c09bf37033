#include "server/compute_api.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_limits.h"

namespace trainyard {
namespace {

using Json = nlohmann::json;

void Send(HttpResponse& res, const Json& j, int status = 200) {
  res.status = status;
  res.content_type = "application/json";
  res.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The bounded parser (common/json_limits.h): depth and size checked before anything else.
Json Body(const HttpRequest& req) {
  if (req.body.empty()) return Json::object();
  return ParseJsonBounded(req.body, "request body");
}

std::vector<std::string> Segments(const std::string& path) { return PathSegments(path); }

[[noreturn]] void NotAllowed(const HttpRequest& req) {
  throw Error("MethodNotAllowed", "method " + req.method + " is not allowed on " + req.path, 405);
}

}  // namespace

bool HandleComputeRoute(ComputeService& compute, HttpRequest& req, HttpResponse& res) {
  auto segs = Segments(req.path);
  if (segs.size() < 3 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "compute-targets") {
    return false;
  }
  const std::string& m = req.method;
  if (segs.size() == 3) {
    if (m != "GET") NotAllowed(req);
    Send(res, compute.List());
    return true;
  }
  if (segs.size() != 4) throw NotFound("no route " + m + " " + req.path + " (see docs/REST.md)");
  const std::string& name = segs[3];
  if (m == "GET") {
    Send(res, compute.Get(name));
  } else if (m == "PUT") {
    Send(res, compute.Attach(name, Body(req)), 201);
  } else if (m == "DELETE") {
    std::string force = req.Query("force", "false");
    if (force != "true" && force != "false" && force != "1" && force != "0") {
      throw InvalidInput("force must be true or false, got '" + force + "'");
    }
    compute.Detach(name, force == "true" || force == "1");
    Send(res, {{"detached", name}});
  } else {
    NotAllowed(req);
  }
  return true;
}

}  // namespace trainyard
