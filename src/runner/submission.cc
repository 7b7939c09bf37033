#include "runner/submission.h"

#include <filesystem>

#include "common/error.h"
#include "common/validation.h"
#include "env/container_runtime.h"
#include "runner/launcher.h"
#include "runner/run_environment.h"
#include "runner/snapshot_builder.h"

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

fs::path RequireSourceDir(const Json& v, const char* field) {
  if (!v.is_string() || v.get<std::string>().empty()) {
    throw InvalidInput(std::string(field) + " must be a directory path");
  }
  fs::path p(v.get<std::string>());
  if (!p.is_absolute()) {
    throw InvalidInput(std::string(field) + " '" + p.string() +
                       "' must be absolute (the SDK resolves it against the caller's cwd)");
  }
  std::error_code ec;
  if (!fs::is_directory(p, ec)) {
    throw InvalidInput(std::string(field) + " '" + p.string() +
                       "' does not exist or is not a directory");
  }
  return p;
}

}  // namespace

void RequireNoContainerForRanks(const RankPlan& plan, const Json& environment) {
  if (plan.node_count <= 1 || !environment.is_object() || !environment.contains("docker") ||
      !environment["docker"].is_object() || !environment["docker"].value("enabled", false)) {
    return;
  }
  const Json& docker = environment["docker"];
  const std::string image = docker.value("base_image", Json(nullptr)).is_string()
                                ? docker["base_image"].get<std::string>()
                                : std::string();
  if (image.empty()) return;  // the image check names what is missing
  std::string registry;
  if (docker.contains("base_image_registry") && docker["base_image_registry"].is_object() &&
      docker["base_image_registry"].value("address", Json(nullptr)).is_string()) {
    registry = docker["base_image_registry"]["address"].get<std::string>();
  }
  if (ParseImageRef(image, registry, "environment.docker.base_image").LocalOnly()) {
    throw InvalidInput("node_count=" + std::to_string(plan.node_count) +
                           " with docker.base_image '" + image +
                           "': a localhost/ image exists only in this machine's podman store and "
                           "the other nodes cannot pull it; push it to a registry and name that "
                           "(e.g. 'registry.example.com:5000/team/trainer:1')",
                       "NotSupported");
  }
}

SnapshotRef SnapshotDirectory(const Json& dir, BlobStore& blobs, const SubmissionLimits& limits) {
  fs::path src = RequireSourceDir(dir, "source_directory");
  SnapshotOptions opts;
  opts.max_total_bytes = limits.max_bytes;
  opts.max_files = limits.max_files;
  SnapshotResult snap = SnapshotBuilder(blobs, opts).Build(src);
  SnapshotRef out;
  out.snapshot_id = snap.snapshot_id;
  if (auto git = DetectGit(src)) out.git = git->ToJson();
  return out;
}

PreparedSubmission PrepareSubmission(const Json& config, BlobStore& blobs,
                                     const SubmissionLimits& limits) {
  PreparedSubmission out;
  fs::path src =
      RequireSourceDir(config.value("source_directory", Json(nullptr)), "source_directory");

  // What to run: a script inside the source directory, or a command.
  Json def = Json::object();
  def["source_directory"] = src.string();
  bool has_script = config.contains("script") && !config["script"].is_null();
  bool has_command = config.contains("command") && !config["command"].is_null();
  if (!has_script && !has_command) {
    throw InvalidInput("ScriptRunConfig needs script (a file in source_directory) or command");
  }
  if (has_script) {
    if (!config["script"].is_string()) throw InvalidInput("script must be a string");
    std::string script = ValidateRelativePath("script", config["script"].get<std::string>());
    std::error_code ec;
    if (!fs::is_regular_file(src / script, ec)) {
      throw InvalidInput("script '" + script + "' was not found in source_directory '" +
                         src.string() + "'");
    }
    def["script"] = script;
  }
  if (has_command) {
    const Json& c = config["command"];
    bool ok = c.is_string() && !c.get<std::string>().empty();
    if (c.is_array() && !c.empty()) {
      ok = true;
      for (auto& a : c) ok = ok && a.is_primitive() && !a.is_null();
    }
    if (!ok) throw InvalidInput("command must be a non-empty string or list of strings");
    def["command"] = c;
  }
  Json args = Json::array();
  if (config.contains("arguments") && !config["arguments"].is_null()) {
    if (!config["arguments"].is_array()) throw InvalidInput("arguments must be a list");
    for (auto& a : config["arguments"]) {
      if (a.is_string()) {
        args.push_back(a);
      } else if (a.is_primitive() && !a.is_null()) {
        args.push_back(a.dump());
      } else if (a.is_object() && a.size() == 1 && a.contains("dataset_input") &&
                 a["dataset_input"].is_string()) {
        args.push_back(a);  // resolved to a path by the agent (server/data_api.h)
      } else {
        throw InvalidInput(
            "arguments must be strings, numbers or dataset inputs "
            "(dataset.as_mount() / as_download()), got " +
            a.dump());
      }
    }
  }
  def["arguments"] = args;

  std::string target = "local";
  if (config.contains("compute_target") && !config["compute_target"].is_null()) {
    if (!config["compute_target"].is_string()) throw InvalidInput("compute_target must be a name");
    target = config["compute_target"].get<std::string>();
  }
  // Whether the target exists and is ready is the server's business (ComputeService), checked
  // before this; here only the name's form.
  ValidateComputeName("compute_target", target);
  out.compute_target = target;

  Json env = config.value("environment", Json(nullptr));
  def["environment"] = ValidateEnvironmentSpec(env);

  if (config.contains("max_run_duration_seconds") &&
      !config["max_run_duration_seconds"].is_null()) {
    const Json& m = config["max_run_duration_seconds"];
    if (!m.is_number_integer() || m.get<int64_t>() <= 0) {
      throw InvalidInput("max_run_duration_seconds must be a positive integer");
    }
    def["max_run_duration_seconds"] = m;
  }
  for (const char* k : {"distributed_job_config", "node_count", "process_count_per_node", "inputs",
                        "use_gpu", "resume_from"}) {
    if (config.contains(k) && !config[k].is_null()) def[k] = config[k];
  }
  // The declared processes must be able to run: never one process instead of N.
  RankPlan plan = PlanRanks(def);
  if (plan.node_count > 1 && target == "local") {
    throw InvalidInput("node_count=" + std::to_string(plan.node_count) +
                           " but compute target 'local' is one machine: use a cluster target "
                           "with max_nodes >= " +
                           std::to_string(plan.node_count) +
                           " (ComputeTarget.create with AmlCompute.provisioning_configuration), "
                           "or node_count=1 with more processes per node",
                       "NodeCountExceedsTarget");
  }
  RequireNoContainerForRanks(plan, def["environment"]);
  if (plan.use_gpu && target == "local") {
    int gpus = CountLocalGpus();
    if (gpus == 0) {
      throw InvalidInput(
          "use_gpu=True but compute target 'local' has no GPU (nvidia-smi lists none): submit "
          "to a GPU target (a cluster with a GPU vm_size) or set use_gpu=False",
          "NoGpu");
    }
    if (plan.processes_per_node > gpus) {
      throw InvalidInput("use_gpu=True with " + std::to_string(plan.processes_per_node) +
                             " processes per node but compute target 'local' has " +
                             std::to_string(gpus) + " GPU(s): one GPU per process",
                         "NoGpu");
    }
  }

  // Last, because it writes blobs: everything above must have been accepted first.
  SnapshotRef snap = SnapshotDirectory(Json(src.string()), blobs, limits);
  out.snapshot_id = snap.snapshot_id;
  out.git = snap.git;
  out.definition = std::move(def);
  return out;
}

}  // namespace trainyard
