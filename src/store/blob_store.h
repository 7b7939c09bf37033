// Content-addressed blob store: objects/<2 hex>/<62 hex>, keyed by SHA-256 of the content.
// Writes are atomic (temp file + fsync + rename), so a crash never leaves a half blob under
// its final name, and a blob written twice is stored once.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

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

// True when s is 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);

}  // namespace trainyard
