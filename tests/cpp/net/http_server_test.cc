// The shared event-driven HTTP server over real loopback sockets: admission on the head before
// any body byte, per-route caps, idle limits, shedding of idle connections, streamed uploads,
// a full disk, long polls parked without a worker thread.
#include "net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Reads one response (head + Content-Length body); "" on close or timeout.
std::string ReadResponse(int fd, int timeout_ms = 5000) {
  std::string got;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto hdr_end = got.find("\r\n\r\n");
    if (hdr_end != std::string::npos) {
      size_t len = 0;
      auto cl = got.find("Content-Length: ");
      if (cl == std::string::npos) cl = got.find("content-length: ");
      if (cl != std::string::npos && cl < hdr_end) len = std::stoul(got.substr(cl + 16));
      if (got.size() >= hdr_end + 4 + len) return got.substr(0, hdr_end + 4 + len);
    }
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return "";
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got.find("\r\n\r\n") == std::string::npos ? "" : got;
    got.append(buf, static_cast<size_t>(n));
  }
}

int StatusOf(const std::string& response) {
  if (response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

// True when the server closed the connection within `timeout_ms`.
bool ClosedWithin(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions o = {}) {
    tmp_ = fs::temp_directory_path() / ("httpservertest-" + RandomHex(6));
    fs::create_directories(tmp_);
    if (o.upload_tmp_dir.empty()) o.upload_tmp_dir = tmp_.string();
    server_ = std::make_unique<HttpServer>(
        o,
        [this](const HttpRequest& head) {
          HeadDecision d;
          if (head.path == "/open") return d;
          const std::string authz = head.Header("authorization");
          auto tok = BearerToken(authz);
          if (!tok || !SecretEquals(*tok, "secret")) {
            HttpResponse r;
            r.status = 401;
            r.body = "{\"error\": \"token\"}";
            d.reject = r;
            return d;
          }
          d.authenticated = true;
          d.body_limit = head.path == "/upload" ? (64ull << 20) : 1024;
          d.stream_to_file = head.path == "/upload";
          return d;
        },
        [this](HttpRequest req, HttpRespond respond) {
          handled_++;
          HttpResponse r;
          if (!req.body_file.empty()) {
            r.body = std::to_string(fs::file_size(req.body_file)) + " " + ReadFile(req.body_file);
          } else if (req.path == "/file") {
            r.file_path = file_.string();
          } else {
            r.body = req.method + " " + req.path + " " + req.body;
          }
          respond(std::move(r));
        });
    port_ = server_->Listen();
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  std::string Request(const std::string& text) {
    int fd = Connect(port_);
    SendAll(fd, text);
    std::string r = ReadResponse(fd);
    ::close(fd);
    return r;
  }

  fs::path tmp_;
  fs::path file_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> handled_{0};
};

TEST_F(HttpServerTest, UnauthenticatedHeadIsRefusedBeforeAnyBodyByte) {
  StartServer();
  int fd = Connect(port_);
  // Only the head of a 60 MB upload: the answer must come without a single body byte sent.
  SendAll(fd, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n");
  std::string r = ReadResponse(fd, 3000);
  EXPECT_EQ(StatusOf(r), 401) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(ClosedWithin(fd, 7000));  // linger ends, nothing was read into a handler
  ::close(fd);
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_TRUE(fs::is_empty(tmp_));  // no temp upload was created
}

TEST_F(HttpServerTest, BearerSchemeIsCaseInsensitive) {
  StartServer();
  for (const char* scheme : {"Bearer", "bearer", "BEARER"}) {
    std::string r = Request(std::string("GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: ") + scheme +
                            " secret\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 200) << scheme << ": " << r;
  }
  EXPECT_EQ(StatusOf(Request("GET /x HTTP/1.1\r\nAuthorization: Basic secret\r\n\r\n")), 401);
  EXPECT_EQ(StatusOf(Request("GET /x HTTP/1.1\r\nAuthorization: Bearersecret\r\n\r\n")), 401);
}

TEST_F(HttpServerTest, BodyOverTheRouteCapIs413BeforeItIsRead) {
  StartServer();
  int fd = Connect(port_);
  SendAll(fd,
          "POST /json HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 5000\r\n\r\n");
  std::string r = ReadResponse(fd, 3000);
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("1024 bytes"), std::string::npos) << r;
  ::close(fd);
  // Chunked bodies are cut at the cap too.
  std::string chunk(2000, 'a');
  r = Request(
      "POST /json HTTP/1.1\r\nAuthorization: Bearer secret\r\nTransfer-Encoding: chunked\r\n\r\n" +
      std::string("7d0\r\n") + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 413) << r;
  // Under the cap: handled, and the connection stays usable (keep-alive).
  fd = Connect(port_);
  for (int i = 0; i < 3; ++i) {
    SendAll(
        fd,
        "POST /json HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 5\r\n\r\nhello");
    r = ReadResponse(fd);
    EXPECT_EQ(StatusOf(r), 200) << r;
    EXPECT_NE(r.find("POST /json hello"), std::string::npos) << r;
  }
  ::close(fd);
  EXPECT_EQ(handled_.load(), 3);
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredOnlyWhenAdmitted) {
  StartServer();
  int fd = Connect(port_);
  SendAll(fd, "PUT /upload HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
  std::string r = ReadResponse(fd, 3000);
  EXPECT_EQ(StatusOf(r), 401) << r;
  ::close(fd);
  fd = Connect(port_);
  SendAll(fd,
          "PUT /upload HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 10\r\n"
          "Expect: 100-continue\r\n\r\n");
  r = ReadResponse(fd, 3000);
  EXPECT_EQ(StatusOf(r), 100) << r;
  SendAll(fd, "0123456789");
  r = ReadResponse(fd, 3000);
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("10 0123456789"), std::string::npos) << r;
  ::close(fd);
}

TEST_F(HttpServerTest, StreamedUploadAndFileResponse) {
  StartServer();
  file_ = tmp_ / "served.bin";
  std::string big(3 << 20, 'z');
  std::ofstream(file_, std::ios::binary) << big;
  std::string body(5 << 20, 'q');
  std::string r =
      Request("PUT /upload HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(StatusOf(r), 200) << r.substr(0, 200);
  EXPECT_NE(r.find(std::to_string(body.size()) + " qqqq"), std::string::npos);
  r = Request("GET /file HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n");
  ASSERT_EQ(StatusOf(r), 200);
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), big);
  // The temp upload was removed after the answer (the handler did not keep it).
  for (auto& e : fs::directory_iterator(tmp_)) {
    EXPECT_EQ(e.path().filename().string().rfind("upload-", 0), std::string::npos) << e.path();
  }
}

TEST_F(HttpServerTest, UnauthenticatedIdleConnectionsAreClosedAuthenticatedOnesKept) {
  HttpServerOptions o;
  o.unauth_idle_seconds = 1;
  o.idle_seconds = 30;
  StartServer(o);
  int idle = Connect(port_);
  int half = Connect(port_);
  SendAll(half, "GET /x HTTP/1.1\r\nHost: x\r\n");  // a head never finished (slowloris)
  int open_only = Connect(port_);  // answered without credentials: still unauthenticated
  SendAll(open_only, "GET /open HTTP/1.1\r\n\r\n");
  EXPECT_EQ(StatusOf(ReadResponse(open_only)), 200);
  int authed = Connect(port_);
  SendAll(authed, "GET /x HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n");
  EXPECT_EQ(StatusOf(ReadResponse(authed)), 200);
  auto t0 = Clock::now();
  EXPECT_TRUE(ClosedWithin(idle, 4000));
  EXPECT_TRUE(ClosedWithin(half, 4000));
  EXPECT_TRUE(ClosedWithin(open_only, 4000));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(4));
  EXPECT_FALSE(ClosedWithin(authed, 1500));  // kept past the unauthenticated limit
  SendAll(authed, "GET /y HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n");
  EXPECT_EQ(StatusOf(ReadResponse(authed)), 200);
  for (int fd : {idle, half, open_only, authed}) ::close(fd);
}

TEST_F(HttpServerTest, IdleConnectionsAtTheLimitAreShedNotTheNewcomer) {
  HttpServerOptions o;
  o.max_connections = 20;
  StartServer(o);
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(Connect(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = Clock::now();
  std::string r = Request("GET /x HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_LE(server_->connections(), 21u);
  int closed = 0;
  for (int fd : idle) {
    if (ClosedWithin(fd, 10)) ++closed;
    ::close(fd);
  }
  EXPECT_GE(closed, 20);  // the oldest idle ones made room
}

TEST_F(HttpServerTest, FullDiskDuringAnUploadIsAnswered507) {
  fs::path small = fs::temp_directory_path() / ("httpserver-full-" + RandomHex(6));
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k") != 0) {
    fs::remove(small);
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs CAP_SYS_ADMIN): " << strerror(errno);
  }
  HttpServerOptions o;
  o.upload_tmp_dir = small.string();
  StartServer(o);
  std::string body(2 << 20, 'f');
  std::string r =
      Request("PUT /upload HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(StatusOf(r), 507) << r;
  EXPECT_NE(r.find("InsufficientStorage"), std::string::npos) << r;
  EXPECT_EQ(handled_.load(), 0);
  server_->Stop();
  EXPECT_TRUE(fs::is_empty(small));  // the partial temp file is gone
  ::umount(small.c_str());
  fs::remove(small);
}

TEST(BlockingHandlerPoolTest, LongPollsAreParkedWithoutHoldingTheWorkers) {
  std::atomic<int> condition{0};
  BlockingHandlerPool pool(
      1,
      [&](HttpRequest& req, HttpResponse& res) {
        if (req.path == "/wait") {
          if (condition.load() == 0 && req.can_defer) {
            res.defer_until = req.received + std::chrono::seconds(20);
            return;
          }
          res.body = "woke " + std::to_string(condition.load());
          return;
        }
        res.body = "quick";
      },
      [](std::exception_ptr) { return HttpResponse{}; });
  auto handler = pool.handler();
  std::mutex mu;
  std::vector<std::string> answers;
  auto respond = [&](HttpResponse r) {
    std::lock_guard lk(mu);
    answers.push_back(r.body);
  };
  for (int i = 0; i < 50; ++i) {
    HttpRequest q;
    q.path = "/wait";
    handler(q, respond);
  }
  // One worker, fifty waiting long polls: an ordinary request is still answered at once.
  HttpRequest quick;
  quick.path = "/quick";
  auto t0 = Clock::now();
  handler(quick, respond);
  for (;;) {
    {
      std::lock_guard lk(mu);
      if (!answers.empty()) break;
    }
    ASSERT_LT(Clock::now() - t0, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(answers, std::vector<std::string>{"quick"});
  }
  EXPECT_EQ(pool.parked(), 50u);
  condition = 7;
  pool.Wake();
  for (;;) {
    {
      std::lock_guard lk(mu);
      if (answers.size() == 51) break;
    }
    ASSERT_LT(Clock::now() - t0, std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::lock_guard lk(mu);
  EXPECT_EQ(answers.back(), "woke 7");
  EXPECT_EQ(pool.parked(), 0u);
}

TEST(BlockingHandlerPoolTest, ParkedRequestIsAnsweredAtItsDeadline) {
  BlockingHandlerPool pool(
      2,
      [](HttpRequest& req, HttpResponse& res) {
        if (req.can_defer) {
          res.defer_until = req.received + std::chrono::milliseconds(300);
          return;
        }
        res.body = "timeout";
      },
      [](std::exception_ptr) { return HttpResponse{}; });
  std::atomic<bool> done{false};
  auto t0 = Clock::now();
  pool.handler()(HttpRequest{}, [&](HttpResponse r) {
    EXPECT_EQ(r.body, "timeout");
    done = true;
  });
  while (!done && Clock::now() - t0 < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(done);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(280));
}

// ----- streamed answers (HttpResponse::stream) -----

// A server whose handlers run on a BlockingHandlerPool that also produces streamed answers.
struct StreamServer {
  std::unique_ptr<BlockingHandlerPool> pool;
  std::unique_ptr<HttpServer> http;
  uint16_t port = 0;

  explicit StreamServer(BlockingHandlerPool::Fn fn) {
    pool = std::make_unique<BlockingHandlerPool>(2, std::move(fn), [](std::exception_ptr e) {
      HttpResponse r;
      r.status = 500;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        r.body = std::string("failed: ") + x.what();
      }
      return r;
    });
    HttpServerOptions o;
    o.run_blocking = [p = pool.get()](std::function<void()> t) { return p->Post(std::move(t)); };
    http = std::make_unique<HttpServer>(
        o, [](const HttpRequest&) { return HeadDecision{}; }, pool->handler());
    port = http->Listen();
    http->Start();
  }
  ~StreamServer() {
    http->Stop();
    pool->Stop();
  }
};

// Reads one answer: head, then a chunked body (decoded) or a Content-Length one. `complete`
// tells whether the chunked terminator (or the whole Content-Length) arrived.
struct Answer {
  std::string head, body;
  bool chunked = false, complete = false;
};

Answer ReadAnswer(int fd, int timeout_ms = 20000) {
  Answer a;
  std::string buf;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto more = [&]() -> bool {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return false;
    char tmp[1 << 16];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!more()) return a;
  a.head = buf.substr(0, end + 4);
  buf.erase(0, end + 4);
  a.chunked = a.head.find("Transfer-Encoding: chunked") != std::string::npos;
  if (!a.chunked) {
    auto cl = a.head.find("Content-Length: ");
    size_t len = cl == std::string::npos ? 0 : std::stoul(a.head.substr(cl + 16));
    while (buf.size() < len)
      if (!more()) return a;
    a.body = buf.substr(0, len);
    a.complete = true;
    return a;
  }
  for (;;) {
    size_t eol;
    while ((eol = buf.find("\r\n")) == std::string::npos)
      if (!more()) return a;
    size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
    while (buf.size() < eol + 2 + size + 2)
      if (!more()) return a;
    if (size == 0) {
      a.complete = buf.compare(eol + 2, 2, "\r\n") == 0;
      return a;
    }
    a.body.append(buf, eol + 2, size);
    buf.erase(0, eol + 2 + size + 2);
  }
}

TEST(HttpStreamTest, LargeAnswerIsChunkedAndProducedAtMostAPieceAheadOfTheSocket) {
  constexpr int kPieces = 64;
  constexpr size_t kPiece = 1 << 20;
  std::atomic<int> produced{0};
  StreamServer srv([&](HttpRequest& req, HttpResponse& res) {
    EXPECT_TRUE(req.can_stream);
    res.content_type = "text/plain";
    auto i = std::make_shared<int>(0);
    res.stream = [&produced, i](std::string& out) {
      out.append(kPiece, static_cast<char>('a' + *i % 26));
      ++produced;
      return ++*i < kPieces;
    };
  });
  int fd = Connect(srv.port);
  SendAll(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  // The client reads nothing for a while: the producer stops once the socket buffers are full
  // (a few MiB) instead of building the 64 MiB answer in memory.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  int while_stalled = produced.load();
  EXPECT_LT(while_stalled, 32) << "the producer ran ahead of a client that does not read";
  Answer a = ReadAnswer(fd);
  ASSERT_TRUE(a.complete) << a.head;
  EXPECT_TRUE(a.chunked) << a.head;
  EXPECT_NE(a.head.find("HTTP/1.1 200"), std::string::npos) << a.head;
  ASSERT_EQ(a.body.size(), kPieces * kPiece);
  for (int k = 0; k < kPieces; ++k) {
    ASSERT_EQ(a.body[k * kPiece], static_cast<char>('a' + k % 26)) << k;
    ASSERT_EQ(a.body[k * kPiece + kPiece - 1], static_cast<char>('a' + k % 26)) << k;
  }
  EXPECT_EQ(produced.load(), kPieces);
  // The connection stays usable (keep-alive) after a chunked answer.
  SendAll(fd, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  Answer b = ReadAnswer(fd);
  EXPECT_TRUE(b.complete);
  EXPECT_EQ(b.body.size(), kPieces * kPiece);
  ::close(fd);
}

TEST(HttpStreamTest, ShortStreamIsAnOrdinaryAnswerAndSmallPiecesAreGathered) {
  std::atomic<int> calls{0};
  StreamServer srv([&](HttpRequest& req, HttpResponse& res) {
    auto i = std::make_shared<int>(0);
    int n = req.path == "/short" ? 10 : 5000;  // 10 or 5,000 pieces of 100 bytes
    res.headers["X-Kind"] = "stream";
    res.stream = [&calls, i, n](std::string& out) {
      ++calls;
      out.append(100, 'x');
      return ++*i < n;
    };
  });
  int fd = Connect(srv.port);
  SendAll(fd, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
  Answer a = ReadAnswer(fd);
  ASSERT_TRUE(a.complete) << a.head;
  EXPECT_FALSE(a.chunked) << a.head;
  EXPECT_NE(a.head.find("Content-Length: 1000"), std::string::npos) << a.head;
  EXPECT_NE(a.head.find("X-Kind: stream"), std::string::npos) << a.head;
  EXPECT_EQ(a.body, std::string(1000, 'x'));
  // 500,000 bytes in 100-byte pieces: chunked, in pieces of at least 64 KiB.
  SendAll(fd, "GET /long HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string raw;
  Answer b = ReadAnswer(fd);
  ASSERT_TRUE(b.complete) << b.head;
  EXPECT_TRUE(b.chunked);
  EXPECT_NE(b.head.find("X-Kind: stream"), std::string::npos) << b.head;
  EXPECT_EQ(b.body, std::string(500000, 'x'));
  ::close(fd);
}

TEST(HttpStreamTest, FailureBeforeTheFirstByteIsAnErrorAnswerAfterItATruncatedOne) {
  StreamServer srv([&](HttpRequest& req, HttpResponse& res) {
    auto i = std::make_shared<int>(0);
    bool early = req.path == "/early";
    res.stream = [i, early](std::string& out) -> bool {
      if (early || *i == 3) throw std::runtime_error("disk gone at piece " + std::to_string(*i));
      out.append(100000, 'y');
      ++*i;
      return true;
    };
  });
  int fd = Connect(srv.port);
  SendAll(fd, "GET /early HTTP/1.1\r\nHost: x\r\n\r\n");
  Answer a = ReadAnswer(fd);
  ASSERT_TRUE(a.complete) << a.head;
  EXPECT_NE(a.head.find("HTTP/1.1 500"), std::string::npos) << a.head;
  EXPECT_EQ(a.body, "failed: disk gone at piece 0");
  SendAll(fd, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
  Answer b = ReadAnswer(fd);
  EXPECT_NE(b.head.find("HTTP/1.1 200"), std::string::npos) << b.head;
  EXPECT_TRUE(b.chunked);
  EXPECT_FALSE(b.complete) << "a failed stream must not look complete";
  EXPECT_EQ(b.body.size(), 300000u);
  EXPECT_TRUE(ClosedWithin(fd, 2000));
  ::close(fd);
}

TEST(HttpStreamTest, Http10ClientGetsTheWholeAnswerWithALength) {
  StreamServer srv([&](HttpRequest& req, HttpResponse& res) {
    EXPECT_FALSE(req.can_stream);
    auto i = std::make_shared<int>(0);
    res.stream = [i](std::string& out) {
      out.append(100000, 'z');
      return ++*i < 5;
    };
  });
  int fd = Connect(srv.port);
  SendAll(fd, "GET /x HTTP/1.0\r\n\r\n");
  Answer a = ReadAnswer(fd);
  ASSERT_TRUE(a.complete) << a.head;
  EXPECT_FALSE(a.chunked);
  EXPECT_EQ(a.body, std::string(500000, 'z'));
  ::close(fd);
}

}  // namespace
}  // namespace trainyard
