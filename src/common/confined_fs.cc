#include "common/confined_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_openat2{-1};  // -1 unknown, 0 missing, 1 works

int CloseKeepErrno(int fd) {
  int e = errno;
  ::close(fd);
  errno = e;
  return -1;
}

// Splits a '/'-separated relative path; false for absolute paths and '.'/'..'/empty segments.
bool Split(std::string_view rel, std::vector<std::string>* out) {
  size_t i = 0;
  while (i <= rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    std::string_view seg = rel.substr(i, j - i);
    if (seg.empty() || seg == "." || seg == "..") return false;
    out->emplace_back(seg);
    i = j + 1;
  }
  return true;
}

int Openat2(int dirfd, const std::string& rel, int flags, mode_t mode) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

// The segment walk: every directory opened with O_NOFOLLOW relative to the previous one.
int Walk(int rootfd, const std::vector<std::string>& segs, int flags, mode_t mode,
         bool make_parents) {
  int dir = ::fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (dir < 0) return -1;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    int next = ::openat(dir, segs[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && make_parents) {
      if (::mkdirat(dir, segs[i].c_str(), 0755) != 0 && errno != EEXIST) {
        return CloseKeepErrno(dir);
      }
      next = ::openat(dir, segs[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0 && errno == ENOTDIR) {
      struct stat st;
      if (::fstatat(dir, segs[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        errno = ELOOP;
      } else {
        errno = ENOTDIR;
      }
    }
    if (next < 0) return CloseKeepErrno(dir);
    ::close(dir);
    dir = next;
  }
  int fd = ::openat(dir, segs.back().c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return CloseKeepErrno(dir);
  ::close(dir);
  if (flags & O_PATH) {  // O_PATH|O_NOFOLLOW opens a symlink itself instead of failing
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
      ::close(fd);
      errno = ELOOP;
      return -1;
    }
  }
  return fd;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool Openat2Available() {
  if (g_openat2.load() < 0) {
    int fd = Openat2(AT_FDCWD, "/", O_PATH, 0);
    // RESOLVE_BENEATH refuses the absolute path with EXDEV when openat2 exists.
    g_openat2 = (fd >= 0 || errno == EXDEV) ? 1 : 0;
    if (fd >= 0) ::close(fd);
  }
  return g_openat2.load() == 1;
}

void SetOpenat2ForTesting(bool enabled) { g_openat2 = enabled ? -1 : 0; }

int OpenBeneathRaw(const fs::path& root, std::string_view rel, int flags, mode_t mode,
                   bool make_parents) {
  std::vector<std::string> segs;
  if (!rel.empty() && !Split(rel, &segs)) {
    errno = EXDEV;
    return -1;
  }
  int rootfd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0 && errno == ENOENT && make_parents) {
    std::error_code ec;
    fs::create_directories(root, ec);
    rootfd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  if (rootfd < 0) return -1;
  if (segs.empty()) {
    int fd = ::openat(rootfd, ".", flags | O_CLOEXEC, mode);
    if (fd < 0) return CloseKeepErrno(rootfd);
    ::close(rootfd);
    return fd;
  }
  int fd = -1;
  bool done = false;
  if (!make_parents && Openat2Available()) {
    fd = Openat2(rootfd, std::string(rel), flags, mode);
    done = fd >= 0 || (errno != ENOSYS && errno != EPERM);
  }
  if (!done) fd = Walk(rootfd, segs, flags, mode, make_parents);
  if (fd < 0) return CloseKeepErrno(rootfd);
  ::close(rootfd);
  if (done && (flags & O_PATH)) {
    // openat2 with O_PATH|O_NOFOLLOW hands back a descriptor of a trailing symlink itself.
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
      ::close(fd);
      errno = ELOOP;
      return -1;
    }
  }
  return fd;
}

UniqueFd OpenBeneath(const fs::path& root, std::string_view rel, int flags, std::string_view what,
                     mode_t mode, bool make_parents) {
  int fd = OpenBeneathRaw(root, rel, flags, mode, make_parents);
  if (fd >= 0) return UniqueFd(fd);
  int err = errno;
  const std::string w(what);
  switch (err) {
    case ENOENT:
      throw NotFound(w + " does not exist");
    case ELOOP:
    case EXDEV:
      throw InvalidInput(w + " is reached through a symbolic link or leads outside its folder; "
                             "the server does not follow links there",
                         "PathNotConfined");
    case ENOTDIR:
      throw InvalidInput(w + ": a part of the path is a file, not a folder");
    case EISDIR:
      throw InvalidInput(w + " is a folder, not a file");
    case ENAMETOOLONG:
      throw InvalidInput(w + ": the name is too long for the file system");
    default:
      ThrowOsError(err, "open " + w);
  }
}

bool IsRegularFileBeneath(const fs::path& root, std::string_view rel) {
  int fd = OpenBeneathRaw(root, rel, O_PATH);
  if (fd < 0) return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  return ok;
}

std::vector<ConfinedEntry> ListFilesBeneath(const fs::path& root, std::string_view rel,
                                            size_t max_depth, size_t max_entries) {
  std::vector<ConfinedEntry> out;
  const std::string base(rel);
  // Directories still to read, relative to root/rel; each is opened again from root (one fd
  // open at a time, every open confined).
  std::vector<std::pair<std::string, size_t>> todo{{"", 0}};
  size_t dirs_read = 0;
  while (!todo.empty() && dirs_read < max_entries) {
    auto [prefix, depth] = std::move(todo.back());
    todo.pop_back();
    ++dirs_read;
    std::string dir_rel = base;
    if (!prefix.empty())
      dir_rel += (dir_rel.empty() ? "" : "/") + prefix.substr(0, prefix.size() - 1);
    int fd = OpenBeneathRaw(root, dir_rel, O_RDONLY | O_DIRECTORY);
    if (fd < 0) continue;
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      continue;
    }
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      std::string path = prefix + std::string(name);
      if (S_ISREG(st.st_mode)) {
        if (out.size() < max_entries) out.push_back({path, static_cast<uint64_t>(st.st_size)});
      } else if (S_ISDIR(st.st_mode) && depth + 1 < max_depth) {
        todo.emplace_back(path + "/", depth + 1);
      }
    }
    ::closedir(d);
  }
  return out;
}

void WriteAllFd(int fd, std::string_view data, std::string_view what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) ThrowOsError(errno, "write " + std::string(what));
    off += static_cast<size_t>(w);
  }
}

}  // namespace trainyard
