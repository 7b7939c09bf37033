#include "runner/snapshot_builder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "env/process.h"
#include "runner/ignore_rules.h"
#include "store/blob_store.h"

namespace trainyard {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr char kIgnoreAdvice[] =
    "Exclude what the run does not need (data, checkpoints, virtual environments, outputs) with "
    "a .amlignore or .gitignore file in the source directory (same syntax as .gitignore; "
    ".amlignore wins when both exist), or keep large data in a dataset instead of the source "
    "directory.";

std::string FormatMb(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

struct PendingFile {
  std::string rel;
  uint64_t size = 0;
  bool executable = false;
};

// First pass: walks the tree with *at() calls, applies the ignore rules and the limits, and
// collects the files to store. Writes nothing.
class TreeWalker {
 public:
  TreeWalker(std::string root, std::string display, const SnapshotOptions& options,
             SnapshotResult* result)
      : root_(std::move(root)), display_(std::move(display)), options_(options), result_(result) {}

  void Walk() {
    int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      throw InvalidInput("cannot snapshot source directory '" + display_ +
                         "': " + std::strerror(errno));
    }
    char* real = ::realpath(root_.c_str(), nullptr);
    if (real != nullptr) {
      real_root_ = real;
      std::free(real);
    }
    WalkDir(fd, "", 0);
    result_->ignore_files = rules_.sources();
  }

  std::vector<PendingFile>& files() { return files_; }
  uint64_t total_bytes() const { return total_; }

 private:
  std::string Abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  // Directory levels a snapshot may have: the walk recurses (one open descriptor per level),
  // so a source tree nested deeper is refused instead of exhausting descriptors or the stack.
  static constexpr int kMaxDepth = 128;

  void WalkDir(int fd, const std::string& rel, int depth) {
    if (depth > kMaxDepth) {
      ::close(fd);
      throw InvalidInput("source directory '" + display_ + "' is nested deeper than " +
                         std::to_string(kMaxDepth) + " folders at '" + rel.substr(0, 200) +
                         "...'; add the deep part to .amlignore");
    }
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      ThrowErrno("fdopendir " + Abs(rel));
    }
    std::vector<std::pair<std::string, unsigned char>> names;
    bool has_ignore_file = false;
    errno = 0;
    while (dirent* e = ::readdir(dir)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      if (name == ".amlignore" || name == ".gitignore") has_ignore_file = true;
      names.emplace_back(std::string(name), e->d_type);
    }
    try {
      if (has_ignore_file) rules_.AddDirectory(Abs(rel), rel);
      for (const auto& [name, type] : names) Visit(::dirfd(dir), rel, name, type, depth);
    } catch (...) {
      ::closedir(dir);
      throw;
    }
    ::closedir(dir);
  }

  void Visit(int dfd, const std::string& rel, const std::string& name, unsigned char type,
             int depth) {
    if (IgnoreRules::IsAlwaysIgnored(name)) return;
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (type != DT_DIR) {
      if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        result_->skipped.push_back(child + ": " + std::strerror(errno));
        return;
      }
    }
    if (type == DT_DIR || (type != DT_LNK && S_ISDIR(st.st_mode))) {
      if (rules_.IsIgnoredEntry(child, true)) return;
      int cfd = ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) {
        if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) return;  // changed under us
        throw InvalidInput("cannot read directory '" + child + "' in source directory '" +
                           display_ + "': " + std::strerror(errno) +
                           " (fix its permissions or add it to .amlignore)");
      }
      WalkDir(cfd, child, depth + 1);
      return;
    }
    if (rules_.IsIgnoredEntry(child, false)) return;
    if (S_ISLNK(st.st_mode)) {
      if (!FollowLink(child, &st)) return;
    } else if (!S_ISREG(st.st_mode)) {
      result_->skipped.push_back(child + ": not a regular file");
      return;
    }
    Add(child, st);
  }

  // Accepts a symlink to a regular file inside the tree; `st` becomes the target's stat.
  bool FollowLink(const std::string& child, struct stat* st) {
    std::string abs = Abs(child);
    if (::stat(abs.c_str(), st) != 0) {
      result_->skipped.push_back(child + ": dangling symlink");
      return false;
    }
    if (S_ISDIR(st->st_mode)) {
      result_->skipped.push_back(child + ": symlink to a directory");
      return false;
    }
    if (!S_ISREG(st->st_mode)) {
      result_->skipped.push_back(child + ": symlink to something that is not a regular file");
      return false;
    }
    char* real = ::realpath(abs.c_str(), nullptr);
    bool inside = real != nullptr && !real_root_.empty() &&
                  std::string_view(real).substr(0, real_root_.size() + 1) == real_root_ + "/";
    std::free(real);
    if (!inside) {
      result_->skipped.push_back(child + ": symlink to a file outside the source directory");
      return false;
    }
    return true;
  }

  void Add(const std::string& child, const struct stat& st) {
    if (files_.size() >= options_.max_files) {
      throw PayloadTooLarge("While attempting to take snapshot of " + display_ +
                                "\nYour snapshot has more than " +
                                std::to_string(options_.max_files) + " files. " + kIgnoreAdvice,
                            "SnapshotTooLarge");
    }
    total_ += static_cast<uint64_t>(st.st_size);
    if (total_ > options_.max_total_bytes) {
      throw PayloadTooLarge("While attempting to take snapshot of " + display_ +
                                "\nYour total snapshot size exceeds the limit of " +
                                FormatMb(options_.max_total_bytes) + ". " + kIgnoreAdvice,
                            "SnapshotTooLarge");
    }
    files_.push_back({child, static_cast<uint64_t>(st.st_size), (st.st_mode & S_IXUSR) != 0});
  }

  std::string root_;
  std::string real_root_;
  std::string display_;
  const SnapshotOptions& options_;
  SnapshotResult* result_;
  IgnoreRules rules_;
  std::vector<PendingFile> files_;
  uint64_t total_ = 0;
};

// Hashes one file; when it fits in `buf` its bytes are left at the start of it (*whole = true,
// *size bytes) so a missing blob can be stored without reading the file again.
std::string HashFile(const std::string& path, std::string* buf, uint64_t* size, bool* whole) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw InvalidInput("cannot read source file '" + path + "': " + std::strerror(errno) +
                       " (fix its permissions or add it to .amlignore)");
  }
  Sha256 sha;
  uint64_t total = 0;
  size_t filled = 0;
  *whole = true;
  for (;;) {
    if (filled == buf->size()) {
      sha.Update(buf->data(), filled);
      filled = 0;
      *whole = false;
    }
    ssize_t n = ::read(fd, buf->data() + filled, buf->size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw InvalidInput("cannot read source file '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  sha.Update(buf->data(), filled);
  *size = total;
  return sha.FinalHex();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// "https://user:token@host/x.git" -> "https://host/x.git"; scp-like "git@host:x" is kept.
std::string StripUserInfo(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t host = scheme + 3;
  size_t at = url.find('@', host);
  size_t slash = url.find('/', host);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

// True when a `git status --porcelain` line is about Trainyard's own workspace folder.
bool IsTrainyardStatusLine(std::string_view line) {
  std::string_view path = line.size() > 3 ? line.substr(3) : "";
  return path.substr(0, 11) == ".trainyard/" || path == ".trainyard" ||
         path.find("/.trainyard/") != std::string_view::npos;
}

}  // namespace

SnapshotBuilder::SnapshotBuilder(BlobStore& store, SnapshotOptions options)
    : store_(store), options_(options) {}

SnapshotResult SnapshotBuilder::Build(const fs::path& source_dir) const {
  SnapshotResult result;
  std::string root = source_dir.string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.empty()) root = ".";
  TreeWalker walker(root, source_dir.string(), options_, &result);
  walker.Walk();

  std::vector<PendingFile>& pending = walker.files();
  std::sort(pending.begin(), pending.end(),
            [](const PendingFile& a, const PendingFile& b) { return a.rel < b.rel; });
  result.files.reserve(pending.size());
  std::string buf(256 * 1024, '\0');
  // One durability point for the whole snapshot (BlobBatch): thousands of small files cost two
  // syncfs calls instead of two fsyncs each. The manifest is renamed into place last, and the
  // snapshot id is returned only once everything is durable.
  BlobBatch batch(store_);
  for (const PendingFile& f : pending) {
    std::string path = root + "/" + f.rel;
    uint64_t size = 0;
    bool whole = false;
    std::string sha = HashFile(path, &buf, &size, &whole);
    if (!batch.Has(sha)) {
      if (whole) {
        batch.Put(std::string_view(buf.data(), size));
      } else {
        batch.PutFileWithHash(path, sha);
      }
      ++result.new_blobs;
    }
    result.total_bytes += size;
    result.files.push_back({f.rel, std::move(sha), size, f.executable});
  }
  std::string manifest = ManifestToString(result.files);
  result.snapshot_id = Sha256Hex(manifest);
  if (!batch.Has(result.snapshot_id)) {
    batch.Put(manifest);
    ++result.new_blobs;
  }
  batch.Commit();
  return result;
}

json ManifestToJson(const std::vector<SnapshotFile>& files) {
  json arr = json::array();
  for (const SnapshotFile& f : files) {
    arr.push_back(
        {{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"executable", f.executable}});
  }
  return json{{"files", std::move(arr)}, {"version", 1}};
}

std::string ManifestToString(const std::vector<SnapshotFile>& files) {
  return ManifestToJson(files).dump();
}

std::vector<SnapshotFile> ParseManifest(const json& manifest) {
  const json* arr = &manifest;
  if (manifest.is_object()) {
    auto it = manifest.find("files");
    if (it == manifest.end()) throw InvalidInput("snapshot manifest: missing 'files'");
    arr = &*it;
  }
  if (!arr->is_array()) throw InvalidInput("snapshot manifest: 'files' must be an array");
  std::vector<SnapshotFile> files;
  files.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& e = (*arr)[i];
    std::string where = "snapshot manifest files[" + std::to_string(i) + "]";
    if (!e.is_object()) throw InvalidInput(where + ": must be an object");
    SnapshotFile f;
    auto path = e.find("path");
    auto sha = e.find("sha256");
    auto size = e.find("size");
    auto exec = e.find("executable");
    if (path == e.end() || !path->is_string())
      throw InvalidInput(where + ".path: must be a string");
    f.path = ValidateRelativePath(where + ".path", path->get<std::string>());
    if (sha == e.end() || !sha->is_string() || !IsSha256Hex(sha->get<std::string>())) {
      throw InvalidInput(where + ".sha256: must be 64 lowercase hex digits");
    }
    f.sha256 = sha->get<std::string>();
    if (size == e.end() || !size->is_number_integer() ||
        (!size->is_number_unsigned() && size->get<int64_t>() < 0)) {
      throw InvalidInput(where + ".size: must be a non-negative integer");
    }
    f.size = size->get<uint64_t>();
    if (exec != e.end() && !exec->is_null()) {
      if (!exec->is_boolean()) throw InvalidInput(where + ".executable: must be a boolean");
      f.executable = exec->get<bool>();
    }
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(),
            [](const SnapshotFile& a, const SnapshotFile& b) { return a.path < b.path; });
  std::set<std::string_view> paths;
  for (const SnapshotFile& f : files) {
    if (!paths.insert(f.path).second) {
      throw InvalidInput("snapshot manifest: duplicate path '" + f.path + "'");
    }
  }
  for (const SnapshotFile& f : files) {
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      if (paths.count(std::string_view(f.path).substr(0, slash)) != 0) {
        throw InvalidInput("snapshot manifest: '" + f.path + "' is inside '" +
                           f.path.substr(0, slash) + "', which is a file");
      }
    }
  }
  return files;
}

std::vector<SnapshotFile> LoadManifest(const BlobStore& store, const std::string& snapshot_id) {
  if (!IsSha256Hex(snapshot_id)) {
    throw InvalidInput("invalid snapshot id '" + snapshot_id + "': expected 64 hex digits");
  }
  if (!store.Has(snapshot_id)) throw NotFound("snapshot " + snapshot_id + " not found");
  json j = json::parse(store.Get(snapshot_id), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InvalidInput("snapshot " + snapshot_id + " is not a JSON manifest");
  return ParseManifest(j);
}

void RestoreSnapshot(const BlobStore& store, const std::vector<SnapshotFile>& files,
                     const fs::path& dest_dir) {
  fs::create_directories(dest_dir);
  for (const SnapshotFile& f : files) {
    std::string rel = ValidateRelativePath("snapshot file path", f.path);
    store.CopyTo(f.sha256, dest_dir / rel, f.executable);
  }
}

json GitInfo::ToJson() const {
  return json{{"repository", repository}, {"branch", branch}, {"commit", commit}, {"dirty", dirty}};
}

std::optional<GitInfo> DetectGit(const fs::path& dir) {
  // Cheap pre-check, so that submitting from outside any repository spawns no git process:
  // a work tree has a .git entry (directory, or file for worktrees) in it or a parent.
  if (const char* gd = std::getenv("GIT_DIR"); gd == nullptr || *gd == '\0') {
    std::error_code ec;
    bool found = false;
    for (fs::path p = fs::absolute(dir, ec); !p.empty(); p = p.parent_path()) {
      if (fs::exists(p / ".git", ec)) {
        found = true;
        break;
      }
      if (p == p.parent_path()) break;
    }
    if (!found) return std::nullopt;
  }
  std::optional<fs::path> git = FindExecutable("git");
  if (!git) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto run = [&](std::vector<std::string> args, std::string* out) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    ProcessOptions o;
    o.argv = {git->string(), "-C", dir.string()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = {{"GIT_OPTIONAL_LOCKS", "0"}, {"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
    o.merge_stderr = false;
    o.capture = true;
    o.tail_lines = 0;
    o.timeout = left;
    try {
      ProcessResult r = RunProcess(o);
      if (!r.ok()) return false;
      *out = Trim(std::move(r.output));
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  std::string top;
  if (!run({"rev-parse", "--show-toplevel"}, &top) || top.empty()) return std::nullopt;
  GitInfo info;
  run({"symbolic-ref", "--short", "-q", "HEAD"}, &info.branch);
  run({"rev-parse", "-q", "--verify", "HEAD"}, &info.commit);
  std::string url;
  info.repository = run({"config", "--get", "remote.origin.url"}, &url) && !url.empty()
                        ? StripUserInfo(url)
                        : top;
  std::string status;
  if (run({"status", "--porcelain", "--untracked-files=normal"}, &status)) {
    size_t pos = 0;
    while (pos < status.size() && !info.dirty) {
      size_t nl = status.find('\n', pos);
      if (nl == std::string::npos) nl = status.size();
      std::string_view line(status.data() + pos, nl - pos);
      if (!line.empty() && !IsTrainyardStatusLine(line)) info.dirty = true;
      pos = nl + 1;
    }
  } else {
    info.dirty = true;  // could not tell (e.g. status too slow): do not claim a clean tree
  }
  return info;
}

}  // namespace trainyard
