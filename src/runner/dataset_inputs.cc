#include "runner/dataset_inputs.h"

#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "common/util.h"
#include "data/dataset.h"
#include "runner/mount_namespace.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

Json DatasetInputs::Substitute(const Json& arguments) const {
  Json out = Json::array();
  for (const Json& a : arguments) {
    if (a.is_object() && a.contains("dataset_input") && a["dataset_input"].is_string()) {
      auto it = paths.find(a["dataset_input"].get<std::string>());
      out.push_back(it != paths.end() ? it->second : a["dataset_input"].get<std::string>());
    } else {
      out.push_back(a);
    }
  }
  return out;
}

void DatasetInputs::Cleanup() const {
  if (inputs_dir.empty()) return;
  MakeTreeWritable(inputs_dir);
  std::error_code ec;
  fs::remove_all(inputs_dir, ec);
}

DatasetInputs PrepareDatasetInputs(const Json& def, const BlobStore& blobs, const fs::path& run_dir,
                                   const fs::path& workdir,
                                   const std::function<Json(const Json&)>& pin,
                                   const std::function<void(const std::string&)>& log) {
  DatasetInputs out;
  const Json inputs = def.value("inputs", Json::array());
  if (!inputs.is_array() || inputs.empty()) return out;
  out.inputs_dir = run_dir / "inputs";
  MakeTreeWritable(out.inputs_dir);
  std::error_code ec;
  fs::remove_all(out.inputs_dir, ec);
  fs::create_directories(out.inputs_dir);
  bool need_ro = false;
  for (const Json& in : inputs) need_ro = need_ro || in.value("mode", "") == "mount";
  std::string why;
  bool ro_mounts = need_ro && ReadOnlyBindMountsAvailable(run_dir.string(), &why);
  if (need_ro && !ro_mounts) {
    log("Warning: read-only mounts are not available here (" + why +
        "); mounted datasets are read-only copies instead (file modes only)");
  }
  Json described = Json::object();
  for (const Json& in : inputs) {
    const std::string name = in.at("name");
    const std::string mode = in.value("mode", "mount");
    const Json& ds = in.value("dataset", Json::object());
    std::string label =
        ds.value("name", Json(nullptr)).is_string()
            ? ds["name"].get<std::string>() + ":" + std::to_string(ds.value("version", int64_t{0}))
            : std::string("(unregistered dataset)");
    Json entry = {{"mode", mode}, {"dataset", ds}, {"definition", in.value("definition", Json())}};
    if (mode == "direct") {
      std::string ref =
          ds.value("id", Json(nullptr)).is_string() ? ds["id"].get<std::string>() : name;
      out.paths[name] = ref;
      entry["path"] = nullptr;
      described[name] = entry;
      log("Dataset input '" + name + "' (" + label + "): direct");
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    Json pinned = pin(in.at("definition"));
    fs::path poc;
    if (in.value("path_on_compute", Json(nullptr)).is_string()) {
      poc = in["path_on_compute"].get<std::string>();
      if (poc.is_relative()) poc = workdir / poc;
    }
    fs::path place = out.inputs_dir / name;
    std::string seen_path;
    MaterializeStats st;
    if (mode == "download") {
      fs::path dest = poc.empty() ? place : poc;
      st = MaterializePinnedFiles(pinned, blobs, dest, MaterializeMode::kDownload, true);
      seen_path = dest.string();
    } else {
      st = MaterializePinnedFiles(
          pinned, blobs, place,
          ro_mounts ? MaterializeMode::kMountLinks : MaterializeMode::kReadOnlyCopy, true);
      fs::path target = poc.empty() ? place : poc;
      if (!poc.empty()) {
        fs::create_directories(poc);
        if (!ro_mounts) {  // no bind mount possible: put the read-only copy there
          MakeTreeWritable(place);
          MaterializePinnedFiles(pinned, blobs, poc, MaterializeMode::kReadOnlyCopy, true);
        }
      }
      if (ro_mounts) out.read_only_binds.emplace_back(place.string(), target.string());
      seen_path = target.string();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char took[64];
    std::snprintf(took, sizeof took, "%.3f s", secs);
    log("Dataset input '" + name + "' (" + label + "): " + std::to_string(st.files) + " files, " +
        std::to_string(st.bytes) + " bytes, " + mode + " at " + seen_path + " in " + took);
    out.paths[name] = seen_path;
    entry["path"] = seen_path;
    described[name] = entry;
    std::string var = "AZUREML_DATAREFERENCE_" + name;
    for (char& c : var) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    }
    out.variables[var] = seen_path;
  }
  fs::path file = run_dir / "input_datasets.json";
  WriteFileAtomic(file, described.dump());
  out.variables["TRAINYARD_INPUT_DATASETS"] = file.string();
  return out;
}

}  // namespace trainyard
