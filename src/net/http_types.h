// Plain HTTP request/response values handed between the Beast layer and the API handlers, so
// that handlers never include Boost.Beast (compile time).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace trainyard {

struct HttpRequest {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // raw target with query
  std::string path;                               // decoded path without query
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // lower-case names
  std::string body;                               // for ordinary requests
  std::string body_file;  // for streamed uploads: a temp file the handler may consume (rename)
  std::string peer;
  // Set by a server that sends HttpResponse::stream bodies as they are produced (chunked
  // transfer encoding). When false, a handler's stream is collected into `body` (by the
  // route that set it) before the answer is sent.
  bool can_stream = false;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  // First value of a query parameter, or `def`.
  std::string Query(const std::string& key, const std::string& def = "") const {
    auto it = query.find(key);
    return it == query.end() ? def : it->second;
  }
  std::vector<std::string> QueryAll(const std::string& key) const {
    std::vector<std::string> out;
    auto [a, b] = query.equal_range(key);
    for (auto it = a; it != b; ++it) out.push_back(it->second);
    return out;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
  std::string file_path;  // when set, the file's contents are sent instead of body
  // When set (and the request's can_stream is true), the body is produced in pieces: each
  // call appends the next piece to `out` and returns false after the last piece. The server
  // sends each piece as it comes (chunked), so a large answer never sits in memory whole.
  std::function<bool(std::string& out)> stream;
};

// Percent-decoding ('+' is a space only when plus_is_space).
std::string UrlDecode(std::string_view s, bool plus_is_space);
std::string UrlEncode(std::string_view s, bool keep_slash);
// Splits "a=b&c=d" into decoded pairs.
std::multimap<std::string, std::string> ParseQuery(std::string_view q);

}  // namespace trainyard
