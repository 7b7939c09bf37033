// A blocking HTTP/1.1 client with one keep-alive connection, for the agent and the CLI.
// Not thread-safe: use one client per thread.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace trainyard {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

class HttpClient {
 public:
  // base_url like "http://127.0.0.1:8765"; token sent as Bearer when non-empty.
  HttpClient(const std::string& base_url, std::string token);
  ~HttpClient();

  // Sends a request; reconnects once if a kept-alive connection was closed by the server.
  // Throws Unavailable when the server cannot be reached.
  ClientResponse Request(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::string& content_type = "application/json",
                         int timeout_ms = 120000);
  // Streams a local file as the request body.
  ClientResponse UploadFile(const std::string& method, const std::string& target,
                            const std::string& path);
  // Streams a GET response into a file (written atomically).
  ClientResponse DownloadToFile(const std::string& target, const std::string& path);

  // Like Request, but throws the server's error (as trainyard::Error) for non-2xx answers.
  nlohmann::json Call(const std::string& method, const std::string& target,
                      const nlohmann::json& body = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws an Error that carries the server's {"error": {code, message}} and HTTP status.
[[noreturn]] void ThrowHttpError(const ClientResponse& r);

}  // namespace trainyard
