#include "serve/service_api.h"

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

bool HandleServiceRoute(ServiceManager& services, HttpRequest& req, HttpResponse& res) {
  auto segs = Segments(req.path);
  if (segs.size() < 3 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "services") {
    return false;
  }
  const std::string& m = req.method;
  if (segs.size() == 3) {
    if (m == "POST") {
      Send(res, services.Deploy(Body(req)), 201);
    } else if (m == "GET") {
      Send(res, services.List());
    } else {
      NotAllowed(req);
    }
    return true;
  }
  const std::string& name = segs[3];
  if (segs.size() == 4) {
    if (m == "GET") {
      Send(res, services.Get(name));
    } else if (m == "PATCH") {
      Send(res, services.Update(name, Body(req)));
    } else if (m == "DELETE") {
      services.Delete(name);
      Send(res, {{"deleted", name}});
    } else {
      NotAllowed(req);
    }
    return true;
  }
  if (segs.size() == 5) {
    const std::string& what = segs[4];
    if (what == "logs" && m == "GET") {
      long tail = std::atol(req.Query("tail", "0").c_str());
      size_t max = tail > 0 ? static_cast<size_t>(tail) : size_t{8} << 20;
      res.content_type = "text/plain; charset=utf-8";
      res.body = services.Logs(name, max);
      return true;
    }
    if (what == "keys" && m == "GET") {
      Send(res, services.Keys(name));
      return true;
    }
    if (what == "regen_key" && m == "POST") {
      Json b = Body(req);
      std::string key = b.is_object() && b.contains("key") && b["key"].is_string()
                            ? b["key"].get<std::string>()
                            : "";
      Send(res, services.RegenerateKey(name, key));
      return true;
    }
    if (what == "logs" || what == "keys" || what == "regen_key") NotAllowed(req);
  }
  throw NotFound("no route " + m + " " + req.path + " (see docs/REST.md, Web services)");
}

}  // namespace trainyard
