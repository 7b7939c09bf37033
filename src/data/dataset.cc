#include "data/dataset.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"
#include "data/glob.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

DataContext::DataContext(fs::path dir, MetadataStore& s, BlobStore& b)
    : data_dir(std::move(dir)),
      store(s),
      blobs(b),
      datastores(data_dir, s, b),
      urls(data_dir / "cache", b) {}

namespace {

void Say(const DataLog& log, const std::string& line) {
  if (log) log(line);
}

std::string SourceText(const Json& src) {
  if (src.is_string()) return src.get<std::string>();
  return "(" + src.value("datastore", "") + ", '" + src.value("path", "") + "')";
}

// Adds files of one source, their dataset paths relative to `base`.
void AddFile(Json& files, std::set<std::string>& seen, const std::string& rel, Json entry,
             const Json& src) {
  std::string path = ValidateRelativePath("dataset file path", rel);
  if (!seen.insert(path).second) {
    throw InvalidInput("two files of the dataset have the same path '" + path + "' (source " +
                       SourceText(src) +
                       "); give sources whose files have distinct names, or one folder/glob");
  }
  entry["path"] = path;
  files.push_back(std::move(entry));
}

void ResolveUrl(const std::string& url, bool validate, DataContext& ctx, Json& files,
                std::set<std::string>& seen, const Json& src, const DataLog& log) {
  Json e = {{"source", {{"url", url}}}};
  if (validate) {
    UrlFetchResult r = ctx.urls.Fetch(url, "", log);
    e["sha256"] = r.sha256;
    e["size"] = r.size;
    if (!r.etag.empty()) e["etag"] = r.etag;
    if (!r.last_modified.empty()) e["last_modified"] = r.last_modified;
    if (r.final_url != url) e["final_url"] = r.final_url;
  }
  AddFile(files, seen, UrlFileName(url), std::move(e), src);
}

void ResolveLocal(const std::string& spec, bool validate, DataContext& ctx, Json& files,
                  std::set<std::string>& seen, const Json& src) {
  if (spec.empty() || spec[0] != '/') {
    throw InvalidInput("local dataset path '" + spec +
                       "' must be absolute (the SDK resolves it against the caller's cwd)");
  }
  auto add = [&](const fs::path& file, const std::string& rel) {
    Json e = {{"source", {{"local", file.string()}}}};
    if (validate) {
      uint64_t size = 0;
      e["sha256"] = ctx.blobs.PutFile(file, &size);
      e["size"] = size;
    } else {
      std::error_code ec;
      e["size"] = static_cast<uint64_t>(fs::file_size(file, ec));
    }
    AddFile(files, seen, rel, std::move(e), src);
  };
  std::error_code ec;
  if (!HasGlobChars(spec)) {
    fs::path p(spec);
    if (fs::is_regular_file(p, ec)) {
      add(p, p.filename().string());
      return;
    }
    if (fs::is_directory(p, ec)) {
      auto rels = ExpandGlob(p, "**");
      if (rels.empty()) throw InvalidInput("dataset source folder '" + spec + "' has no files");
      for (const std::string& rel : rels) add(p / rel, rel);
      return;
    }
    throw InvalidInput("dataset source '" + spec + "' does not exist");
  }
  GlobParts parts = SplitGlob(spec.substr(1));
  fs::path base = fs::path("/") / parts.base;
  auto rels = ExpandGlob(base, parts.rest);
  if (rels.empty()) {
    throw InvalidInput("dataset source '" + spec + "' matches no files (pattern '" + parts.rest +
                       "' under " + base.string() + ")");
  }
  for (const std::string& rel : rels) add(base / rel, rel);
}

void ResolveDatastore(const std::string& name, const std::string& pattern_in, bool validate,
                      DataContext& ctx, Json& files, std::set<std::string>& seen, const Json& src) {
  DatastoreInfo ds = ctx.datastores.Get(name);
  std::string pattern = pattern_in;
  while (!pattern.empty() && pattern[0] == '/') pattern.erase(0, 1);
  while (!pattern.empty() && pattern.back() == '/') pattern.pop_back();
  if (!pattern.empty() && pattern != "**") ValidateRelativePath("datastore path", pattern);
  std::vector<DatastoreFile> all = ctx.datastores.ListFiles(name);
  std::string base;
  std::vector<const DatastoreFile*> hits;
  if (pattern.empty() || !HasGlobChars(pattern)) {
    // A file, or a folder (every file under it).
    base = pattern;
    for (const DatastoreFile& f : all) {
      if (f.path == pattern) {
        hits = {&f};
        base = fs::path(pattern).parent_path().generic_string();
        break;
      }
      if (pattern.empty() || f.path.rfind(pattern + "/", 0) == 0) hits.push_back(&f);
    }
  } else {
    GlobParts parts = SplitGlob(pattern);
    base = parts.base;
    for (const DatastoreFile& f : all) {
      if (GlobMatch(pattern, f.path)) hits.push_back(&f);
    }
  }
  if (hits.empty()) {
    throw InvalidInput("dataset source " + SourceText(src) + " matches no files in datastore '" +
                       name + "' (" + std::to_string(all.size()) + " files; upload with " +
                       "datastore.upload or `trainyard datastore upload`)");
  }
  for (const DatastoreFile* f : hits) {
    std::string rel = base.empty() ? f->path : f->path.substr(base.size() + 1);
    Json e = {{"source", {{"datastore", name}, {"path", f->path}}}, {"size", f->size}};
    if (!f->sha256.empty()) {
      e["sha256"] = f->sha256;
    } else if (validate) {
      uint64_t size = 0;
      e["sha256"] = ctx.blobs.PutFile(ctx.datastores.LocalPathOf(ds, *f), &size);
      e["size"] = size;
    }
    AddFile(files, seen, rel, std::move(e), src);
  }
}

Json ValidateOptions(const Json& in) {
  Json o = {
      {"separator", ","}, {"header", true}, {"infer_column_types", true}, {"include_path", false}};
  if (in.is_null()) return o;
  if (!in.is_object()) throw InvalidInput("options must be an object");
  for (auto& [k, v] : in.items()) {
    if (k == "separator") {
      if (!v.is_string() || v.get<std::string>().size() != 1 || v.get<std::string>() == "\"" ||
          v.get<std::string>() == "\n") {
        throw InvalidInput("separator must be one character (not a quote or newline), got " +
                           v.dump());
      }
    } else if (k == "header" || k == "infer_column_types" || k == "include_path") {
      if (!v.is_boolean()) throw InvalidInput(k + " must be true or false, got " + v.dump());
    } else {
      throw InvalidInput("unknown tabular option '" + k +
                         "'; use separator, header, infer_column_types, include_path");
    }
    o[k] = v;
  }
  return o;
}

Json ValidateTransforms(const Json& in) {
  Json out = Json::array();
  if (in.is_null()) return out;
  if (!in.is_array()) throw InvalidInput("transforms must be a list");
  for (const Json& t : in) {
    if (!t.is_object() || t.size() != 1) {
      throw InvalidInput(
          "each transform must be one of {\"keep_columns\": [..]}, "
          "{\"drop_columns\": [..]}, {\"take\": N}; got " +
          t.dump());
    }
    auto it = t.begin();
    if (it.key() == "keep_columns" || it.key() == "drop_columns") {
      if (!it.value().is_array() || it.value().empty()) {
        throw InvalidInput(it.key() + " needs a non-empty list of column names");
      }
      for (const Json& c : it.value()) {
        if (!c.is_string()) throw InvalidInput(it.key() + ": column names must be strings");
      }
    } else if (it.key() == "take") {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0) {
        throw InvalidInput("take needs a non-negative integer, got " + it.value().dump());
      }
    } else {
      throw InvalidInput("unknown transform '" + it.key() +
                         "'; use keep_columns, drop_columns or take");
    }
    out.push_back(t);
  }
  return out;
}

// A readable local path for one file entry; downloads URLs (into the cache) as needed.
fs::path ContentPath(const Json& f, DataContext& ctx, const DataLog& log, bool* downloaded) {
  const std::string sha = f.value("sha256", "");
  if (!sha.empty() && ctx.blobs.Has(sha)) return ctx.blobs.PathOf(sha);
  const Json& src = f.at("source");
  if (src.contains("url")) {
    UrlFetchResult r = ctx.urls.Fetch(src["url"].get<std::string>(), sha, log);
    if (!r.from_cache && downloaded) *downloaded = true;
    if (!sha.empty() && r.sha256 != sha) {
      Say(log, "Warning: the content of " + src["url"].get<std::string>() +
                   " changed since the dataset was created (sha256 " + r.sha256 + ", recorded " +
                   sha + "); using the current content");
    }
    return ctx.blobs.PathOf(r.sha256);
  }
  if (src.contains("local")) {
    fs::path p = src["local"].get<std::string>();
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      throw NotFound("dataset file '" + f.value("path", "") + "' (" + p.string() +
                     ") no longer exists");
    }
    return p;
  }
  if (src.contains("datastore")) {
    DatastoreInfo ds = ctx.datastores.Get(src["datastore"].get<std::string>());
    DatastoreFile df{src.value("path", ""), sha, 0};
    if (ds.type == "local_directory") return ctx.datastores.LocalPathOf(ds, df);  // confined
    throw NotFound("dataset file '" + f.value("path", "") + "': blob " + sha + " of datastore '" +
                   ds.name + "' is missing from the blob store");
  }
  if (src.contains("run")) {
    throw NotFound("dataset file '" + f.value("path", "") + "': file '" + src.value("path", "") +
                   "' of run '" + src["run"].get<std::string>() + "' (blob " + sha +
                   ") is missing from the blob store");
  }
  throw InvalidInput("dataset file '" + f.value("path", "") + "' has no usable source");
}

void CopyFileAtomic(const fs::path& from, const fs::path& dest, int mode) {
  fs::path tmp = dest.parent_path() / ("." + dest.filename().string() + ".tmp-" + RandomHex(4));
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  ::chmod(tmp.c_str(), static_cast<mode_t>(mode));
  fs::rename(tmp, dest);
}

}  // namespace

std::string NewDatasetId() {
  std::string h = RandomHex(16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

Json CreateDatasetDefinition(const Json& request, DataContext& ctx, const DataLog& log) {
  if (!request.is_object()) throw InvalidInput("request body must be a JSON object");
  std::string type = request.value("type", "file");
  if (type != "file" && type != "tabular") {
    throw InvalidInput("dataset type must be 'file' or 'tabular', got '" + type + "'");
  }
  Json paths = request.value("paths", Json(nullptr));
  if (paths.is_string() || paths.is_object()) paths = Json::array({paths});
  if (!paths.is_array() || paths.empty()) {
    throw InvalidInput("path must be a path, a URL, a (datastore, path) tuple or a list of them");
  }
  bool validate = request.value("validate", true);
  Json options =
      type == "tabular" ? ValidateOptions(request.value("options", Json(nullptr))) : Json(nullptr);
  Json files = Json::array();
  std::set<std::string> seen;
  for (const Json& src : paths) {
    if (src.is_string()) {
      const std::string s = src.get<std::string>();
      if (IsHttpUrl(s)) {
        ResolveUrl(s, validate, ctx, files, seen, src, log);
      } else if (s.find("://") != std::string::npos) {
        throw InvalidInput("dataset source '" + s +
                           "': only http(s) URLs, local paths and (datastore, path) are supported");
      } else {
        ResolveLocal(s, validate, ctx, files, seen, src);
      }
    } else if (src.is_object() && src.contains("datastore") && src["datastore"].is_string()) {
      ResolveDatastore(src["datastore"], src.value("path", ""), validate, ctx, files, seen, src);
    } else {
      throw InvalidInput("dataset source " + src.dump() +
                         " must be a path, a URL or {\"datastore\": NAME, \"path\": PATTERN}");
    }
  }
  Json def = {{"type", type}, {"sources", paths}, {"validated", validate}, {"files", files}};
  if (type == "tabular") {
    def["options"] = options;
    def["transforms"] = Json::array();
    if (validate && options["infer_column_types"].get<bool>()) {
      // Types are inferred once, over every row, and recorded: later reads (take(5) too) parse
      // with them instead of guessing from the rows they happen to read.
      DataTable all = LoadTabularDataset(def, ctx, 0, log);
      Json types = Json::object();
      for (const DataColumn& c : all.columns) types[c.name] = ColumnTypeName(c.type);
      def["column_types"] = types;
    } else if (validate) {
      LoadTabularDataset(def, ctx, 1, log);  // parse errors now, not in the run
    }
  }
  return def;
}

Json ValidateDatasetDefinition(const Json& d) {
  if (!d.is_object()) throw InvalidInput("dataset definition must be a JSON object");
  std::string type = d.value("type", "");
  if (type != "file" && type != "tabular") {
    throw InvalidInput("dataset definition type must be 'file' or 'tabular'");
  }
  if (!d.contains("files") || !d["files"].is_array()) {
    throw InvalidInput("dataset definition needs a 'files' list");
  }
  Json out = {{"type", type},
              {"sources", d.value("sources", Json::array())},
              {"validated", d.value("validated", true)},
              {"files", Json::array()}};
  std::set<std::string> seen;
  for (const Json& f : d["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("source") ||
        !f["source"].is_object()) {
      throw InvalidInput("each dataset file needs 'path' and 'source', got " + f.dump());
    }
    std::string p = ValidateRelativePath("dataset file path", f["path"].get<std::string>());
    if (!seen.insert(p).second) throw InvalidInput("duplicate dataset file path '" + p + "'");
    const Json& s = f["source"];
    bool ok =
        (s.contains("url") && s["url"].is_string() && IsHttpUrl(s["url"].get<std::string>())) ||
        (s.contains("local") && s["local"].is_string() &&
         fs::path(s["local"].get<std::string>()).is_absolute()) ||
        (s.contains("datastore") && s["datastore"].is_string() && s.contains("path") &&
         s["path"].is_string()) ||
        // A file a run uploaded (resume_from a run's outputs): its bytes are the blob.
        (s.contains("run") && s["run"].is_string() && s.contains("path") && s["path"].is_string() &&
         f.contains("sha256"));
    if (!ok) throw InvalidInput("dataset file '" + p + "' has an invalid source " + s.dump());
    if (f.contains("sha256") && !IsSha256Hex(f.value("sha256", ""))) {
      throw InvalidInput("dataset file '" + p + "': sha256 must be 64 lowercase hex characters");
    }
    Json e = f;
    e["path"] = p;
    out["files"].push_back(e);
  }
  if (type == "tabular") {
    out["options"] = ValidateOptions(d.value("options", Json(nullptr)));
    out["transforms"] = ValidateTransforms(d.value("transforms", Json(nullptr)));
    if (d.contains("column_types")) {
      const Json& ct = d["column_types"];
      if (!ct.is_object()) throw InvalidInput("column_types must be an object");
      for (auto& [k, v] : ct.items()) {
        if (!v.is_string() || !ParseColumnType(v.get<std::string>())) {
          throw InvalidInput("column_types['" + k +
                             "'] must be int, float, bool, datetime or string");
        }
      }
      out["column_types"] = ct;
    }
  }
  return out;
}

std::string DatasetDefinitionHash(const Json& d) {
  Json key = {{"type", d.value("type", "")}, {"files", Json::array()}};
  for (const Json& f : d.value("files", Json::array())) {
    Json k = {{"path", f.value("path", "")}};
    if (f.contains("sha256")) {
      k["sha256"] = f["sha256"];
    } else {
      k["source"] = f.value("source", Json(nullptr));
    }
    key["files"].push_back(k);
  }
  if (d.contains("options")) key["options"] = d["options"];
  if (d.contains("transforms")) key["transforms"] = d["transforms"];
  return Sha256Hex(key.dump());
}

Json PinDatasetFiles(const Json& definition, DataContext& ctx, const DataLog& log) {
  Json out = Json::array();
  for (const Json& f : definition.value("files", Json::array())) {
    bool downloaded = false;
    fs::path p = ContentPath(f, ctx, log, &downloaded);
    std::string sha = f.value("sha256", "");
    uint64_t size = 0;
    if (sha.empty() || !ctx.blobs.Has(sha) || p != ctx.blobs.PathOf(sha)) {
      if (p.parent_path().parent_path() == ctx.blobs.root()) {
        sha = p.parent_path().filename().string() + p.filename().string();
        std::error_code ec;
        size = fs::file_size(p, ec);
      } else {
        sha = ctx.blobs.PutFile(p, &size);
      }
    } else {
      std::error_code ec;
      size = fs::file_size(p, ec);
    }
    out.push_back({{"path", f["path"]}, {"sha256", sha}, {"size", size}});
  }
  return out;
}

MaterializeStats MaterializeDataset(const Json& definition, const fs::path& dest,
                                    MaterializeMode mode, bool overwrite, DataContext& ctx,
                                    const DataLog& log) {
  MaterializeStats stats;
  std::error_code ec;
  fs::create_directories(dest);
  for (const Json& f : definition.value("files", Json::array())) {
    const std::string rel = ValidateRelativePath("dataset file path", f.value("path", ""));
    const fs::path target = dest / rel;
    if (fs::exists(target, ec) && !overwrite) {
      throw Conflict("'" + target.string() +
                     "' already exists; pass overwrite=True to replace the dataset's files");
    }
    bool downloaded = false;
    fs::path from = ContentPath(f, ctx, log, &downloaded);
    if (downloaded) ++stats.downloaded;
    fs::create_directories(target.parent_path());
    if (mode == MaterializeMode::kMountLinks) {
      fs::remove(target, ec);
      // Blobs are 0444 and the mount is read-only: a hard link is safe and costs nothing.
      if (from.parent_path().parent_path() != ctx.blobs.root() ||
          ::link(from.c_str(), target.c_str()) != 0) {
        CopyFileAtomic(from, target, 0444);
      }
    } else {
      CopyFileAtomic(from, target, mode == MaterializeMode::kReadOnlyCopy ? 0444 : 0644);
    }
    ++stats.files;
    stats.bytes += fs::file_size(target, ec);
  }
  if (mode == MaterializeMode::kReadOnlyCopy) {
    std::vector<fs::path> dirs = {dest};
    for (auto& e : fs::recursive_directory_iterator(dest, ec)) {
      if (e.is_directory(ec)) dirs.push_back(e.path());
    }
    for (const fs::path& d : dirs) ::chmod(d.c_str(), 0555);
  }
  return stats;
}

MaterializeStats MaterializePinnedFiles(const Json& pinned, const BlobStore& blobs,
                                        const fs::path& dest, MaterializeMode mode,
                                        bool overwrite) {
  MaterializeStats stats;
  std::error_code ec;
  fs::create_directories(dest);
  for (const Json& f : pinned) {
    const std::string rel = ValidateRelativePath("dataset file path", f.value("path", ""));
    const std::string sha = f.value("sha256", "");
    if (!IsSha256Hex(sha) || !blobs.Has(sha)) {
      throw NotFound("dataset file '" + rel + "': blob " + sha + " is not in the blob store");
    }
    const fs::path target = dest / rel;
    if (fs::exists(target, ec) && !overwrite) {
      throw Conflict("'" + target.string() + "' already exists");
    }
    const fs::path from = blobs.PathOf(sha);
    fs::create_directories(target.parent_path());
    fs::remove(target, ec);
    if (mode != MaterializeMode::kMountLinks || ::link(from.c_str(), target.c_str()) != 0) {
      CopyFileAtomic(from, target, mode == MaterializeMode::kDownload ? 0644 : 0444);
    }
    ++stats.files;
    stats.bytes += f.value("size", uint64_t{0});
  }
  if (mode == MaterializeMode::kReadOnlyCopy) {
    std::vector<fs::path> dirs = {dest};
    for (auto& e : fs::recursive_directory_iterator(dest, ec)) {
      if (e.is_directory(ec)) dirs.push_back(e.path());
    }
    for (const fs::path& d : dirs) ::chmod(d.c_str(), 0555);
  }
  return stats;
}

void MakeTreeWritable(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return;
  ::chmod(root.c_str(), 0755);
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
  }
}

DataTable LoadTabularDataset(const Json& definition, DataContext& ctx, size_t take,
                             const DataLog& log) {
  if (definition.value("type", "") != "tabular") {
    throw InvalidInput(
        "this is a FileDataset; create a TabularDataset with "
        "Dataset.Tabular.from_delimited_files to read rows");
  }
  Json o = ValidateOptions(definition.value("options", Json(nullptr)));
  Json transforms = ValidateTransforms(definition.value("transforms", Json(nullptr)));
  // Rows needed: the smallest take in the chain bounds what must be read.
  size_t limit = take;
  for (const Json& t : transforms) {
    if (t.contains("take")) {
      size_t n = t["take"].get<size_t>();
      limit = limit ? std::min(limit, n) : n;
    }
  }
  const Json types = definition.value("column_types", Json(nullptr));
  // Without recorded types, inference needs every row: read all, take afterwards.
  if (!types.is_object() && o["infer_column_types"].get<bool>()) limit = 0;
  DataTable all;
  for (const Json& f : definition.value("files", Json::array())) {
    fs::path p = ContentPath(f, ctx, log, nullptr);
    DelimitedOptions opt;
    opt.separator = o["separator"].get<std::string>()[0];
    opt.header = o["header"];
    opt.infer_column_types = o["infer_column_types"].get<bool>() && !types.is_object();
    opt.source_name = f.value("path", "");
    if (limit) opt.max_rows = limit > all.num_rows ? limit - all.num_rows : 1;
    if (fs::path(opt.source_name).extension() == ".gz") {
      throw InvalidInput("dataset file '" + opt.source_name +
                         "' is gzip-compressed; delimited files must be plain text");
    }
    std::string text = ReadFile(p);
    DataTable t = ReadDelimited(text, opt);
    if (types.is_object()) {
      for (DataColumn& c : t.columns) {
        if (types.contains(c.name)) {
          ConvertColumn(c, ParseColumnType(types[c.name].get<std::string>()).value());
        }
      }
    }
    if (o["include_path"].get<bool>()) {
      DataColumn pc;
      pc.name = "Path";
      pc.type = ColumnType::kString;
      pc.values.assign(t.num_rows, CellValue(std::string("/") + opt.source_name));
      t.columns.insert(t.columns.begin(), std::move(pc));
    }
    all.Append(std::move(t));
    if (limit && all.num_rows >= limit) break;
  }
  for (const Json& t : transforms) {
    if (t.contains("keep_columns"))
      all.KeepColumns(t["keep_columns"].get<std::vector<std::string>>());
    if (t.contains("drop_columns"))
      all.DropColumns(t["drop_columns"].get<std::vector<std::string>>());
    if (t.contains("take")) all.Take(t["take"].get<size_t>());
  }
  if (take) all.Take(take);
  return all;
}

Json DataTableToJson(const DataTable& t) {
  Json cols = Json::array();
  for (const DataColumn& c : t.columns) {
    Json values = Json::array();
    for (const CellValue& v : c.values) {
      if (auto* i = std::get_if<int64_t>(&v)) {
        values.push_back(*i);
      } else if (auto* d = std::get_if<double>(&v)) {
        values.push_back(std::isfinite(*d) ? Json(*d) : Json(nullptr));
      } else if (auto* b = std::get_if<bool>(&v)) {
        values.push_back(*b);
      } else if (auto* s = std::get_if<std::string>(&v)) {
        values.push_back(*s);
      } else {
        values.push_back(nullptr);
      }
    }
    cols.push_back({{"name", c.name}, {"type", ColumnTypeName(c.type)}, {"values", values}});
  }
  return {{"num_rows", t.num_rows}, {"columns", cols}};
}

Json DatasetJson(const AssetRecord& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"version", a.version},
          {"description", a.description},
          {"tags", a.tags},
          {"created_utc", FormatIsoTime(a.created)},
          {"type", a.definition.value("type", "file")},
          {"definition", a.definition},
          {"definition_hash", a.definition_hash}};
}

}  // namespace trainyard
