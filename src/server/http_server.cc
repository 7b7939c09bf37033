#include "server/http_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string ErrorJson(const std::string& code, const std::string& message) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  return j.dump();
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions opts;
  Handler handler;
  StreamPredicate stream_upload;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;
  // Connection fd -> last activity; used to close idle keep-alive connections and on Stop().
  std::map<int, std::chrono::steady_clock::time_point> conns;
  std::thread janitor;

  void Session(std::unique_ptr<tcp::socket> sock);
  bool HandleOne(tcp::socket& sock, beast::flat_buffer& buf);
  void Touch(int fd) {
    std::lock_guard lk(mu);
    conns[fd] = std::chrono::steady_clock::now();
  }
  void JanitorLoop();
};

template <class Body>
static void FillRequest(const http::request<Body>& r, HttpRequest& out) {
  out.method = std::string(r.method_string());
  out.target = std::string(r.target());
  auto q = out.target.find('?');
  out.path = UrlDecode(std::string_view(out.target).substr(0, q), false);
  if (q != std::string::npos) out.query = ParseQuery(std::string_view(out.target).substr(q + 1));
  for (const auto& f : r) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
}

bool HttpServer::Impl::HandleOne(tcp::socket& sock, beast::flat_buffer& buf) {
  beast::error_code ec;
  http::request_parser<http::empty_body> hp;
  hp.header_limit(64 * 1024);
  hp.body_limit(opts.upload_limit);
  http::read_header(sock, buf, hp, ec);
  if (ec) return false;
  Touch(sock.native_handle());

  HttpRequest req;
  HttpResponse res;
  unsigned version = hp.get().version();
  bool keep_alive = hp.get().keep_alive();
  std::string method(hp.get().method_string());
  std::string target(hp.get().target());
  std::string path = UrlDecode(std::string_view(target).substr(0, target.find('?')), false);
  std::string tmp_file;
  bool read_ok = true;
  bool too_large = false;
  const bool streamed = stream_upload && stream_upload(method, path);
  const uint64_t limit = streamed ? opts.upload_limit : opts.body_limit;

  if (hp.content_length() && *hp.content_length() > limit) {
    // Refuse without storing the body. Bodies up to 256 MiB are drained first so the client
    // reads the 413 instead of a connection reset; the connection is closed after the answer.
    too_large = true;
    FillRequest(hp.get(), req);
    uint64_t remaining = *hp.content_length();
    if (remaining <= (256ull << 20)) {
      remaining -= std::min<uint64_t>(remaining, buf.size());
      buf.consume(buf.size());
      char scratch[65536];
      while (remaining > 0) {
        size_t n = sock.read_some(
            asio::buffer(scratch, std::min<uint64_t>(remaining, sizeof scratch)), ec);
        if (ec) break;
        remaining -= n;
      }
    }
  } else if (streamed) {
    http::request_parser<http::file_body> fp(std::move(hp));
    fp.body_limit(opts.upload_limit);
    tmp_file = (std::filesystem::path(opts.upload_tmp_dir) / ("upload-" + RandomHex(8))).string();
    fp.get().body().open(tmp_file.c_str(), beast::file_mode::write, ec);
    if (ec) throw InternalError("cannot open upload temp file: " + ec.message());
    http::read(sock, buf, fp, ec);
    fp.get().body().close();
    if (ec == http::error::body_limit)
      too_large = true;
    else if (ec)
      read_ok = false;
    FillRequest(fp.get(), req);
    req.body_file = tmp_file;
  } else {
    http::request_parser<http::string_body> sp(std::move(hp));
    sp.body_limit(opts.body_limit);
    http::read(sock, buf, sp, ec);
    if (ec == http::error::body_limit)
      too_large = true;
    else if (ec)
      read_ok = false;
    FillRequest(sp.get(), req);
    req.body = std::move(sp.get().body());
  }
  if (!read_ok) {
    if (!tmp_file.empty()) ::unlink(tmp_file.c_str());
    return false;
  }
  Touch(sock.native_handle());

  if (too_large) {
    res.status = 413;
    res.body = ErrorJson("PayloadTooLarge", "request body exceeds the limit of " +
                                                std::to_string(limit >> 20) + " MiB");
    keep_alive = false;
  } else {
    try {
      handler(req, res);
    } catch (const Error& e) {
      res = HttpResponse{};
      res.status = e.http_status();
      res.body = ErrorJson(e.code(), e.what());
    } catch (const nlohmann::json::exception& e) {
      res = HttpResponse{};
      res.status = 400;
      res.body = ErrorJson("InvalidJson", std::string("malformed or mistyped JSON: ") + e.what());
    } catch (const std::exception& e) {
      res = HttpResponse{};
      res.status = 500;
      res.body = ErrorJson("InternalError", e.what());
    }
  }
  if (!tmp_file.empty()) ::unlink(tmp_file.c_str());  // handler renamed it if it kept it

  if (!res.file_path.empty()) {
    http::response<http::file_body> r{static_cast<http::status>(res.status), version};
    r.body().open(res.file_path.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      http::response<http::string_body> nf{http::status::not_found, version};
      nf.set(http::field::content_type, "application/json");
      nf.body() = ErrorJson("NotFound", "file vanished: " + res.file_path);
      nf.prepare_payload();
      nf.keep_alive(keep_alive);
      http::write(sock, nf, ec);
      return !ec && keep_alive;
    }
    r.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) r.set(k, v);
    r.prepare_payload();
    r.keep_alive(keep_alive);
    http::write(sock, r, ec);
  } else {
    http::response<http::string_body> r{static_cast<http::status>(res.status), version};
    r.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) r.set(k, v);
    r.body() = std::move(res.body);
    r.prepare_payload();
    r.keep_alive(keep_alive);
    http::write(sock, r, ec);
  }
  Touch(sock.native_handle());
  return !ec && keep_alive;
}

void HttpServer::Impl::Session(std::unique_ptr<tcp::socket> sock) {
  int fd = sock->native_handle();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  sock->set_option(tcp::no_delay(true));
  beast::flat_buffer buf;
  try {
    while (!stopping && HandleOne(*sock, buf)) {
    }
  } catch (const std::exception&) {
    // Connection-level failure: drop the connection.
  }
  beast::error_code ec;
  sock->shutdown(tcp::socket::shutdown_both, ec);
  sock->close(ec);
  sock.reset();  // the socket uses io's services: gone before the server may be destroyed
  // Erase and notify under the lock: once it is released this thread touches nothing of Impl.
  std::lock_guard lk(mu);
  conns.erase(fd);
  cv.notify_all();
}

void HttpServer::Impl::JanitorLoop() {
  std::unique_lock lk(mu);
  while (!stopping) {
    cv.wait_for(lk, std::chrono::seconds(5));
    auto now = std::chrono::steady_clock::now();
    for (auto& [fd, last] : conns) {
      if (now - last > std::chrono::seconds(opts.idle_timeout_seconds)) ::shutdown(fd, SHUT_RD);
    }
  }
}

HttpServer::HttpServer(HttpServerOptions opts, Handler handler, StreamPredicate stream_upload)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->handler = std::move(handler);
  impl_->stream_upload = std::move(stream_upload);
}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->janitor.joinable()) impl_->janitor.join();
  // Detached session threads use Impl until they erase themselves from conns.
  std::unique_lock lk(impl_->mu);
  for (auto& [fd, t] : impl_->conns) ::shutdown(fd, SHUT_RDWR);
  impl_->cv.wait(lk, [this] { return impl_->conns.empty(); });
}

uint16_t HttpServer::Listen() {
  auto addr = asio::ip::make_address(impl_->opts.host);
  tcp::endpoint ep(addr, impl_->opts.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  beast::error_code ec;
  impl_->acceptor.bind(ep, ec);
  if (ec) {
    throw Error("AddressInUse",
                "cannot listen on " + impl_->opts.host + ":" + std::to_string(impl_->opts.port) +
                    ": " + ec.message(),
                500);
  }
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  // Processes the server starts (agents) must not inherit the listening socket, or a restarted
  // server could not bind its port while they run.
  ::fcntl(impl_->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  impl_->janitor = std::thread([this] { impl_->JanitorLoop(); });
  return impl_->acceptor.local_endpoint().port();
}

void HttpServer::Serve() {
  while (!impl_->stopping) {
    beast::error_code ec;
    auto sock = std::make_unique<tcp::socket>(impl_->io);
    impl_->acceptor.accept(*sock, ec);
    if (ec) {
      if (impl_->stopping) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    {
      std::lock_guard lk(impl_->mu);
      if (static_cast<int>(impl_->conns.size()) >= impl_->opts.max_connections) {
        // Over capacity: answer 503 and close.
        http::response<http::string_body> r{http::status::service_unavailable, 11};
        r.set(http::field::content_type, "application/json");
        r.body() = ErrorJson("Unavailable", "too many connections; retry later");
        r.prepare_payload();
        r.keep_alive(false);
        http::write(*sock, r, ec);
        continue;
      }
      impl_->conns[sock->native_handle()] = std::chrono::steady_clock::now();
    }
    std::thread([this, s = std::move(sock)]() mutable { impl_->Session(std::move(s)); }).detach();
  }
  // Wait for sessions to finish (they are told to close below).
  std::unique_lock lk(impl_->mu);
  for (auto& [fd, t] : impl_->conns) ::shutdown(fd, SHUT_RDWR);
  impl_->cv.wait_for(lk, std::chrono::seconds(5), [this] { return impl_->conns.empty(); });
}

void HttpServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->cv.notify_all();
}

}  // namespace trainyard
