// Datasets: FileDataset and TabularDataset definitions, their resolution to files, and their
// materialization on a compute node.
//
// A dataset definition (JSON, stored with each registered version; docs/REST.md "Datasets"):
//   {"type": "file" | "tabular",
//    "sources": [<what the user passed: "path/or/glob" | "http://..." |
//                 {"datastore": NAME, "path": "pattern"}>],
//    "validated": true,
//    "files": [{"path": "rel/name.csv",                       // path inside the dataset
//               "source": {"url": U} | {"datastore": D, "path": P} | {"local": ABS},
//               "sha256": "...", "size": N,                  // absent when not validated
//               "etag": "...", "last_modified": "..."}],      // URLs
//    "options": {"separator": ",", "header": true, "infer_column_types": true,
//                "include_path": false},                       // tabular only
//    "transforms": [{"keep_columns": [..]} | {"drop_columns": [..]} | {"take": N}]}
//
// Creating a definition (validate=True) resolves every source now: globs ('*', '?', '[..]',
// '**') are expanded, local files are copied into the blob store, URLs are downloaded once
// into the shared cache (url_cache.h) and their checksums recorded, and an empty match is an
// error naming the source. With validate=False only globs are expanded; content is read (and
// URLs fetched) when the dataset is consumed. Paths inside the dataset are relative to each
// source's non-wildcard base ('data/**/*.csv' -> 'a/x.csv' for data/a/x.csv; a single file
// or URL -> its file name); two files with the same dataset path are an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/csv_reader.h"
#include "data/datastore.h"
#include "data/url_cache.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

using DataLog = std::function<void(std::string_view)>;

// What dataset operations need: the stores of one workspace (the server's, or the agent's on
// the same machine).
struct DataContext {
  DataContext(std::filesystem::path data_dir, MetadataStore& store, BlobStore& blobs);
  std::filesystem::path data_dir;
  MetadataStore& store;
  BlobStore& blobs;
  DatastoreRegistry datastores;
  UrlCache urls;
};

// Builds a definition from {"type", "paths": [..], "validate": bool, "options": {..}}.
// Throws InvalidInput naming the bad source (no match, bad URL, unknown datastore...) and
// UrlFetchFailed for a URL that cannot be downloaded.
nlohmann::json CreateDatasetDefinition(const nlohmann::json& request, DataContext& ctx,
                                       const DataLog& log = {});

// Checks a definition sent back by a client (structure, relative paths, transforms) and
// returns it normalized. Throws InvalidInput.
nlohmann::json ValidateDatasetDefinition(const nlohmann::json& definition);

// The canonical hash of what a definition reads (files with their checksums or sources,
// options, transforms): equal hashes mean the same data.
std::string DatasetDefinitionHash(const nlohmann::json& definition);

// Makes sure every file's content is in the blob store (downloading URLs, copying
// unvalidated local files) and returns [{path, sha256, size}] in dataset order.
nlohmann::json PinDatasetFiles(const nlohmann::json& definition, DataContext& ctx,
                               const DataLog& log = {});

enum class MaterializeMode {
  kDownload,      // writable copies
  kMountLinks,    // hard links to the blobs (to be bind-mounted read-only), copies if needed
  kReadOnlyCopy,  // copies with modes 0444/0555 (when no read-only mount is possible)
};

struct MaterializeStats {
  size_t files = 0;
  uint64_t bytes = 0;
  size_t downloaded = 0;  // URL files transferred now
};

// Writes the dataset's files under `dest` (created; must be empty or absent unless
// `overwrite`, which replaces same-named files). Nothing partial is left at a file's final
// name (temp + rename).
MaterializeStats MaterializeDataset(const nlohmann::json& definition,
                                    const std::filesystem::path& dest, MaterializeMode mode,
                                    bool overwrite, DataContext& ctx, const DataLog& log = {});

// Like MaterializeDataset for the answer of PinDatasetFiles ([{path, sha256, size}]) whose
// blobs are all in `blobs` (the agent's path: the server pinned the content first).
MaterializeStats MaterializePinnedFiles(const nlohmann::json& pinned, const BlobStore& blobs,
                                        const std::filesystem::path& dest, MaterializeMode mode,
                                        bool overwrite);

// Makes a tree written with kReadOnlyCopy removable again (directories 0755).
void MakeTreeWritable(const std::filesystem::path& root);

// A tabular definition's rows (all files, in order, with its options and transforms applied).
// `take` (0 = all) limits rows after the definition's own transforms.
DataTable LoadTabularDataset(const nlohmann::json& definition, DataContext& ctx, size_t take,
                             const DataLog& log = {});

// {"num_rows", "columns": [{"name", "type", "values": [...]}]} (missing -> null, datetimes
// as ISO strings).
nlohmann::json DataTableToJson(const DataTable& table);

// The JSON object of a registered dataset version (REST).
nlohmann::json DatasetJson(const AssetRecord& a);

// A new dataset id (GUID-shaped, as Azure's).
std::string NewDatasetId();

}  // namespace trainyard
