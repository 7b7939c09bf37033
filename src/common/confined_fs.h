// Files the server opens on a client's behalf (run logs, datastore files, ...), confined to a
// root directory: a relative path (already checked by ValidateRelativePath) is resolved
// beneath `root` without following any symbolic link, so neither a ".." that slipped through
// nor a symlink planted inside the tree (a venv's bin/python, a link in a datastore folder)
// can reach a file outside it.
//
// Linux openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS does it
// in one call; where openat2 is unavailable (ENOSYS, or EPERM from a seccomp filter) the path
// is walked one segment at a time with openat(O_NOFOLLOW), which refuses the same things.
//
// Errors (thrown): NotFound (ENOENT), InvalidInput code PathNotConfined (a symlink or an
// escape on the way), InvalidInput (name too long), InsufficientStorage 507 (disk full),
// InternalError otherwise. `what` names the file in messages ("log 'x' of run 'y'").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

// An owned file descriptor (closed on destruction).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Raw form: returns an fd, or -1 with errno set (ELOOP/EXDEV for a symlink or an escape).
// `flags` are open(2) flags (O_CLOEXEC and O_NOFOLLOW are added). With `make_parents`, the
// directories leading to the file are created (mode 0755) beneath root, none followed if it
// is a symlink. An empty `rel` opens root itself.
int OpenBeneathRaw(const std::filesystem::path& root, std::string_view rel, int flags,
                   mode_t mode = 0644, bool make_parents = false);

// Throwing form (see the error list above).
UniqueFd OpenBeneath(const std::filesystem::path& root, std::string_view rel, int flags,
                     std::string_view what, mode_t mode = 0644, bool make_parents = false);

// True when `rel` names a regular file beneath root reached without a symlink.
bool IsRegularFileBeneath(const std::filesystem::path& root, std::string_view rel);

struct ConfinedEntry {
  std::string rel;  // relative to the listed directory, '/'-separated
  uint64_t size = 0;
};

// Regular files under root/rel (recursively), symlinks skipped and never followed. At most
// `max_depth` directory levels and `max_entries` files (the rest is not listed). Missing
// directory: empty.
std::vector<ConfinedEntry> ListFilesBeneath(const std::filesystem::path& root, std::string_view rel,
                                            size_t max_depth = 64, size_t max_entries = 100000);

// Writes all of `data` to fd (EINTR retried). Throws via ThrowOsError (507 when full).
void WriteAllFd(int fd, std::string_view data, std::string_view what);

// Whether openat2 is used (false: the segment walk). For tests and the docs.
bool Openat2Available();
// Tests: force the segment walk (false) or probe again (true).
void SetOpenat2ForTesting(bool enabled);

}  // namespace trainyard
