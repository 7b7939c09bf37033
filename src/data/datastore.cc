#include "data/datastore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/confined_fs.h"
#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

Json DatastoreInfo::ToJson() const {
  return {{"name", name},
          {"type", type},
          {"datastore_type", type == "local_directory" ? "LocalDirectory" : "AzureBlob"},
          {"path", path.string()},
          {"is_default", is_default},
          {"created_utc", created ? Json(FormatIsoTime(created)) : Json(nullptr)}};
}

namespace {

// Copies a blob into `rel` beneath a local datastore's directory: a temp file next to it, then
// a rename, both confined (no symlink inside the datastore is followed, nothing lands outside).
// Returns whether the file existed before.
bool WriteBeneath(const fs::path& root, const std::string& rel, const fs::path& blob,
                  bool overwrite, bool* skipped) {
  size_t slash = rel.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  const std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
  const std::string what = "datastore file '" + rel + "'";
  const std::string tmp_leaf = "." + leaf.substr(0, 200) + ".tmp-" + RandomHex(4);
  const std::string tmp_rel = parent.empty() ? tmp_leaf : parent + "/" + tmp_leaf;
  UniqueFd dir = OpenBeneath(root, parent, O_PATH | O_DIRECTORY, what, 0755, true);
  struct stat st {};
  bool exists = ::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  *skipped = exists && !overwrite;
  if (*skipped) return exists;
  {
    UniqueFd out = OpenBeneath(root, tmp_rel, O_WRONLY | O_CREAT | O_EXCL, what, 0644, true);
    UniqueFd in(::open(blob.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) ThrowErrno("open " + blob.string());
    char buf[1 << 16];
    try {
      for (;;) {
        ssize_t r = ::read(in.get(), buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) ThrowErrno("read " + blob.string());
        if (r == 0) break;
        WriteAllFd(out.get(), std::string_view(buf, static_cast<size_t>(r)), what);
      }
    } catch (...) {
      ::unlinkat(dir.get(), tmp_leaf.c_str(), 0);
      throw;
    }
  }
  if (::renameat(dir.get(), tmp_leaf.c_str(), dir.get(), leaf.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir.get(), tmp_leaf.c_str(), 0);
    ThrowOsError(err, "rename into " + what);
  }
  return exists;
}

}  // namespace

DatastoreRegistry::DatastoreRegistry(fs::path data_dir, MetadataStore& store, BlobStore& blobs)
    : data_dir_(std::move(data_dir)), store_(store), blobs_(blobs) {}

fs::path DatastoreRegistry::ManifestPath(const std::string& name) const {
  return data_dir_ / "datastores" / name / "manifest.json";
}

DatastoreInfo DatastoreRegistry::Get(const std::string& name) const {
  ValidateName("datastore name", name);
  DatastoreInfo info;
  info.name = name;
  if (name == kDefaultDatastore) {
    info.type = "workspace_blob";
    info.path = data_dir_ / "datastores" / name;
    info.is_default = true;
    return info;
  }
  auto a = store_.GetAsset("datastore", name, 0);
  if (!a) {
    std::string known = kDefaultDatastore;
    for (const AssetRecord& r : store_.ListAssets("datastore", "", true)) known += ", " + r.name;
    throw NotFound("datastore '" + name + "' not found; this workspace has: " + known);
  }
  info.type = a->definition.value("type", "local_directory");
  info.path = a->definition.value("path", "");
  info.created = a->created;
  return info;
}

std::vector<DatastoreInfo> DatastoreRegistry::List() const {
  std::vector<DatastoreInfo> out = {Get(kDefaultDatastore)};
  for (const AssetRecord& r : store_.ListAssets("datastore", "", true)) out.push_back(Get(r.name));
  return out;
}

DatastoreInfo DatastoreRegistry::RegisterLocalDirectory(const std::string& name,
                                                        const std::string& directory,
                                                        bool overwrite) {
  ValidateName("datastore name", name);
  if (name == kDefaultDatastore) {
    throw InvalidInput("'" + name + "' is the workspace's default datastore; choose another name");
  }
  fs::path dir(directory);
  if (directory.empty() || !dir.is_absolute()) {
    throw InvalidInput("datastore directory '" + directory +
                       "' must be an absolute path (the SDK resolves it against the caller's cwd)");
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InvalidInput("datastore directory '" + directory +
                       "' does not exist or is not a directory");
  }
  dir = fs::canonical(dir);
  AssetRecord a;
  a.kind = "datastore";
  a.name = name;
  a.id = "datastore:" + name;
  a.definition = {{"type", "local_directory"}, {"path", dir.string()}};
  a.definition_hash = Sha256Hex(a.definition.dump());
  auto existing = store_.GetAsset("datastore", name, 0);
  if (existing && existing->definition_hash != a.definition_hash) {
    if (!overwrite) {
      throw Conflict("datastore '" + name + "' is already registered for " +
                     existing->definition.value("path", "") +
                     "; pass overwrite=True to point it at " + dir.string());
    }
    a.id = "datastore:" + name + ":" + RandomHex(4);
  }
  store_.PutAsset(a, AssetVersioning::kNewIfChanged, nullptr);
  return Get(name);
}

Json DatastoreRegistry::LoadManifest(const std::string& name) const {
  fs::path p = ManifestPath(name);
  std::error_code ec;
  if (!fs::exists(p, ec)) return Json::object();
  Json j = Json::parse(ReadFile(p), nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object()) {
    throw InternalError("the manifest of datastore '" + name + "' (" + p.string() + ") is damaged");
  }
  return j["files"];
}

UploadCounts DatastoreRegistry::AddFiles(const std::string& name,
                                         const std::vector<DatastoreFile>& files, bool overwrite) {
  DatastoreInfo ds = Get(name);
  std::vector<DatastoreFile> clean;
  for (const DatastoreFile& f : files) {
    DatastoreFile c = f;
    c.path = ValidateRelativePath("datastore file path", f.path);
    if (!IsSha256Hex(c.sha256)) {
      throw InvalidInput("file '" + c.path + "': sha256 must be 64 lowercase hex characters");
    }
    if (!blobs_.Has(c.sha256)) {
      throw InvalidInput("file '" + c.path + "': blob " + c.sha256 +
                         " has not been uploaded (PUT /api/v1/blobs/{sha256} first)");
    }
    clean.push_back(std::move(c));
  }
  UploadCounts counts;
  std::lock_guard lk(mu_);
  if (ds.type == "local_directory") {
    for (const DatastoreFile& f : clean) {
      bool skipped = false;
      bool exists = WriteBeneath(ds.path, f.path, blobs_.PathOf(f.sha256), overwrite, &skipped);
      if (skipped) {
        ++counts.skipped;
        continue;
      }
      ++(exists ? counts.replaced : counts.added);
    }
    return counts;
  }
  Json manifest = LoadManifest(name);
  const std::string now = FormatIsoTime(NowMillis());
  for (const DatastoreFile& f : clean) {
    bool exists = manifest.contains(f.path);
    if (exists && !overwrite) {
      ++counts.skipped;
      continue;
    }
    manifest[f.path] = {{"sha256", f.sha256}, {"size", f.size}, {"modified_utc", now}};
    ++(exists ? counts.replaced : counts.added);
  }
  if (counts.added + counts.replaced > 0) {
    fs::create_directories(ManifestPath(name).parent_path());
    WriteFileAtomic(ManifestPath(name), Json{{"files", manifest}}.dump() + "\n");
  }
  return counts;
}

std::vector<DatastoreFile> DatastoreRegistry::ListFiles(const std::string& name) const {
  DatastoreInfo ds = Get(name);
  std::vector<DatastoreFile> out;
  if (ds.type == "local_directory") {
    // Symlinks are skipped: a datastore's files are the regular files beneath its folder.
    for (ConfinedEntry& e : ListFilesBeneath(ds.path, "", 64, 1000000)) {
      out.push_back({std::move(e.rel), "", e.size});
    }
  } else {
    std::lock_guard lk(mu_);
    const Json manifest = LoadManifest(name);
    for (auto& [path, f] : manifest.items()) {
      out.push_back({path, f.value("sha256", ""), f.value("size", uint64_t{0})});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const DatastoreFile& a, const DatastoreFile& b) { return a.path < b.path; });
  return out;
}

fs::path DatastoreRegistry::LocalPathOf(const DatastoreInfo& ds, const DatastoreFile& f) const {
  if (ds.type == "local_directory") {
    // Checked beneath the folder without following symlinks (the caller then opens the path).
    std::string rel = ValidateRelativePath("datastore file path", f.path);
    OpenBeneath(ds.path, rel, O_PATH, "file '" + rel + "' of datastore '" + ds.name + "'");
    if (!IsRegularFileBeneath(ds.path, rel)) {
      throw InvalidInput("file '" + rel + "' of datastore '" + ds.name + "' is not a regular file");
    }
    return ds.path / rel;
  }
  return blobs_.PathOf(f.sha256);
}

}  // namespace trainyard
