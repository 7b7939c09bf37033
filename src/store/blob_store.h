// Content-addressed blob store: objects/<2 hex>/<62 hex>, keyed by SHA-256 of the content.
// Writes are atomic (temp file + fsync + rename), so a crash never leaves a half blob under
// its final name, and a blob written twice is stored once.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace trainyard {

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path root);

  // Stores bytes, returns their SHA-256 hex.
  std::string Put(std::string_view data);
  // Streams a file into the store (hashing while copying). Returns the SHA-256 hex and sets
  // *size when given.
  std::string PutFile(const std::filesystem::path& src, uint64_t* size = nullptr);
  // Moves a file the caller owns (e.g. an upload temp file on the same filesystem) into the
  // store: hashes it, then renames it into place. Returns the SHA-256 hex.
  std::string PutOwnedFile(const std::filesystem::path& src, uint64_t* size = nullptr);
  // Directory for temp files that PutOwnedFile can rename from.
  std::filesystem::path TempDir() const { return root_ / "tmp"; }
  // Stores a file whose hash the caller already computed (skips the copy if present).
  void PutFileWithHash(const std::filesystem::path& src, const std::string& sha256);

  bool Has(const std::string& sha256) const;
  // Path of the stored blob (valid only if Has()). Throws InvalidInput for a malformed hash.
  std::filesystem::path PathOf(const std::string& sha256) const;
  std::string Get(const std::string& sha256) const;
  // Copies (hard link when possible) a blob to `dest`, creating parent directories.
  void CopyTo(const std::string& sha256, const std::filesystem::path& dest, bool executable) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// Many blobs stored with one durability point (a snapshot's thousands of small files, a node's
// fetched blobs), instead of an fsync of each file and of its directory per blob (the P10 figure,
// BENCHMARKS.md). Each Put* writes (or adopts) an unsynced temp file in the store's tmp/ folder;
// Commit() then
//   1. makes every temp file's bytes durable: one syncfs(2) of the store's file system for a
//      batch of kSyncfsMin files or more, else an fsync of each (an error of either throws);
//   2. renames each into place under its hash (the first one wins when the blob appeared in the
//      meantime), in the order they were added;
//   3. makes the renames durable: syncfs again (or an fsync of each directory touched).
// So a blob is never visible under its hash before its bytes are on disk (the store's crash
// invariant), a crash before Commit() leaves only temp files in tmp/ (the server removes them at
// start), and Commit() returning means every blob of the batch is durable in place: callers
// record nothing that names these blobs before it returns. A batch destroyed without Commit()
// removes its temp files. Thread-safe: several threads may add to one batch.
class BlobBatch {
 public:
  // Batches of this many files or more are synced with syncfs(2), smaller ones file by file.
  static constexpr size_t kSyncfsMin = 8;

  explicit BlobBatch(BlobStore& store);
  ~BlobBatch();
  BlobBatch(const BlobBatch&) = delete;
  BlobBatch& operator=(const BlobBatch&) = delete;

  // True when the blob is stored or already added to this batch.
  bool Has(const std::string& sha256) const;
  // Like BlobStore's methods of the same names, but durable only after Commit().
  std::string Put(std::string_view data);
  void PutFileWithHash(const std::filesystem::path& src, const std::string& sha256);
  // `src` must be in the store's TempDir() (same file system); it becomes the batch's.
  std::string PutOwnedFile(const std::filesystem::path& src, uint64_t* size = nullptr);

  // Makes the batch durable in place (see above). Returns how many blobs it added to the store.
  size_t Commit();
  size_t pending() const;

 private:
  void AddTemp(const std::string& sha, std::filesystem::path tmp);

  BlobStore& store_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::filesystem::path>> pending_;  // hash, temp file
  std::unordered_set<std::string> pending_hashes_;
};

// True when s is 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);

}  // namespace trainyard
