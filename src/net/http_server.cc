#include "net/http_server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

HttpResponse DefaultError(const HttpRequest&, int status, const std::string& code,
                          const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string MiB(uint64_t bytes) {
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  return std::to_string(bytes) + " bytes";
}

// A request body written straight to a file descriptor as it arrives. A failed write is
// remembered (errno) so the server can tell a full disk from a dropped connection.
struct UploadBody {
  struct value_type {
    int fd = -1;
    int write_errno = 0;
    uint64_t size = 0;
    value_type() = default;
    value_type(const value_type&) = delete;
    value_type& operator=(const value_type&) = delete;
    value_type(value_type&& o) noexcept : fd(o.fd), write_errno(o.write_errno), size(o.size) {
      o.fd = -1;
    }
    value_type& operator=(value_type&& o) noexcept {
      if (this != &o) {
        Close();
        fd = o.fd;
        write_errno = o.write_errno;
        size = o.size;
        o.fd = -1;
      }
      return *this;
    }
    ~value_type() { Close(); }
    void Close() {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& b) : body_(b) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      size_t total = 0;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
           ++it) {
        asio::const_buffer b = *it;
        const char* p = static_cast<const char*>(b.data());
        size_t left = b.size();
        while (left > 0) {
          ssize_t w = ::write(body_.fd, p, left);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) {
            body_.write_errno = errno;
            ec = beast::error_code(errno, boost::system::system_category());
            return total;
          }
          p += w;
          left -= static_cast<size_t>(w);
          total += static_cast<size_t>(w);
          body_.size += static_cast<uint64_t>(w);
        }
      }
      ec = {};
      return total;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// A request the client sent wrong (as opposed to a connection that ended).
bool IsParseError(const beast::error_code& ec) {
  static const auto& cat = beast::error_code(http::error::end_of_stream).category();
  return ec.category() == cat && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

enum ConnState : int { kIdleUnauth = 0, kIdleAuth = 1, kBusy = 2, kShed = 3, kClosed = 4 };

// A streamed answer in flight on one connection. Touched on the connection's I/O thread,
// except `fn`, which one producer task at a time calls on a blocking thread.
struct StreamOut {
  std::function<bool(std::string&)> fn;
  HttpResponse head;     // status, content type, headers
  bool collect = false;  // no chunked sending (HTTP/1.0 client, no blocking runner): one piece
  bool head_sent = false;
  bool producing = false;  // a producer task is out
  bool writing = false;    // a write is out
  bool have_ready = false;
  bool more = true;                  // the producer has more after `ready`
  bool last = false;                 // the write out carries the terminating chunk
  bool failed = false;               // the producer threw after the head was sent
  std::string ready;                 // produced, not yet written
  std::string prefix, data, suffix;  // being written: [head] size line, piece, CRLF [0 CRLF CRLF]
};

class Conn;

}  // namespace

// Everything the connections share. Lives until the last responder that may post to an
// io_context is gone (responders hold it), so the io_contexts outlive every posted handler.
struct ServerCore : std::enable_shared_from_this<ServerCore> {
  HttpServerOptions opts;
  HttpServer::Admit admit;
  HttpServer::Handler handler;

  // Declared first: destroyed last, after every connection (whose sockets use them).
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> retry_timer;
  size_t next_io = 0;
  int max_conns = 0;
  std::atomic<bool> accepting{false};
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::condition_variable stopped_cv;
  bool stopped = false;
  // Open connections (strong references: a connection waiting for its handler's answer has no
  // pending I/O to keep it alive). Removed by the connection when it closes.
  std::list<std::shared_ptr<Conn>> conns;

  HttpResponse Error(const HttpRequest& head, int status, const std::string& code,
                     const std::string& message) const {
    if (opts.error_response) return opts.error_response(head, status, code, message);
    return DefaultError(head, status, code, message);
  }
  HttpResponse ExceptionResponse(std::exception_ptr e) const {
    if (opts.exception_response) return opts.exception_response(e);
    std::string what = "unknown error";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
    return Error(HttpRequest{}, 500, "InternalError", what);
  }
  void Accept();
  void OnAccepted(tcp::socket s);
  bool ShedOne();
  void Remove(std::list<std::shared_ptr<Conn>>::iterator it);
  void Stop();
};

namespace {

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(ServerCore* core, tcp::socket s) : core_(core), stream_(std::move(s)) {
    idle_since_ms.store(NowMs());
  }
  ~Conn() {
    if (!tmp_file_.empty()) ::unlink(tmp_file_.c_str());
  }

  std::list<std::shared_ptr<Conn>>::iterator self_it;
  std::atomic<int> state{kIdleUnauth};
  std::atomic<int64_t> idle_since_ms{0};

  // On the connection's own io_context thread (the accept handler runs on the acceptor's).
  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHead(); });
  }

  // From any thread: close this connection (shedding, server stop).
  void Abort() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

 private:
  void ReadHead() {
    head_.emplace();
    head_->header_limit(core_->opts.header_limit);
    head_->body_limit(std::numeric_limits<std::uint64_t>::max());  // decided after Admit
    req_ = HttpRequest{};
    body_unread_ = false;
    has_body_ = false;
    int expected = kBusy;
    state.compare_exchange_strong(expected, authed_ ? kIdleAuth : kIdleUnauth);
    if (expected != kBusy && expected != kIdleUnauth && expected != kIdleAuth) return Close();
    idle_since_ms.store(NowMs());
    stream_.expires_after(
        std::chrono::seconds(authed_ ? core_->opts.idle_seconds : core_->opts.unauth_idle_seconds));
    http::async_read_header(
        stream_, buf_, *head_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
  }

  void OnHead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit) {
        return Fail(
            431, "HeaderTooLarge",
            "the request head is over " + std::to_string(core_->opts.header_limit) + " bytes");
      }
      if (IsParseError(ec)) {
        return Fail(400, "BadRequest", "malformed HTTP request: " + ec.message());
      }
      return Close();  // closed by the client, idle limit, shed, server stop
    }
    int expected = state.load();
    if (expected == kShed || expected == kClosed ||
        !state.compare_exchange_strong(expected, kBusy)) {
      return Close();
    }
    stream_.expires_never();
    auto& h = head_->get();
    req_.method = std::string(h.method_string());
    req_.target = std::string(h.target());
    auto q = req_.target.find('?');
    req_.path = UrlDecode(std::string_view(req_.target).substr(0, q), false);
    if (q != std::string::npos)
      req_.query = ParseQuery(std::string_view(req_.target).substr(q + 1));
    for (const auto& f : h) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req_.headers[name] = std::string(f.value());
    }
    req_.received = Clock::now();
    keep_alive_ = h.keep_alive();
    version_ = h.version();
    has_body_ = !head_->is_done();
    body_unread_ = has_body_;

    HeadDecision d;
    try {
      d = core_->admit(req_);
    } catch (const std::exception& e) {
      return Fail(500, "InternalError", e.what());
    }
    if (d.authenticated) authed_ = true;
    if (d.reject) {
      if (has_body_) d.reject->close = true;
      return Write(std::move(*d.reject));
    }
    if (auto len = head_->content_length(); len && *len > d.body_limit) {
      return Fail(413, "PayloadTooLarge",
                  "the request body (" + std::to_string(*len) + " bytes) is over the limit of " +
                      MiB(d.body_limit) + " for " + req_.method + " " + req_.path);
    }
    body_limit_ = d.body_limit;
    if (!has_body_) return Dispatch();
    stream_file_ = d.stream_to_file;
    auto expect = h[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(std::chrono::seconds(core_->opts.io_seconds));
      asio::async_write(stream_, asio::buffer(kContinue, sizeof kContinue - 1),
                        [self = shared_from_this()](beast::error_code ec2, size_t) {
                          if (ec2) return self->Close();
                          self->StartBody();
                        });
      return;
    }
    StartBody();
  }

  void StartBody() {
    if (stream_file_) {
      fbody_.emplace(std::move(*head_));
      head_.reset();
      fbody_->body_limit(body_limit_);
      std::string path =
          (std::filesystem::path(core_->opts.upload_tmp_dir) / ("upload-" + RandomHex(8))).string();
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) return FailWrite(errno, "cannot create the upload temp file " + path);
      tmp_file_ = path;
      fbody_->get().body().fd = fd;
      ReadBody(*fbody_);
    } else {
      sbody_.emplace(std::move(*head_));
      head_.reset();
      sbody_->body_limit(body_limit_);
      ReadBody(*sbody_);
    }
  }

  template <class Parser>
  void ReadBody(Parser& p) {
    stream_.expires_after(std::chrono::seconds(core_->opts.io_seconds));
    http::async_read_some(
        stream_, buf_, p,
        [self = shared_from_this(), &p](beast::error_code ec, size_t) { self->OnBodyPart(p, ec); });
  }

  template <class Parser>
  void OnBodyPart(Parser& p, beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Fail(413, "PayloadTooLarge",
                  "the request body is over the limit of " + MiB(body_limit_) + " for " +
                      req_.method + " " + req_.path);
    }
    if (ec) {
      if (fbody_ && fbody_->get().body().write_errno != 0) {
        return FailWrite(fbody_->get().body().write_errno,
                         "cannot write the upload temp file " + tmp_file_);
      }
      if (IsParseError(ec)) {
        return Fail(400, "BadRequest", "malformed HTTP request body: " + ec.message());
      }
      return Close();
    }
    if (!p.is_done()) return ReadBody(p);
    stream_.expires_never();
    body_unread_ = false;
    if (fbody_) {
      fbody_->get().body().Close();
      fbody_.reset();
      req_.body_file = tmp_file_;
    } else {
      req_.body = std::move(sbody_->get().body());
      sbody_.reset();
    }
    Dispatch();
  }

  void Dispatch() {
    head_.reset();
    // What an error answer after the handler may need (the request itself goes to it).
    after_.method = req_.method;
    after_.target = req_.target;
    after_.path = req_.path;
    req_.can_stream = version_ >= 11 && static_cast<bool>(core_->opts.run_blocking);
    auto once = std::make_shared<std::atomic<bool>>(false);
    HttpRespond respond = [w = weak_from_this(), core = core_->shared_from_this(),
                           once](HttpResponse r) {
      if (once->exchange(true)) return;
      auto c = w.lock();
      if (!c) return;
      asio::dispatch(c->stream_.get_executor(),
                     [c, r = std::move(r)]() mutable { c->Write(std::move(r)); });
    };
    try {
      core_->handler(std::move(req_), respond);
    } catch (const std::exception& e) {
      respond(core_->Error(after_, 500, "InternalError", e.what()));
    }
  }

  void FailWrite(int err, const std::string& what) {
    if (err == ENOSPC || err == EDQUOT) {
      return Fail(507, "InsufficientStorage",
                  what + ": " + std::strerror(err) +
                      "; free space on the server's disk (its data directory) and retry");
    }
    Fail(500, "InternalError", what + ": " + std::strerror(err));
  }

  void Fail(int status, const std::string& code, const std::string& message) {
    HttpResponse r = core_->Error(req_, status, code, message);
    r.close = true;
    state.store(kBusy);
    Write(std::move(r));
  }

  void Write(HttpResponse r) {
    if (state.load() == kClosed) return;
    if (fbody_) fbody_->get().body().Close();  // a failed upload: free its space now
    if (!tmp_file_.empty()) {
      ::unlink(tmp_file_.c_str());  // a handler that kept the upload renamed it
      tmp_file_.clear();
    }
    keep_alive_ = keep_alive_ && !r.close && !body_unread_ && !core_->stopping.load();
    if (r.stream) return StartStream(std::move(r));
    if (!r.file_path.empty()) {
      auto m = std::make_shared<http::response<http::file_body>>(
          static_cast<http::status>(r.status), version_);
      beast::error_code ec;
      m->body().open(r.file_path.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        Decorate(*m, r);
        m->prepare_payload();
        m->keep_alive(keep_alive_);
        return WriteMessage(std::move(m));
      }
      r = core_->Error(after_, 404, "NotFound", "file vanished: " + r.file_path);
    }
    auto m = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    Decorate(*m, r);
    m->body() = std::move(r.body);
    m->prepare_payload();
    m->keep_alive(keep_alive_);
    WriteMessage(std::move(m));
  }

  template <class Message>
  void Decorate(Message& m, const HttpResponse& r) {
    if (!core_->opts.server_header.empty()) m.set(http::field::server, core_->opts.server_header);
    m.set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) m.set(k, v);
  }

  template <class Body>
  void WriteMessage(std::shared_ptr<http::response<Body>> m) {
    auto sr = std::make_shared<http::response_serializer<Body>>(*m);
    WriteSome(std::move(m), std::move(sr));
  }

  template <class Body>
  void WriteSome(std::shared_ptr<http::response<Body>> m,
                 std::shared_ptr<http::response_serializer<Body>> sr) {
    stream_.expires_after(std::chrono::seconds(core_->opts.io_seconds));
    auto& s = *sr;
    http::async_write_some(stream_, s,
                           [self = shared_from_this(), m = std::move(m), sr = std::move(sr)](
                               beast::error_code ec, size_t) mutable {
                             if (ec) return self->Close();
                             if (!sr->is_done())
                               return self->WriteSome(std::move(m), std::move(sr));
                             self->OnWritten();
                           });
  }

  // ----- streamed answers (HttpResponse::stream): chunked, one piece ahead of the socket -----

  void StartStream(HttpResponse r) {
    auto st = std::make_shared<StreamOut>();
    st->fn = std::move(r.stream);
    r.stream = nullptr;
    st->ready = std::move(r.body);
    r.body.clear();
    st->head = std::move(r);
    st->collect = version_ < 11 || !core_->opts.run_blocking;
    stream_out_ = st;
    if (!st->ready.empty() && !st->collect) {
      st->have_ready = true;
      return WriteNextPiece(st);
    }
    Produce(st);
  }

  void Produce(const std::shared_ptr<StreamOut>& st) {
    st->producing = true;
    std::string start = st->collect ? std::move(st->ready) : std::string();
    auto task = [w = weak_from_this(), core = core_->shared_from_this(), st,
                 start = std::move(start)]() mutable {
      (void)core;  // held: the connection's io_context outlives this task
      auto self = w.lock();
      if (!self || self->state.load() == kClosed) return;
      std::string piece = std::move(start);
      bool more = true;
      std::exception_ptr err;
      try {
        while (more && (st->collect || piece.size() < kStreamPieceBytes)) more = st->fn(piece);
      } catch (...) {
        err = std::current_exception();
      }
      auto ex = self->stream_.get_executor();
      asio::dispatch(ex, [self = std::move(self), st, piece = std::move(piece), more,
                          err]() mutable { self->OnPiece(st, std::move(piece), more, err); });
    };
    if (!core_->opts.run_blocking) return task();
    if (!core_->opts.run_blocking(std::move(task))) {
      st->producing = false;
      Close();
    }
  }

  void OnPiece(const std::shared_ptr<StreamOut>& st, std::string piece, bool more,
               std::exception_ptr err) {
    st->producing = false;
    if (state.load() == kClosed || stream_out_ != st) return;
    if (err) {
      // After the head: no terminator, so the client sees a truncated answer (what was
      // produced before the failure is still delivered).
      if (st->head_sent) {
        st->failed = true;
        if (!st->writing) Close();
        return;
      }
      stream_out_.reset();
      return Write(core_->ExceptionResponse(err));
    }
    if (!st->head_sent && !more) {  // the whole answer in one piece: an ordinary answer
      HttpResponse r = std::move(st->head);
      r.body = std::move(piece);
      stream_out_.reset();
      return Write(std::move(r));
    }
    st->ready = std::move(piece);
    st->have_ready = true;
    st->more = more;
    if (!st->writing) WriteNextPiece(st);
  }

  void WriteNextPiece(const std::shared_ptr<StreamOut>& st) {
    st->prefix.clear();
    if (!st->head_sent) {
      http::response<http::empty_body> m(static_cast<http::status>(st->head.status), version_);
      Decorate(m, st->head);
      m.chunked(true);
      m.keep_alive(keep_alive_);
      std::ostringstream os;
      os << m.base();
      st->prefix = os.str();
      st->head_sent = true;
    }
    st->data = std::move(st->ready);
    st->ready = std::string();
    st->have_ready = false;
    st->suffix.clear();
    if (!st->data.empty()) {  // an empty chunk would end the answer
      char line[24];
      int n = std::snprintf(line, sizeof line, "%zx\r\n", st->data.size());
      st->prefix.append(line, static_cast<size_t>(n));
      st->suffix = "\r\n";
    }
    st->last = !st->more;
    if (st->last) st->suffix += "0\r\n\r\n";
    st->writing = true;
    stream_.expires_after(std::chrono::seconds(core_->opts.io_seconds));
    std::array<asio::const_buffer, 3> bufs{asio::buffer(st->prefix), asio::buffer(st->data),
                                           asio::buffer(st->suffix)};
    asio::async_write(stream_, bufs, [self = shared_from_this(), st](beast::error_code ec, size_t) {
      self->OnPieceWritten(st, ec);
    });
    if (st->more && !st->producing) Produce(st);  // the next piece while this one is sent
  }

  void OnPieceWritten(const std::shared_ptr<StreamOut>& st, beast::error_code ec) {
    st->writing = false;
    std::string().swap(st->data);
    if (ec) return Close();
    if (state.load() == kClosed || stream_out_ != st) return;
    if (st->failed) return Close();
    if (st->last) {
      stream_out_.reset();
      return OnWritten();
    }
    if (st->have_ready) return WriteNextPiece(st);
    if (!st->producing) Produce(st);
  }

  void OnWritten() {
    stream_.expires_never();
    if (!keep_alive_) return body_unread_ ? Linger() : Close();
    ReadHead();
  }

  // Ends a connection whose request body was not read: closing with unread bytes would reset
  // the connection and could destroy the answer before the client reads it, so stop sending,
  // discard what the client still sends (linger_seconds at most; nothing is kept), then close.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    buf_.consume(buf_.size());
    linger_until_ = Clock::now() + std::chrono::seconds(core_->opts.linger_seconds);
    LingerRead();
  }

  void LingerRead() {
    auto now = Clock::now();
    if (now >= linger_until_) return Close();
    stream_.expires_at(std::min(linger_until_, now + std::chrono::seconds(2)));
    if (scratch_.empty()) scratch_.resize(64 * 1024);
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->LingerRead();
                            });
  }

  void Close() {
    if (state.exchange(kClosed) == kClosed) return;
    stream_out_.reset();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    if (fbody_) fbody_->get().body().Close();
    if (!tmp_file_.empty()) {
      ::unlink(tmp_file_.c_str());
      tmp_file_.clear();
    }
    // The parsers stay: a cancelled operation still refers to them until its handler runs.
    core_->Remove(self_it);
  }

  ServerCore* core_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::empty_body>> head_;
  std::optional<http::request_parser<http::string_body>> sbody_;
  std::optional<http::request_parser<UploadBody>> fbody_;
  HttpRequest req_;
  HttpRequest after_;
  std::shared_ptr<StreamOut> stream_out_;
  std::string tmp_file_;
  std::vector<char> scratch_;
  Clock::time_point linger_until_;
  uint64_t body_limit_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool authed_ = false;
  bool has_body_ = false;
  bool body_unread_ = false;
  bool stream_file_ = false;
};

}  // namespace

void ServerCore::Accept() {
  if (!accepting.load()) return;
  asio::io_context& target = *ios[next_io++ % ios.size()];
  acceptor->async_accept(target, [this](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !accepting.load()) return;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE ||
          ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
        // Out of descriptors: make room by closing the longest-idle unauthenticated
        // connection, and try again shortly.
        ShedOne();
        retry_timer->expires_after(std::chrono::milliseconds(20));
        retry_timer->async_wait([this](beast::error_code ec2) {
          if (!ec2) Accept();
        });
        return;
      }
      return Accept();
    }
    OnAccepted(std::move(s));
    Accept();
  });
}

void ServerCore::OnAccepted(tcp::socket s) {
  beast::error_code ec;
  // Processes the server starts (agents, services) must not inherit connections.
  ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);
  s.set_option(tcp::no_delay(true), ec);
  size_t n;
  {
    std::lock_guard lk(mu);
    n = conns.size();
  }
  if (static_cast<int64_t>(n) >= max_conns && !ShedOne()) {
    // Every connection is busy: answer 503 (a few hundred bytes into an empty socket buffer:
    // the write does not block) and close.
    HttpResponse r =
        Error(HttpRequest{}, 503, "Unavailable",
              "the server has " + std::to_string(n) + " connections open, all busy; retry later");
    std::string text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + r.content_type +
                       "\r\nContent-Length: " + std::to_string(r.body.size()) +
                       "\r\nConnection: close\r\n\r\n" + r.body;
    s.non_blocking(true, ec);
    asio::write(s, asio::buffer(text), ec);
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
    return;
  }
  auto c = std::make_shared<Conn>(this, std::move(s));
  {
    std::lock_guard lk(mu);
    conns.push_back(c);
    c->self_it = std::prev(conns.end());
  }
  c->Start();
}

bool ServerCore::ShedOne() {
  std::lock_guard lk(mu);
  for (int want : {kIdleUnauth, kIdleAuth}) {
    std::shared_ptr<Conn> best;
    int64_t best_since = std::numeric_limits<int64_t>::max();
    for (auto& c : conns) {
      if (c->state.load() != want) continue;
      int64_t since = c->idle_since_ms.load();
      if (since < best_since) {
        best_since = since;
        best = c;
      }
    }
    if (best) {
      int expected = want;
      if (!best->state.compare_exchange_strong(expected, kShed)) continue;
      best->Abort();
      return true;
    }
  }
  return false;
}

void ServerCore::Remove(std::list<std::shared_ptr<Conn>>::iterator it) {
  std::shared_ptr<Conn> keep;  // released after the lock
  std::lock_guard lk(mu);
  keep = std::move(*it);
  conns.erase(it);
}

void ServerCore::Stop() {
  if (stopping.exchange(true)) {
    std::unique_lock lk(mu);
    stopped_cv.wait(lk, [this] { return stopped; });
    return;
  }
  accepting.store(false);
  if (acceptor) {
    asio::post(acceptor->get_executor(), [this] {
      beast::error_code ec;
      acceptor->close(ec);
      retry_timer->cancel();
    });
  }
  {
    std::lock_guard lk(mu);
    for (auto& c : conns) c->Abort();
  }
  work.clear();
  // Let the closes run, then stop whatever is left (linger reads, writes in flight).
  auto deadline = Clock::now() + std::chrono::milliseconds(500);
  for (;;) {
    {
      std::lock_guard lk(mu);
      if (conns.empty()) break;
    }
    if (Clock::now() > deadline || threads.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& io : ios) io->stop();
  for (auto& t : threads) t.join();
  threads.clear();
  std::list<std::shared_ptr<Conn>> rest;
  {
    std::lock_guard lk(mu);
    rest.swap(conns);
  }
  rest.clear();  // sockets closed here, while their io_contexts exist
  if (acceptor) {
    beast::error_code ec;
    acceptor->close(ec);
  }
  std::lock_guard lk(mu);
  stopped = true;
  stopped_cv.notify_all();
}

struct HttpServer::Impl {
  std::shared_ptr<ServerCore> core;
};

HttpServer::HttpServer(HttpServerOptions opts, Admit admit, Handler handler)
    : impl_(std::make_shared<Impl>()) {
  auto core = std::make_shared<ServerCore>();
  int threads = opts.io_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  }
  core->opts = std::move(opts);
  core->admit = std::move(admit);
  core->handler = std::move(handler);
  for (int i = 0; i < threads; ++i) core->ios.push_back(std::make_unique<asio::io_context>(1));
  core->acceptor = std::make_unique<tcp::acceptor>(*core->ios[0]);
  core->retry_timer = std::make_unique<asio::steady_timer>(*core->ios[0]);
  if (core->opts.max_connections > 0) {
    core->max_conns = core->opts.max_connections;
  } else {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    int64_t nofile = rl.rlim_cur == RLIM_INFINITY ? (1 << 20) : static_cast<int64_t>(rl.rlim_cur);
    // Keep a reserve for files, SQLite, pipes to children.
    int64_t reserve = std::max<int64_t>(128, nofile / 8);
    core->max_conns = static_cast<int>(std::max<int64_t>(16, nofile - reserve));
  }
  impl_->core = std::move(core);
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::Listen() {
  auto& c = *impl_->core;
  beast::error_code ec;
  auto addr = asio::ip::make_address(c.opts.host, ec);
  if (ec) throw InvalidInput("cannot listen on '" + c.opts.host + "': not an IP address");
  tcp::endpoint ep(addr, c.opts.port);
  c.acceptor->open(ep.protocol());
  c.acceptor->set_option(asio::socket_base::reuse_address(true));
  c.acceptor->bind(ep, ec);
  if (ec) {
    throw Error(
        "AddressInUse",
        "cannot listen on " + c.opts.host + ":" + std::to_string(c.opts.port) + ": " + ec.message(),
        500);
  }
  c.acceptor->listen(asio::socket_base::max_listen_connections);
  // Processes the server starts (agents) must not inherit the listening socket, or a restarted
  // server could not bind its port while they run.
  ::fcntl(c.acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
  return c.acceptor->local_endpoint().port();
}

void HttpServer::Start() {
  auto& c = *impl_->core;
  if (c.accepting.exchange(true) || c.stopping.load()) return;
  for (auto& io : c.ios) c.work.push_back(asio::make_work_guard(*io));
  asio::post(*c.ios[0], [core = impl_->core.get()] { core->Accept(); });
  for (auto& io : c.ios) c.threads.emplace_back([ioc = io.get()] { ioc->run(); });
}

void HttpServer::Serve() {
  Start();
  auto& c = *impl_->core;
  std::unique_lock lk(c.mu);
  c.stopped_cv.wait(lk, [&] { return c.stopped; });
}

void HttpServer::StopAccepting() {
  auto& c = *impl_->core;
  c.accepting.store(false);
  asio::post(c.acceptor->get_executor(), [core = impl_->core.get()] {
    beast::error_code ec;
    core->acceptor->close(ec);
  });
}

void HttpServer::Stop() { impl_->core->Stop(); }

int HttpServer::max_connections() const { return impl_->core->max_conns; }

size_t HttpServer::connections() const {
  std::lock_guard lk(impl_->core->mu);
  return impl_->core->conns.size();
}

uint64_t RaiseFileLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rlim_t want = rl.rlim_max;
  if (want == RLIM_INFINITY) {
    want = 1 << 20;
    std::ifstream nr("/proc/sys/fs/nr_open");
    uint64_t v = 0;
    if (nr >> v && v > 0) want = static_cast<rlim_t>(v);
  }
  if (want > rl.rlim_cur) {
    rlimit next = rl;
    next.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &next) == 0) rl = next;
  }
  return rl.rlim_cur == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                                      : static_cast<uint64_t>(rl.rlim_cur);
}

// ----- BlockingHandlerPool -----

struct BlockingHandlerPool::Impl {
  struct Job {
    std::function<void()> task;  // Post(): run it, no request
    HttpRequest req;
    HttpRespond respond;
    bool last = false;  // deadline passed or stopping: answer whatever the handler says
  };

  Fn fn;
  OnError on_error;
  std::mutex stop_mu;
  mutable std::mutex mu;
  std::condition_variable cv;        // workers
  std::condition_variable timer_cv;  // the deadline thread
  std::deque<std::shared_ptr<Job>> queue;
  std::multimap<Clock::time_point, std::shared_ptr<Job>> parked;
  uint64_t generation = 0;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::thread deadlines;

  void Worker() {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      auto job = std::move(queue.front());
      queue.pop_front();
      if (job->task) {
        lk.unlock();
        try {
          job->task();
        } catch (...) {  // a task reports its own failures; never let one end the worker
        }
        job.reset();
        lk.lock();
        continue;
      }
      const uint64_t gen = generation;
      job->req.can_defer = !job->last && !stopping;
      lk.unlock();
      HttpResponse res;
      try {
        fn(job->req, res);
      } catch (...) {
        res = on_error(std::current_exception());
      }
      if (res.defer_until && job->req.can_defer) {
        lk.lock();
        if (stopping) {
          job->last = true;
          queue.push_back(std::move(job));
        } else if (generation != gen) {
          queue.push_back(std::move(job));  // something changed while it ran: look again
        } else {
          parked.emplace(*res.defer_until, std::move(job));
          timer_cv.notify_one();
        }
        continue;
      }
      res.defer_until.reset();
      if (res.stream) {  // the first piece here: a short stream becomes an ordinary answer
        try {
          bool more = true;
          while (more && res.body.size() < kStreamPieceBytes) more = res.stream(res.body);
          if (!more) res.stream = nullptr;
        } catch (...) {
          res = on_error(std::current_exception());
        }
      }
      job->respond(std::move(res));
      job.reset();
      lk.lock();
    }
  }

  void Deadlines() {
    std::unique_lock lk(mu);
    while (!stopping) {
      if (parked.empty()) {
        timer_cv.wait(lk);
        continue;
      }
      auto first = parked.begin()->first;
      if (Clock::now() < first) {
        timer_cv.wait_until(lk, first);
        continue;
      }
      auto now = Clock::now();
      bool any = false;
      while (!parked.empty() && parked.begin()->first <= now) {
        auto job = std::move(parked.begin()->second);
        parked.erase(parked.begin());
        job->last = true;
        queue.push_back(std::move(job));
        any = true;
      }
      if (any) cv.notify_all();
    }
  }
};

BlockingHandlerPool::BlockingHandlerPool(int threads, Fn fn, OnError on_error)
    : impl_(std::make_shared<Impl>()) {
  impl_->fn = std::move(fn);
  impl_->on_error = std::move(on_error);
  for (int i = 0; i < std::max(1, threads); ++i) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->Worker(); });
  }
  impl_->deadlines = std::thread([impl = impl_.get()] { impl->Deadlines(); });
}

BlockingHandlerPool::~BlockingHandlerPool() { Stop(); }

HttpServer::Handler BlockingHandlerPool::handler() {
  return [impl = impl_](HttpRequest req, HttpRespond respond) {
    std::unique_lock lk(impl->mu);
    if (impl->stopping) {
      lk.unlock();
      respond(DefaultError(req, 503, "Unavailable", "the server is stopping"));
      return;
    }
    auto job = std::make_shared<Impl::Job>();
    job->req = std::move(req);
    job->respond = std::move(respond);
    impl->queue.push_back(std::move(job));
    impl->cv.notify_one();
  };
}

bool BlockingHandlerPool::Post(std::function<void()> task) {
  std::lock_guard lk(impl_->mu);
  if (impl_->stopping) return false;
  auto job = std::make_shared<Impl::Job>();
  job->task = std::move(task);
  impl_->queue.push_back(std::move(job));
  impl_->cv.notify_one();
  return true;
}

void BlockingHandlerPool::Wake() {
  std::lock_guard lk(impl_->mu);
  ++impl_->generation;
  if (impl_->parked.empty()) return;
  for (auto& [t, job] : impl_->parked) impl_->queue.push_back(std::move(job));
  impl_->parked.clear();
  impl_->cv.notify_all();
}

void BlockingHandlerPool::Stop() {
  std::lock_guard stop_lk(impl_->stop_mu);  // one joiner; later callers wait for it
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopping && impl_->workers.empty()) return;
    impl_->stopping = true;
    for (auto& [t, job] : impl_->parked) {
      job->last = true;
      impl_->queue.push_back(std::move(job));
    }
    impl_->parked.clear();
  }
  impl_->cv.notify_all();
  impl_->timer_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  if (impl_->deadlines.joinable()) impl_->deadlines.join();
}

size_t BlockingHandlerPool::parked() const {
  std::lock_guard lk(impl_->mu);
  return impl_->parked.size();
}

}  // namespace trainyard
