// Small OS and formatting helpers: clocks, ids, hashing, files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace trainyard {

// Milliseconds since the Unix epoch (wall clock).
int64_t NowMillis();
// ISO 8601 UTC with milliseconds, e.g. "2026-11-23T10:00:00.123Z". 0 gives "".
std::string FormatIsoTime(int64_t millis);

// `n` random bytes from the OS as lowercase hex (2n characters).
std::string RandomHex(size_t n);

// SHA-256 of a byte string, lowercase hex.
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  std::string FinalHex();

 private:
  void* ctx_;
};

// Whole-file read; throws NotFound / InternalError.
std::string ReadFile(const std::filesystem::path& p);
// The last `max_bytes` bytes of a file (all of it when smaller); "" when it cannot be read.
std::string ReadFileTail(const std::filesystem::path& p, size_t max_bytes);
// Writes `data` to `p` atomically: temp file in the same directory, fsync, rename, fsync dir.
void WriteFileAtomic(const std::filesystem::path& p, std::string_view data, int mode = 0644);
// fsync a directory (after a rename into it).
void FsyncDir(const std::filesystem::path& dir);

// Path of the running executable (/proc/self/exe).
std::filesystem::path SelfExe();

// Identifies the build of the running executable ("<size>-<mtime>" of its file, taken at
// start-up), so a client can tell that a server runs another build than its own.
const std::string& BuildId();

}  // namespace trainyard
