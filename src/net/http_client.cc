#include "net/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <optional>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  std::string host, port, token;
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;

  void Connect(int timeout_ms) {
    stream.reset();
    stream.emplace(io);
    tcp::resolver resolver(io);
    beast::error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec) throw Unavailable("cannot resolve " + host + ": " + ec.message());
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    stream->connect(results, ec);
    if (ec) {
      stream.reset();
      throw Unavailable("cannot connect to the Trainyard server at http://" + host + ":" + port +
                        " (" + ec.message() + "); is it running? Try `trainyard up`.");
    }
    stream->socket().set_option(tcp::no_delay(true));
  }

  template <class ReqBody, class ResBody>
  bool Exchange(http::request<ReqBody>& req, http::response_parser<ResBody>& parser,
                int timeout_ms) {
    beast::error_code ec;
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    http::write(*stream, req, ec);
    if (ec) return false;
    beast::flat_buffer buf;
    http::read(*stream, buf, parser, ec);
    if (ec) return false;
    if (!parser.get().keep_alive()) stream.reset();
    return true;
  }

  template <class ReqBody>
  void Prepare(http::request<ReqBody>& req, const std::string& content_type) {
    req.set(http::field::host, host + ":" + port);
    req.set(http::field::user_agent, "trainyard/" TRAINYARD_VERSION);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.set(http::field::content_type, content_type);
    req.keep_alive(true);
    req.prepare_payload();
  }

  template <class ReqBody, class ResBody>
  ClientResponse Send(http::request<ReqBody>& req, int timeout_ms,
                      std::function<void(http::response_parser<ResBody>&)> setup) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fresh = !stream.has_value();
      if (fresh) Connect(timeout_ms);
      http::response_parser<ResBody> parser;
      parser.body_limit(boost::none);
      if (setup) setup(parser);
      if (Exchange(req, parser, timeout_ms)) {
        ClientResponse out;
        out.status = static_cast<int>(parser.get().result_int());
        for (const auto& f : parser.get()) {
          std::string name(f.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out.headers[name] = std::string(f.value());
        }
        if constexpr (std::is_same_v<ResBody, http::string_body>) {
          out.body = std::move(parser.get().body());
        }
        return out;
      }
      stream.reset();
      if (fresh) break;  // a fresh connection failed: the server is gone
    }
    throw Unavailable("lost connection to the Trainyard server at http://" + host + ":" + port);
  }
};

HttpClient::HttpClient(const std::string& base_url, std::string token)
    : impl_(std::make_unique<Impl>()) {
  std::string u = base_url;
  const std::string scheme = "http://";
  if (u.rfind(scheme, 0) != 0) {
    throw InvalidInput("server_url '" + base_url + "' must start with http://");
  }
  u = u.substr(scheme.size());
  while (!u.empty() && u.back() == '/') u.pop_back();
  auto colon = u.rfind(':');
  impl_->host = colon == std::string::npos ? u : u.substr(0, colon);
  impl_->port = colon == std::string::npos ? "80" : u.substr(colon + 1);
  impl_->token = std::move(token);
}

HttpClient::~HttpClient() = default;

ClientResponse HttpClient::Request(const std::string& method, const std::string& target,
                                   const std::string& body, const std::string& content_type,
                                   int timeout_ms) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.body() = body;
  impl_->Prepare(req, content_type);
  return impl_->Send<http::string_body, http::string_body>(req, timeout_ms, nullptr);
}

ClientResponse HttpClient::UploadFile(const std::string& method, const std::string& target,
                                      const std::string& path) {
  http::request<http::file_body> req{http::string_to_verb(method), target, 11};
  beast::error_code ec;
  req.body().open(path.c_str(), beast::file_mode::scan, ec);
  if (ec) throw NotFound("cannot open " + path + ": " + ec.message());
  impl_->Prepare(req, "application/octet-stream");
  return impl_->Send<http::file_body, http::string_body>(req, 600000, nullptr);
}

ClientResponse HttpClient::DownloadToFile(const std::string& target, const std::string& path) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  impl_->Prepare(req, "application/octet-stream");
  std::filesystem::path dest(path);
  if (dest.has_parent_path()) std::filesystem::create_directories(dest.parent_path());
  std::string tmp = path + ".part-" + RandomHex(4);
  ClientResponse r = impl_->Send<http::empty_body, http::file_body>(
      req, 600000, [&](http::response_parser<http::file_body>& p) {
        beast::error_code ec;
        p.get().body().open(tmp.c_str(), beast::file_mode::write, ec);
        if (ec) throw InternalError("cannot write " + tmp + ": " + ec.message());
      });
  if (r.status / 100 != 2) {
    r.body = ReadFile(tmp);
    std::filesystem::remove(tmp);
    return r;
  }
  std::filesystem::rename(tmp, dest);
  return r;
}

nlohmann::json HttpClient::Call(const std::string& method, const std::string& target,
                                const nlohmann::json& body) {
  ClientResponse r = Request(method, target, body.is_null() ? "" : body.dump());
  if (r.status / 100 != 2) ThrowHttpError(r);
  return r.body.empty() ? nlohmann::json() : r.Json();
}

void ThrowHttpError(const ClientResponse& r) {
  std::string code = "HttpError", message = "HTTP " + std::to_string(r.status);
  try {
    auto j = nlohmann::json::parse(r.body);
    code = j.at("error").at("code").get<std::string>();
    message = j.at("error").at("message").get<std::string>();
  } catch (const std::exception&) {
    if (!r.body.empty()) message += ": " + r.body.substr(0, 500);
  }
  throw Error(code, message, r.status);
}

}  // namespace trainyard
