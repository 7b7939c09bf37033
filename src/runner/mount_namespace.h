// Read-only views of dataset inputs for a run's process: a private mount namespace (a user
// namespace first when not root) in which each mounted input is bind-mounted read-only, so the
// script cannot write to it even as root (file modes alone would not stop root). The namespace
// dies with the process tree; nothing is visible outside it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace trainyard {

// Prepared before fork (no allocation happens in the child).
class ReadOnlyBinds {
 public:
  // (source, target) directories; target must exist. Same path twice = make it read-only.
  explicit ReadOnlyBinds(std::vector<std::pair<std::string, std::string>> binds);
  bool empty() const { return binds_.empty(); }
  // Call in the forked child before exec: unshare + mounts. Returns 0, or the errno of the
  // failing step with *step naming it (a static string).
  int ApplyInChild(const char** step) const;

 private:
  std::vector<std::pair<std::string, std::string>> binds_;
  bool root_;
  std::string uid_map_, gid_map_;
};

// Whether read-only bind mounts work here (forks a probe child once per process and caches
// the answer). `why` gets the reason when they do not. TRAINYARD_DISABLE_MOUNT_NAMESPACE=1
// forces "no" (to exercise the read-only-copy fallback).
bool ReadOnlyBindMountsAvailable(const std::string& scratch_dir, std::string* why);

}  // namespace trainyard
