// UrlCache against a real HTTP server on a loopback port (a small socket server in this test):
// redirects, checksums, download once, conditional revalidation, 404, truncated bodies and
// stalls — and that a failed download leaves nothing in the cache or the blob store.
#include "data/url_cache.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class LoopbackHttpServer {
 public:
  LoopbackHttpServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int Hits(const std::string& path) {
    std::lock_guard lk(mu_);
    return hits_[path];
  }
  std::string body = "0123456789abcdef-the-dataset-body";

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string path = req.substr(4, req.find(' ', 4) - 4);
      {
        std::lock_guard lk(mu_);
        ++hits_[path];
      }
      std::string out;
      auto ok = [&](const std::string& extra) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n" + extra + "\r\n" + body;
      };
      if (path == "/data.bin") {
        out = ok("");
      } else if (path == "/etag.bin") {
        if (req.find("If-None-Match: \"v1\"") != std::string::npos) {
          out = "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n";
        } else {
          out = ok("ETag: \"v1\"\r\n");
        }
      } else if (path == "/redirect") {
        out =
            "HTTP/1.1 302 Found\r\nLocation: /data.bin\r\nContent-Length: 0\r\nConnection: "
            "close\r\n\r\n";
      } else if (path == "/truncated") {
        out = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nonly-a-part";
      } else if (path == "/stall") {
        std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nab";
        (void)!::write(c, head.data(), head.size());
        for (int i = 0; i < 40 && !stop_; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      } else {
        out = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
      }
      if (!out.empty()) (void)!::write(c, out.data(), out.size());
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, int> hits_;
};

class UrlCacheTest : public ::testing::Test {
 protected:
  UrlCacheTest()
      : dir_(fs::temp_directory_path() / ("ty-urlcache-" + RandomHex(4))),
        blobs_(dir_ / "objects") {
    options_.stall_timeout = std::chrono::seconds(1);
    options_.connect_timeout = std::chrono::seconds(5);
  }
  ~UrlCacheTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  size_t CountFiles(const fs::path& p) {
    size_t n = 0;
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(p, ec)) n += e.is_regular_file(ec);
    return n;
  }
  UrlCache Cache() { return UrlCache(dir_ / "cache", blobs_, options_); }

  fs::path dir_;
  BlobStore blobs_;
  UrlFetchOptions options_;
  LoopbackHttpServer http_;
};

TEST_F(UrlCacheTest, DownloadsOnceRecordsTheChecksumAndPinsByIt) {
  UrlCache cache = Cache();
  UrlFetchResult a = cache.Fetch(http_.Url("/data.bin"));
  EXPECT_FALSE(a.from_cache);
  EXPECT_EQ(a.sha256, Sha256Hex(http_.body));
  EXPECT_EQ(a.size, http_.body.size());
  EXPECT_EQ(blobs_.Get(a.sha256), http_.body);
  // No validator: the cached copy is used without a request.
  UrlFetchResult b = cache.Fetch(http_.Url("/data.bin"));
  EXPECT_TRUE(b.from_cache);
  EXPECT_EQ(http_.Hits("/data.bin"), 1);
  // A recorded checksum whose blob is present never touches the network.
  UrlFetchResult c = cache.Fetch(http_.Url("/never-asked"), a.sha256);
  EXPECT_TRUE(c.from_cache);
  EXPECT_EQ(http_.Hits("/never-asked"), 0);
}

TEST_F(UrlCacheTest, RevalidatesWithTheEtag) {
  UrlCache cache = Cache();
  UrlFetchResult a = cache.Fetch(http_.Url("/etag.bin"));
  EXPECT_EQ(a.etag, "\"v1\"");
  UrlFetchResult b = cache.Fetch(http_.Url("/etag.bin"));
  EXPECT_TRUE(b.from_cache);
  EXPECT_TRUE(b.revalidated);
  EXPECT_EQ(b.sha256, a.sha256);
  EXPECT_EQ(http_.Hits("/etag.bin"), 2);  // one download, one 304
}

TEST_F(UrlCacheTest, FollowsRedirects) {
  UrlFetchResult r = Cache().Fetch(http_.Url("/redirect"));
  EXPECT_EQ(r.sha256, Sha256Hex(http_.body));
  EXPECT_EQ(r.final_url, http_.Url("/data.bin"));
}

TEST_F(UrlCacheTest, NotFoundTruncatedAndStalledLeaveNothingBehind) {
  UrlCache cache = Cache();
  auto expect_fail = [&](const std::string& path, const std::string& words) {
    try {
      cache.Fetch(http_.Url(path));
      ADD_FAILURE() << path << " did not fail";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "UrlFetchFailed");
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(http_.Url(path)), std::string::npos) << e.what();
    }
  };
  expect_fail("/missing", "HTTP 404");
  expect_fail("/truncated", "truncated");
  expect_fail("/stall", "timed out");
  EXPECT_EQ(CountFiles(dir_ / "objects"), 0u);  // no blob, no temp file
  EXPECT_EQ(CountFiles(dir_ / "cache"), 0u);    // no index entry
}

TEST(UrlNamesTest, FileNameOfAUrl) {
  EXPECT_EQ(UrlFileName("http://h/exdb/mnist/train-images-idx3-ubyte.gz?x=1#f"),
            "train-images-idx3-ubyte.gz");
  EXPECT_EQ(UrlFileName("https://host"), "download");
  EXPECT_TRUE(IsHttpUrl("HTTPS://x"));
  EXPECT_FALSE(IsHttpUrl("ftp://x"));
}

}  // namespace
}  // namespace trainyard
