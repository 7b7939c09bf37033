#include "runner/mount_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/util.h"

namespace trainyard {

namespace {

int WriteAll(const char* path, const std::string& data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t w = ::write(fd, data.data(), data.size());
  int err = w == static_cast<ssize_t>(data.size()) ? 0 : (errno ? errno : EIO);
  ::close(fd);
  return err;
}

// Mount flags a read-only remount must keep (a user namespace may not clear locked ones).
unsigned long KeptFlags(const char* path) {
  struct statvfs sv;
  if (::statvfs(path, &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

}  // namespace

ReadOnlyBinds::ReadOnlyBinds(std::vector<std::pair<std::string, std::string>> binds)
    : binds_(std::move(binds)), root_(::geteuid() == 0) {
  uid_map_ = std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1\n";
  gid_map_ = std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1\n";
}

int ReadOnlyBinds::ApplyInChild(const char** step) const {
  if (binds_.empty()) return 0;
  int flags = CLONE_NEWNS | (root_ ? 0 : CLONE_NEWUSER);
  if (::unshare(flags) != 0) {
    *step = root_ ? "unshare(CLONE_NEWNS)" : "unshare(CLONE_NEWUSER|CLONE_NEWNS)";
    return errno;
  }
  if (!root_) {
    // /proc/self/*_map belong to root while the process is not dumpable (e.g. after a uid
    // change); the child execs right after, which sets dumpability anew.
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    int err = WriteAll("/proc/self/setgroups", "deny");
    if (err == 0) err = WriteAll("/proc/self/uid_map", uid_map_);
    if (err == 0) err = WriteAll("/proc/self/gid_map", gid_map_);
    if (err != 0) {
      *step = "writing the user namespace id maps";
      return err;
    }
  }
  // Keep our mounts from propagating back to the host namespace.
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    *step = "mount --make-rprivate /";
    return errno;
  }
  for (const auto& [src, dst] : binds_) {
    if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      *step = "bind mount of a dataset input";
      return errno;
    }
    unsigned long keep = KeptFlags(dst.c_str());
    if (::mount(nullptr, dst.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, nullptr) !=
        0) {
      *step = "read-only remount of a dataset input";
      return errno;
    }
  }
  return 0;
}

bool ReadOnlyBindMountsAvailable(const std::string& scratch_dir, std::string* why) {
  static std::once_flag once;
  static bool ok = false;
  static std::string reason;
  std::call_once(once, [&] {
    namespace fs = std::filesystem;
    if (const char* off = std::getenv("TRAINYARD_DISABLE_MOUNT_NAMESPACE"); off && *off == '1') {
      reason = "disabled by TRAINYARD_DISABLE_MOUNT_NAMESPACE=1";
      return;
    }
    fs::path dir = fs::path(scratch_dir) / (".ro-probe-" + RandomHex(4));
    std::error_code ec;
    fs::create_directories(dir, ec);
    ReadOnlyBinds binds({{dir.string(), dir.string()}});
    std::string probe_file = (dir / "x").string();
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      reason = "pipe failed";
      return;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipefd[0]);
      const char* step = "";
      int err = binds.ApplyInChild(&step);
      if (err == 0) {
        // The mount must refuse writes.
        int fd = ::open(probe_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
          step = "the read-only mount accepted a write";
          err = EPERM;
        } else if (errno != EROFS) {
          step = "probe write";
          err = errno;
        } else {
          err = 0;
        }
      }
      if (err != 0) {
        std::string msg = std::string(step) + ": " + std::strerror(err);
        (void)!::write(pipefd[1], msg.data(), msg.size());
      }
      _exit(err == 0 ? 0 : 1);
    }
    ::close(pipefd[1]);
    char buf[512];
    ssize_t n = pid > 0 ? ::read(pipefd[0], buf, sizeof buf) : 0;
    ::close(pipefd[0]);
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) reason = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "fork failed";
    fs::remove_all(dir, ec);
  });
  if (why) *why = reason;
  return ok;
}

}  // namespace trainyard
