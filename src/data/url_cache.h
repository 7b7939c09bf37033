// Downloads of dataset URLs (http/https, libcurl) into the workspace's shared cache, once.
//
// Content goes into the blob store (objects/, content-addressed, atomic); the cache index
// cache/urls/<sha256 of the URL>.json records {url, final_url, sha256, size, etag,
// last_modified, fetched_utc}. Fetch():
//   1. expected_sha256 given and that blob is present -> no network at all (a registered
//      dataset's recorded checksum pins its content);
//   2. an index entry whose blob is present -> a conditional GET (If-None-Match /
//      If-Modified-Since) when the server gave a validator; 304 -> cached; without a validator
//      the cached copy is used as is;
//   3. otherwise a GET (redirects followed, up to 10) streamed into objects/tmp while hashing,
//      renamed into the store only when complete: HTTP errors (404...), timeouts (connect, or
//      no data for `stall_timeout`) and truncated bodies (fewer bytes than Content-Length)
//      throw an Error with code "UrlFetchFailed" (HTTP 400) naming the URL and the cause, and
//      leave neither a blob nor an index entry behind.
//
// Thread-safe; concurrent fetches of one URL may both download (the store keeps one copy).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "store/blob_store.h"

namespace trainyard {

struct UrlFetchOptions {
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};  // abort when no byte arrives for this long
  std::chrono::seconds total_timeout{0};   // 0 = no overall limit
  long max_redirects = 10;
};

struct UrlFetchResult {
  std::string url;
  std::string final_url;  // after redirects
  std::string sha256;
  uint64_t size = 0;
  std::string etag, last_modified;
  bool from_cache = false;   // no body was transferred (pinned blob, or 304)
  bool revalidated = false;  // a conditional request was made
};

// True for http:// and https:// URLs (case-insensitive scheme).
bool IsHttpUrl(std::string_view s);
// The last path segment of a URL without query/fragment ("train-images-idx3-ubyte.gz"), or
// "download" when there is none.
std::string UrlFileName(std::string_view url);

class UrlCache {
 public:
  UrlCache(std::filesystem::path cache_dir, BlobStore& blobs, UrlFetchOptions options = {});

  // See the file comment. `log` (optional) gets one line per download.
  UrlFetchResult Fetch(const std::string& url, const std::string& expected_sha256 = "",
                       const std::function<void(std::string_view)>& log = {});

 private:
  std::filesystem::path IndexPath(const std::string& url) const;

  std::filesystem::path cache_dir_;
  BlobStore& blobs_;
  UrlFetchOptions options_;
};

}  // namespace trainyard
