#include "data/url_cache.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

Error FetchFailed(const std::string& url, const std::string& why) {
  return Error("UrlFetchFailed", "cannot download " + url + ": " + why, 400);
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// State of one transfer: the output file, the running hash, the final response's headers.
struct Transfer {
  int fd = -1;
  Sha256 sha;
  uint64_t bytes = 0;
  std::string etag, last_modified;
  bool write_failed = false;
};

size_t OnData(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(t->fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->write_failed = true;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->sha.Update(data, len);
  t->bytes += len;
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): forget the old one
    t->etag.clear();
    t->last_modified.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (name == "etag") t->etag = Trim(line.substr(colon + 1));
  if (name == "last-modified") t->last_modified = Trim(line.substr(colon + 1));
  return size * n;
}

const char* ReasonOf(long code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

}  // namespace

bool IsHttpUrl(std::string_view s) {
  auto starts = [&](std::string_view p) {
    if (s.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
    }
    return true;
  };
  return starts("http://") || starts("https://");
}

std::string UrlFileName(std::string_view url) {
  std::string_view u = url.substr(0, url.find_first_of("?#"));
  size_t scheme = u.find("://");
  if (scheme != std::string_view::npos) u.remove_prefix(scheme + 3);
  size_t slash = u.find('/');
  if (slash == std::string_view::npos) return "download";
  u.remove_prefix(slash);
  while (!u.empty() && u.back() == '/') u.remove_suffix(1);
  std::string_view last = u.substr(u.rfind('/') + 1);
  return last.empty() ? "download" : std::string(last);
}

UrlCache::UrlCache(fs::path cache_dir, BlobStore& blobs, UrlFetchOptions options)
    : cache_dir_(std::move(cache_dir)), blobs_(blobs), options_(options) {}

fs::path UrlCache::IndexPath(const std::string& url) const {
  return cache_dir_ / "urls" / (Sha256Hex(url) + ".json");
}

UrlFetchResult UrlCache::Fetch(const std::string& url, const std::string& expected_sha256,
                               const std::function<void(std::string_view)>& log) {
  if (!IsHttpUrl(url)) throw InvalidInput("'" + url + "' is not an http(s) URL");
  UrlFetchResult out;
  out.url = url;
  const fs::path index_path = IndexPath(url);
  Json index;
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    index = Json::parse(ReadFile(index_path), nullptr, false);
    if (!index.is_object() || !IsSha256Hex(index.value("sha256", "")) ||
        !blobs_.Has(index.value("sha256", ""))) {
      index = nullptr;  // damaged entry or its blob was pruned: download again
    }
  }
  if (!expected_sha256.empty() && blobs_.Has(expected_sha256)) {
    out.sha256 = expected_sha256;
    out.size = fs::file_size(blobs_.PathOf(expected_sha256), ec);
    out.from_cache = true;
    if (index.is_object() && index.value("sha256", "") == expected_sha256) {
      out.final_url = index.value("final_url", url);
      out.etag = index.value("etag", "");
      out.last_modified = index.value("last_modified", "");
    }
    return out;
  }
  auto from_index = [&] {
    out.final_url = index.value("final_url", url);
    out.sha256 = index["sha256"];
    out.size = index.value("size", uint64_t{0});
    out.etag = index.value("etag", "");
    out.last_modified = index.value("last_modified", "");
    out.from_cache = true;
    return out;
  };
  bool conditional = false;
  if (index.is_object()) {
    if (index.value("etag", "").empty() && index.value("last_modified", "").empty()) {
      return from_index();
    }
    conditional = true;
  }

  GlobalInit();
  fs::create_directories(blobs_.TempDir());
  fs::create_directories(index_path.parent_path());
  const fs::path tmp = blobs_.TempDir() / ("url-" + RandomHex(8));
  Transfer t;
  t.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (t.fd < 0) ThrowErrno("create " + tmp.string());
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  auto cleanup = [&] {
    if (t.fd >= 0) ::close(t.fd);
    t.fd = -1;
    curl_slist_free_all(headers);
    headers = nullptr;
    if (curl) curl_easy_cleanup(curl);
    curl = nullptr;
  };
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, options_.max_redirects);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  if (options_.total_timeout.count() > 0) {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(options_.total_timeout.count()));
  }
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "trainyard/" TRAINYARD_VERSION);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (conditional) {
    if (!index.value("etag", "").empty()) {
      headers = curl_slist_append(headers,
                                  ("If-None-Match: " + index["etag"].get<std::string>()).c_str());
    }
    if (!index.value("last_modified", "").empty()) {
      headers = curl_slist_append(
          headers, ("If-Modified-Since: " + index["last_modified"].get<std::string>()).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (log) log(std::string(conditional ? "Revalidating " : "Downloading ") + url);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  char* eff = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff);
  out.final_url = eff ? eff : url;
  curl_off_t expected_len = -1;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected_len);
  bool fsync_ok = ::fsync(t.fd) == 0;
  cleanup();
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return FetchFailed(url, why);
  };
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_PARTIAL_FILE) {
      throw fail("the connection closed after " + std::to_string(t.bytes) + " of " +
                 (expected_len >= 0 ? std::to_string(expected_len) : std::string("?")) +
                 " bytes (truncated download; nothing was cached, try again)");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      throw fail("timed out (" + detail + "; connect limit " +
                 std::to_string(options_.connect_timeout.count()) + " s, no data for " +
                 std::to_string(options_.stall_timeout.count()) + " s aborts)");
    }
    if (rc == CURLE_TOO_MANY_REDIRECTS) {
      throw fail("more than " + std::to_string(options_.max_redirects) + " redirects");
    }
    if (t.write_failed) throw fail("writing the download failed (disk full?)");
    throw fail(detail);
  }
  if (conditional && status == 304) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    out.revalidated = true;
    return from_index();
  }
  if (status < 200 || status >= 300) {
    std::string reason = ReasonOf(status);
    throw fail("HTTP " + std::to_string(status) + (reason.empty() ? "" : " " + reason) +
               (status == 404 ? " (check the URL)" : ""));
  }
  if (expected_len >= 0 && static_cast<uint64_t>(expected_len) != t.bytes) {
    throw fail("received " + std::to_string(t.bytes) + " of " + std::to_string(expected_len) +
               " bytes (truncated download; nothing was cached, try again)");
  }
  if (!fsync_ok) throw fail("fsync of the download failed");
  out.sha256 = t.sha.FinalHex();
  out.size = t.bytes;
  out.etag = t.etag;
  out.last_modified = t.last_modified;
  out.revalidated = conditional;
  std::string stored = blobs_.PutOwnedFile(tmp);
  if (stored != out.sha256) throw InternalError("hash mismatch storing the download of " + url);
  Json entry = {{"url", url},
                {"final_url", out.final_url},
                {"sha256", out.sha256},
                {"size", out.size},
                {"etag", out.etag},
                {"last_modified", out.last_modified},
                {"fetched_utc", FormatIsoTime(NowMillis())}};
  WriteFileAtomic(index_path, entry.dump(2) + "\n");
  if (log) log("Downloaded " + url + " (" + std::to_string(out.size) + " bytes)");
  return out;
}

}  // namespace trainyard
