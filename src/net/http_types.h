// Plain HTTP request/response values handed between the Beast layer and the API handlers, so
// that handlers never include Boost.Beast (compile time).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // Set by the server's authentication: the run whose token made the request ("" for the
  // workspace token). Handlers use it to scope what a run token may touch.
  std::string run_scope;

  // When the request head was read (long polls measure their wait from here).
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
  // True when the server can park this request (HttpResponse::defer_until) instead of a
  // handler thread waiting; false on the last attempt and for callers outside the server.
  bool can_defer = false;

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
  bool close = false;     // close the connection after this answer
  // A long poll whose condition does not hold yet (only when HttpRequest::can_defer): the
  // server parks the request and calls the handler again when something changes or at this
  // time (then with can_defer false); the rest of the response is ignored.
  std::optional<std::chrono::steady_clock::time_point> defer_until;

  // When set (and the request's can_stream is true), the body is produced in pieces: each
  // call appends the next piece to `out` and returns false after the last piece. The server
  // sends each piece as it comes (chunked), so a large answer never sits in memory whole;
  // `body`, when not empty, is sent before the first piece. The producer may block (SQLite,
  // files): the server calls it off its I/O threads, one call at a time, at most one piece
  // ahead of the socket. An answer that ends within its first piece is sent with a
  // Content-Length as usual. An exception before anything was sent becomes an error answer;
  // after that the connection is closed without the chunked terminator, so the client sees
  // a truncated answer, never a complete-looking one.
  std::function<bool(std::string& out)> stream;
};

// The credentials of an "Authorization: Bearer <token>" header value: the scheme is
// case-insensitive (RFC 7235), one or more spaces follow it. nullopt for any other value. The
// view points into `authorization`: keep that string alive.
std::optional<std::string_view> BearerToken(std::string_view authorization);
// Constant-time comparison of a presented secret with the expected one; an empty expected
// secret never matches.
bool SecretEquals(std::string_view given, std::string_view expected);

// Percent-decoding ('+' is a space only when plus_is_space).
std::string UrlDecode(std::string_view s, bool plus_is_space);
std::string UrlEncode(std::string_view s, bool keep_slash);
// The non-empty segments of a (decoded) path: "/api//v1/runs/" -> {"api", "v1", "runs"}.
std::vector<std::string> PathSegments(std::string_view path);
// Splits "a=b&c=d" into decoded pairs.
std::multimap<std::string, std::string> ParseQuery(std::string_view q);

}  // namespace trainyard
