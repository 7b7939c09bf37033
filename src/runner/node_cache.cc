#include "runner/node_cache.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "runner/server_link.h"

namespace trainyard {
namespace fs = std::filesystem;

fs::path DefaultNodeDir() {
  if (const char* e = std::getenv("TRAINYARD_NODE_DIR"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "trainyard";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/tmp") / ".cache" / "trainyard";
}

FetchStats FetchMissingBlobs(const std::string& server_url, const std::string& token,
                             BlobStore& cache, const std::vector<std::string>& hashes,
                             int threads) {
  FetchStats st;
  std::set<std::string> distinct(hashes.begin(), hashes.end());
  st.wanted = distinct.size();
  std::vector<std::string> missing;
  for (const auto& h : distinct) {
    if (!IsSha256Hex(h)) throw InvalidInput("the server named a malformed blob hash '" + h + "'");
    if (!cache.Has(h)) missing.push_back(h);
  }
  if (missing.empty()) return st;
  fs::create_directories(cache.TempDir());
  // The downloads land unsynced in one batch, made durable together at the end (BlobBatch):
  // no fsync per blob and per directory. A failure removes them.
  BlobBatch batch(cache);
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  std::string error;
  auto worker = [&] {
    try {
      ServerLink link(server_url, token);
      for (size_t i = next++; i < missing.size(); i = next++) {
        {
          std::lock_guard lk(mu);
          if (!error.empty()) return;
        }
        const std::string& sha = missing[i];
        fs::path tmp = cache.TempDir() / ("fetch-" + RandomHex(8));
        link.Download("/api/v1/blobs/" + sha, tmp.string());
        uint64_t size = 0;
        // PutOwnedFile hashes what arrived and files it under its real hash.
        std::string got = batch.PutOwnedFile(tmp, &size);
        if (got != sha) {
          throw InternalError("blob " + sha + " arrived with SHA-256 " + got +
                              " (corrupted in transfer)");
        }
        bytes += size;
      }
    } catch (const std::exception& e) {
      std::lock_guard lk(mu);
      if (error.empty()) error = e.what();
    }
  };
  int n = std::max(1, std::min<int>(threads, static_cast<int>(missing.size())));
  std::vector<std::thread> pool;
  for (int i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (!error.empty())
    throw Error("BlobFetchFailed", "fetching files from the server failed: " + error, 502);
  batch.Commit();
  st.fetched = missing.size();
  st.bytes = bytes;
  return st;
}

}  // namespace trainyard
