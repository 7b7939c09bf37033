// Turns a submitted run configuration (ScriptRunConfig / Estimator, docs/REST.md) into a run
// definition: validates every field, snapshots the source directory and records git info.
// Everything is validated before anything is written, so a rejected submission leaves no trace.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "store/blob_store.h"

namespace trainyard {

struct SubmissionLimits {
  uint64_t max_bytes = 300ull * 1024 * 1024;
  uint64_t max_files = 2000;
};

struct SnapshotRef {
  std::string snapshot_id;
  nlohmann::json git;  // null when the directory is not in a git repository
};

struct PreparedSubmission {
  nlohmann::json definition;  // script, command, arguments, environment, source_directory, ...
  std::string compute_target;
  std::string snapshot_id;
  nlohmann::json git;
};

// Throws InvalidInput / PayloadTooLarge naming the field at fault.
PreparedSubmission PrepareSubmission(const nlohmann::json& config, BlobStore& blobs,
                                     const SubmissionLimits& limits);

// Snapshots a directory given as a JSON string (absolute path).
SnapshotRef SnapshotDirectory(const nlohmann::json& dir, BlobStore& blobs,
                              const SubmissionLimits& limits);

// Multi-node runs in containers: each node's ranks pull the image by digest themselves, so a
// localhost/ image (podman's local-only names) is refused (InvalidInput, code NotSupported).
struct RankPlan;
void RequireNoContainerForRanks(const RankPlan& plan, const nlohmann::json& environment);

}  // namespace trainyard
