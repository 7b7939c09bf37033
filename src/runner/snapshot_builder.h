// Snapshots of a run's source directory: a manifest of content-addressed blobs.
//
// A snapshot is stored as blobs in the BlobStore: one per distinct file content, plus the
// manifest itself, whose canonical JSON
//   {"files":[{"executable":false,"path":"a/b.py","sha256":"...","size":12},...],"version":1}
// (keys sorted, no spaces, files sorted by path bytewise) hashes to the snapshot id. Unchanged
// files are therefore stored once, and snapshotting an unchanged directory writes nothing new.
//
// What goes in: regular files not excluded by the directory's ignore rules (ignore_rules.h);
// ignored directories are not entered. Empty directories are not recorded (as in git).
// Symlinks: a symlink to a regular file whose target lies inside the source directory is stored
// as that file's content (under the link's path); symlinks to directories, to anything outside
// the tree, and dangling ones are skipped, as are sockets, FIFOs and devices. Skipped entries
// are reported in SnapshotResult::skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace trainyard {

class BlobStore;

// One file of a snapshot manifest.
struct SnapshotFile {
  std::string path;  // relative, '/'-separated
  std::string sha256;
  uint64_t size = 0;
  bool executable = false;  // owner-executable bit of the source file

  bool operator==(const SnapshotFile&) const = default;
};

struct SnapshotOptions {
  // Azure ML's defaults: 300 MB (MiB) and 2000 files.
  uint64_t max_total_bytes = 300ull * 1024 * 1024;
  size_t max_files = 2000;
};

struct SnapshotResult {
  std::string snapshot_id;          // SHA-256 of the manifest JSON (also its blob id)
  std::vector<SnapshotFile> files;  // sorted by path
  uint64_t total_bytes = 0;
  // Blobs this call added to the store (file contents and the manifest); 0 when the same
  // directory was snapshotted before.
  size_t new_blobs = 0;
  // Entries left out for a reason other than the ignore rules: "path: why".
  std::vector<std::string> skipped;
  // The ignore files that were applied, relative to the source directory.
  std::vector<std::string> ignore_files;
};

// Builds snapshots into a BlobStore.
//
// Two passes: the first walks the tree (stat only) and enforces the limits, throwing
// PayloadTooLarge with code "SnapshotTooLarge" before anything is written; the second hashes
// each file and copies it into the store only when that blob is missing.
//
// Thread-safe when the BlobStore is (it is): one builder may be used from several threads.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(BlobStore& store, SnapshotOptions options = {});

  // Snapshots `source_dir` (which may itself be a symlink). Throws InvalidInput when it is not a
  // readable directory or a file cannot be read, PayloadTooLarge ("SnapshotTooLarge") over the
  // limits. Message texts follow Azure ML's:
  //   While attempting to take snapshot of <dir>
  //   Your total snapshot size exceeds the limit of 300.0 MB. <advice on .amlignore>
  SnapshotResult Build(const std::filesystem::path& source_dir) const;

 private:
  BlobStore& store_;
  SnapshotOptions options_;
};

// Canonical manifest JSON (see the top of this file) and its parser. ParseManifest accepts that
// object, a run-snapshot response {"snapshot_id", "files": [...]}, or a bare files array; it
// validates every path (relative, no '..') and hash, and throws InvalidInput naming the entry.
nlohmann::json ManifestToJson(const std::vector<SnapshotFile>& files);
std::string ManifestToString(const std::vector<SnapshotFile>& files);
std::vector<SnapshotFile> ParseManifest(const nlohmann::json& manifest);

// Reads and parses the manifest blob of a snapshot. Throws NotFound when it is not stored.
std::vector<SnapshotFile> LoadManifest(const BlobStore& store, const std::string& snapshot_id);

// Writes the files of a manifest under `dest_dir` (created if needed) as copies of the blobs
// (not hard links: a run may modify its files), with mode 0755 for executables and 0644 else.
// Existing files at those paths are replaced. Throws NotFound for a missing blob.
void RestoreSnapshot(const BlobStore& store, const std::vector<SnapshotFile>& files,
                     const std::filesystem::path& dest_dir);

// Git facts recorded with a run (REST: "git": {"repository", "branch", "commit", "dirty"}).
struct GitInfo {
  // remote.origin.url without any user:password@ part, else the repository's top directory.
  std::string repository;
  std::string branch;  // "" when HEAD is detached
  std::string commit;  // "" before the first commit
  bool dirty = false;  // `git status --porcelain` lists anything (whole repository)

  nlohmann::json ToJson() const;
};

// Git facts for a directory inside a work tree, from the `git` command line (run without a
// shell, 5 s limit in all). nullopt when git is not installed, the directory is not in a work
// tree, or git fails. libgit2 is not used: it is not installed here, and the git CLI is present
// wherever a git work tree is.
std::optional<GitInfo> DetectGit(const std::filesystem::path& dir);

}  // namespace trainyard
