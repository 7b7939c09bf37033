// ServerLink: the agent's HTTP calls to the workspace server, surviving server restarts:
// connection failures and 502/503/504 answers are retried with backoff for up to 15 minutes,
// other 5xx for 60 s; 4xx answers are thrown at once (as trainyard::Error with the server's
// code and message). One keep-alive connection; not thread-safe (one link per thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "net/http_client.h"
#include "net/http_types.h"

namespace trainyard {

class ServerLink {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kRetryBudget = std::chrono::minutes(15);
  static constexpr auto kErrorBudget = std::chrono::seconds(60);

  ServerLink(const std::string& url, const std::string& token) : client_(url, token) {}

  ClientResponse Send(const std::string& method, const std::string& target, const std::string& body,
                      const std::string& content_type, int timeout_ms = 120000) {
    return Retry([&] { return client_.Request(method, target, body, content_type, timeout_ms); });
  }
  nlohmann::json Call(const std::string& method, const std::string& target,
                      const nlohmann::json& body = nullptr) {
    ClientResponse r = Send(method, target, body.is_null() ? "" : body.dump(), "application/json");
    return r.body.empty() ? nlohmann::json() : r.Json();
  }
  ClientResponse Upload(const std::string& target, const std::string& path) {
    return Retry([&] { return client_.UploadFile("PUT", target, path); });
  }
  // GET `target` into `path` (written atomically).
  ClientResponse Download(const std::string& target, const std::string& path) {
    return Retry([&] { return client_.DownloadToFile(target, path); });
  }

 private:
  template <class F>
  ClientResponse Retry(F&& f) {
    const auto start = Clock::now();
    const auto deadline = start + kRetryBudget;
    int delay_ms = 50;
    for (;;) {
      try {
        ClientResponse r = f();
        if (r.status / 100 == 2) return r;
        if (r.status < 500) ThrowHttpError(r);
        bool transient = r.status == 502 || r.status == 503 || r.status == 504;
        if (Clock::now() > (transient ? deadline : start + kErrorBudget)) ThrowHttpError(r);
      } catch (const Unavailable&) {
        if (Clock::now() > deadline) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms = std::min(delay_ms * 2, 2000);
    }
  }
  HttpClient client_;
};

inline std::string RunApiPath(const std::string& run_id) {
  return "/api/v1/runs/" + UrlEncode(run_id, false);
}

}  // namespace trainyard
