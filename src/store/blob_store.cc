#include "store/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace fs = std::filesystem;

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

BlobStore::BlobStore(fs::path root) : root_(std::move(root)) {
  fs::create_directories(root_ / "tmp");
}

fs::path BlobStore::PathOf(const std::string& sha) const {
  if (!IsSha256Hex(sha))
    throw InvalidInput("invalid blob id '" + sha + "': expected 64 hex digits");
  return root_ / sha.substr(0, 2) / sha.substr(2);
}

bool BlobStore::Has(const std::string& sha) const {
  return IsSha256Hex(sha) && fs::exists(PathOf(sha));
}

std::string BlobStore::Put(std::string_view data) {
  std::string sha = Sha256Hex(data);
  fs::path dest = PathOf(sha);
  if (fs::exists(dest)) return sha;
  fs::create_directories(dest.parent_path());
  WriteFileAtomic(dest, data, 0444);
  return sha;
}

namespace {
// Reads `in` to the end, hashing, and writes everything to `out` unless out < 0. Returns the
// SHA-256 hex and sets *size. Throws on I/O errors (the caller cleans up its files).
std::string HashFd(int in, int out, const fs::path& what, uint64_t* size) {
  Sha256 h;
  uint64_t total = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) ThrowErrno("read " + what.string());
    if (r == 0) break;
    h.Update(buf, static_cast<size_t>(r));
    total += static_cast<uint64_t>(r);
    for (ssize_t off = 0; out >= 0 && off < r;) {
      ssize_t w = ::write(out, buf + off, static_cast<size_t>(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) ThrowErrno("write blob temp file");
      off += w;
    }
  }
  if (size) *size = total;
  return h.FinalHex();
}

// Copies src into a temp file in dir, hashing as it goes, and fsyncs it when `sync`. Returns the
// temp path.
fs::path CopyToTemp(const fs::path& src, const fs::path& dir, std::string* sha, uint64_t* size,
                    bool sync = true) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) ThrowErrno("open " + src.string());
  fs::path tmp = dir / ("tmp-" + RandomHex(8));
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (out < 0) {
    ::close(in);
    ThrowErrno("open " + tmp.string());
  }
  try {
    *sha = HashFd(in, out, src, size);
  } catch (...) {
    ::close(in);
    ::close(out);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(in);
  if ((sync && ::fsync(out) != 0) || ::close(out) != 0) {
    ::unlink(tmp.c_str());
    ThrowErrno("fsync " + tmp.string());
  }
  return tmp;
}

// Writes `data` to a new unsynced temp file (mode 0444) in dir. Returns its path.
fs::path WriteTemp(const fs::path& dir, std::string_view data) {
  fs::path tmp = dir / ("batch-" + RandomHex(8));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) ThrowErrno("open " + tmp.string());
  for (size_t off = 0; off < data.size();) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = err;
      ThrowErrno("write " + tmp.string());
    }
    off += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    ThrowErrno("close " + tmp.string());
  }
  return tmp;
}

// fsync(2) of one file or directory; throws on failure.
void FsyncPath(const fs::path& p, bool dir) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
  if (fd < 0) ThrowErrno("open " + p.string() + " to sync it");
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    ThrowErrno("fsync " + p.string());
  }
  ::close(fd);
}

// syncfs(2) of the file system holding `dir`: every dirty page and inode of it reaches the disk
// in one journal commit. Throws on failure (syncfs reports write-back errors since Linux 5.8).
void SyncFs(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open " + dir.string() + " to sync it");
  if (::syncfs(fd) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    ThrowErrno("syncfs " + dir.string());
  }
  ::close(fd);
}
}  // namespace

std::string BlobStore::PutFile(const fs::path& src, uint64_t* size) {
  std::string sha;
  fs::path tmpdir = root_ / "tmp";
  fs::create_directories(tmpdir);
  fs::path tmp = CopyToTemp(src, tmpdir, &sha, size);
  fs::path dest = PathOf(sha);
  if (fs::exists(dest)) {
    ::unlink(tmp.c_str());
    return sha;
  }
  fs::create_directories(dest.parent_path());
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    ::unlink(tmp.c_str());
    ThrowErrno("rename " + dest.string());
  }
  FsyncDir(dest.parent_path());
  return sha;
}

std::string BlobStore::PutOwnedFile(const fs::path& src, uint64_t* size) {
  int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open " + src.string());
  std::string sha;
  try {
    sha = HashFd(fd, -1, src, size);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::fsync(fd);
  ::close(fd);
  fs::path dest = PathOf(sha);
  if (fs::exists(dest)) {
    ::unlink(src.c_str());
    return sha;
  }
  fs::create_directories(dest.parent_path());
  ::chmod(src.c_str(), 0444);
  if (::rename(src.c_str(), dest.c_str()) != 0) ThrowErrno("rename " + dest.string());
  FsyncDir(dest.parent_path());
  return sha;
}

void BlobStore::PutFileWithHash(const fs::path& src, const std::string& sha256) {
  if (Has(sha256)) return;
  std::string actual = PutFile(src);
  if (actual != sha256) {
    throw InvalidInput("file " + src.string() + " changed while it was being stored (hash " +
                       actual + ", expected " + sha256 + ")");
  }
}

BlobBatch::BlobBatch(BlobStore& store) : store_(store) { fs::create_directories(store_.TempDir()); }

BlobBatch::~BlobBatch() {
  for (const auto& [sha, tmp] : pending_) ::unlink(tmp.c_str());
}

bool BlobBatch::Has(const std::string& sha) const {
  {
    std::lock_guard lk(mu_);
    if (pending_hashes_.count(sha) != 0) return true;
  }
  return store_.Has(sha);
}

size_t BlobBatch::pending() const {
  std::lock_guard lk(mu_);
  return pending_.size();
}

void BlobBatch::AddTemp(const std::string& sha, fs::path tmp) {
  std::lock_guard lk(mu_);
  if (!pending_hashes_.insert(sha).second) {  // another thread added the same content
    ::unlink(tmp.c_str());
    return;
  }
  pending_.emplace_back(sha, std::move(tmp));
}

std::string BlobBatch::Put(std::string_view data) {
  std::string sha = Sha256Hex(data);
  if (Has(sha)) return sha;
  AddTemp(sha, WriteTemp(store_.TempDir(), data));
  return sha;
}

void BlobBatch::PutFileWithHash(const fs::path& src, const std::string& sha256) {
  if (Has(sha256)) return;
  std::string actual;
  fs::path tmp = CopyToTemp(src, store_.TempDir(), &actual, nullptr, /*sync=*/false);
  if (actual != sha256) {
    ::unlink(tmp.c_str());
    throw InvalidInput("file " + src.string() + " changed while it was being stored (hash " +
                       actual + ", expected " + sha256 + ")");
  }
  AddTemp(sha256, std::move(tmp));
}

std::string BlobBatch::PutOwnedFile(const fs::path& src, uint64_t* size) {
  int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("open " + src.string());
  std::string sha;
  try {
    sha = HashFd(fd, -1, src, size);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (Has(sha)) {
    ::unlink(src.c_str());
    return sha;
  }
  ::chmod(src.c_str(), 0444);
  AddTemp(sha, src);
  return sha;
}

size_t BlobBatch::Commit() {
  std::lock_guard lk(mu_);
  if (pending_.empty()) return 0;
  // 1. The bytes of every temp file, before any of them gets its name.
  const bool whole_fs = pending_.size() >= kSyncfsMin;
  if (whole_fs) {
    SyncFs(store_.TempDir());
  } else {
    for (const auto& [sha, tmp] : pending_) FsyncPath(tmp, /*dir=*/false);
  }
  // 2. Names. A failure here leaves the rest in tmp/ (removed by the destructor); the blobs
  // already renamed are durable in content, and a later Put of them finds them present.
  std::vector<fs::path> dirs;
  bool new_dir = false;
  size_t added = 0;
  for (const auto& [sha, tmp] : pending_) {
    fs::path dest = store_.PathOf(sha);
    std::error_code ec;
    if (fs::exists(dest, ec)) {
      ::unlink(tmp.c_str());
      continue;
    }
    fs::path parent = dest.parent_path();
    if (!fs::is_directory(parent, ec)) {
      fs::create_directories(parent);
      new_dir = true;
    }
    if (::rename(tmp.c_str(), dest.c_str()) != 0) ThrowErrno("rename " + dest.string());
    if (std::find(dirs.begin(), dirs.end(), parent) == dirs.end()) dirs.push_back(parent);
    ++added;
  }
  // 3. The names themselves (and new fan-out directories).
  if (added > 0) {
    if (whole_fs) {
      SyncFs(store_.root());
    } else {
      for (const fs::path& d : dirs) FsyncPath(d, /*dir=*/true);
      if (new_dir) FsyncPath(store_.root(), /*dir=*/true);
    }
  }
  pending_.clear();
  pending_hashes_.clear();
  return added;
}

std::string BlobStore::Get(const std::string& sha) const {
  fs::path p = PathOf(sha);
  if (!fs::exists(p)) throw NotFound("blob " + sha + " not found");
  return ReadFile(p);
}

void BlobStore::CopyTo(const std::string& sha, const fs::path& dest, bool executable) const {
  fs::path p = PathOf(sha);
  if (!fs::exists(p)) throw NotFound("blob " + sha + " not found");
  if (dest.has_parent_path()) fs::create_directories(dest.parent_path());
  std::error_code ec;
  fs::remove(dest, ec);
  fs::copy_file(p, dest, fs::copy_options::overwrite_existing);
  fs::permissions(dest, executable ? fs::perms(0755) : fs::perms(0644));
}

}  // namespace trainyard
