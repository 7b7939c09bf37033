// The node side of an HTTP-only agent (docs/ARCHITECTURE.md, "Agent"): a per-node cache
// directory (`--node-dir`, $TRAINYARD_NODE_DIR, default ~/.cache/trainyard) holding
//   objects/   content-addressed blobs fetched from the server (GET /api/v1/blobs/{sha256})
//              only when missing: a re-submitted snapshot moves no file twice
//   envs/      built environments (same spec hash as the server's; $TRAINYARD_ENV_CACHE wins)
//   runs/<id>/ a run's files (working dir wd/, spool, local copies of its logs) unless
//              --run-dir says otherwise
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "store/blob_store.h"

namespace trainyard {

// $TRAINYARD_NODE_DIR, else $HOME/.cache/trainyard (XDG_CACHE_HOME when set).
std::filesystem::path DefaultNodeDir();

struct FetchStats {
  size_t wanted = 0;   // distinct blobs asked for
  size_t fetched = 0;  // of which were downloaded now
  uint64_t bytes = 0;  // bytes downloaded
};

// Makes every blob in `hashes` present in `cache`, downloading missing ones from the server
// (`threads` connections side by side). Each download is verified against its hash before it
// is renamed into the cache. Throws Error (the server's 4xx, or a hash mismatch).
FetchStats FetchMissingBlobs(const std::string& server_url, const std::string& token,
                             BlobStore& cache, const std::vector<std::string>& hashes,
                             int threads = 4);

}  // namespace trainyard
