// Datastores: named places that hold a workspace's data files.
//
//   workspaceblobstore  the default datastore (kind "workspace_blob"): a directory in the
//                       workspace store, datastores/workspaceblobstore/, holding a manifest
//                       (manifest.json: relative path -> {sha256, size, modified_utc}); the
//                       bytes live in the content-addressed blob store (objects/), so a file
//                       uploaded twice is stored once.
//   local directories   (kind "local_directory", Datastore.register_local_directory): a
//                       directory on the server's machine, read and written in place.
//
// Registered datastores are assets of kind "datastore" in the metadata store (definition
// {"type", "path"}); workspaceblobstore always exists and is the default.
//
// Thread-safe: manifest updates are serialized by a mutex (one server owns a workspace).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

inline constexpr const char* kDefaultDatastore = "workspaceblobstore";

struct DatastoreInfo {
  std::string name;
  std::string type;            // workspace_blob | local_directory
  std::filesystem::path path;  // local_directory: the directory; workspace_blob: its folder
  bool is_default = false;
  int64_t created = 0;
  nlohmann::json ToJson() const;
};

// A file in a datastore. sha256 is "" for a local-directory file that was not hashed.
struct DatastoreFile {
  std::string path;  // relative, '/'-separated
  std::string sha256;
  uint64_t size = 0;
};

struct UploadCounts {
  size_t added = 0, replaced = 0, skipped = 0;
};

class DatastoreRegistry {
 public:
  DatastoreRegistry(std::filesystem::path data_dir, MetadataStore& store, BlobStore& blobs);

  // NotFound (listing the known names) when absent.
  DatastoreInfo Get(const std::string& name) const;
  std::vector<DatastoreInfo> List() const;
  // Registers an existing local directory. Conflict when the name exists for another path
  // unless overwrite; InvalidInput for a relative or missing directory or a reserved name.
  DatastoreInfo RegisterLocalDirectory(const std::string& name, const std::string& directory,
                                       bool overwrite);

  // Adds files whose blobs are already in the blob store (InvalidInput naming a missing one).
  // Existing paths are skipped unless overwrite (as Azure's upload). Paths are validated
  // (relative, no '..') before anything is written.
  UploadCounts AddFiles(const std::string& name, const std::vector<DatastoreFile>& files,
                        bool overwrite);
  // Every file (workspace_blob: from the manifest; local_directory: a directory walk, not
  // hashed), sorted by path.
  std::vector<DatastoreFile> ListFiles(const std::string& name) const;
  // Where a file's bytes can be read on this machine: the blob, or the file in the directory.
  std::filesystem::path LocalPathOf(const DatastoreInfo& ds, const DatastoreFile& f) const;

 private:
  std::filesystem::path ManifestPath(const std::string& name) const;
  nlohmann::json LoadManifest(const std::string& name) const;

  std::filesystem::path data_dir_;
  MetadataStore& store_;
  BlobStore& blobs_;
  mutable std::mutex mu_;
};

}  // namespace trainyard
