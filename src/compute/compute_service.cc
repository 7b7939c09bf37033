#include "compute/compute_service.h"

#include <filesystem>

#include "common/error.h"
#include "common/util.h"
#include "common/validation.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {
Json TimeOrNull(int64_t ms) { return ms ? Json(FormatIsoTime(ms)) : Json(nullptr); }

const ComputeTargetKind& RequireKind(const std::string& kind) {
  const ComputeTargetKind* k = ComputeTargetRegistry::Instance().Find(kind);
  if (!k) {
    std::string kinds;
    for (auto& n : ComputeTargetRegistry::Instance().Kinds())
      kinds += (kinds.empty() ? "" : ", ") + n;
    throw InvalidInput("unknown compute target type '" + kind + "'; this server knows: " + kinds,
                       "UnknownComputeType");
  }
  return *k;
}
}  // namespace

ComputeService::ComputeService(ComputeContext ctx, MetadataStore& store, RunScheduler& scheduler)
    : ctx_(std::move(ctx)), store_(store), scheduler_(scheduler) {}

ComputeService::~ComputeService() { Stop(); }

void ComputeService::Start() {
  if (!store_.GetComputeTarget("local")) {
    ComputeTargetRecord local;
    local.name = "local";
    local.type = "local";
    local.state = "Succeeded";
    local.created = local.updated = NowMillis();
    local.status = {{"progress", Json::array()}};
    store_.PutComputeTarget(local);
  }
  for (auto& rec : store_.ListComputeTargets()) {
    if (rec.state == "Creating") {
      rec.state = "Failed";
      rec.errors = Json::array({{{"code", "ProvisioningInterrupted"},
                                 {"message",
                                  "the server stopped while this target was being attached; "
                                  "detach it and attach it again"}}});
      rec.updated = NowMillis();
      store_.PutComputeTarget(rec);
      continue;
    }
    if (rec.state != "Succeeded") continue;
    const ComputeTargetKind* kind = ComputeTargetRegistry::Instance().Find(rec.type);
    if (!kind) continue;  // a kind this build does not have: its runs fail in scheduler.Start()
    auto target = kind->make(rec, ctx_);
    target->Resume();
    scheduler_.AddTarget(std::move(target));
  }
  scheduler_.Start();
}

void ComputeService::Stop() {
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    threads.swap(provisioning_);
  }
  for (auto& [name, t] : threads) {
    if (t.joinable()) t.join();
  }
}

Json ComputeService::Attach(const std::string& name, const Json& request) {
  ValidateComputeName("compute target name", name);
  if (!request.is_object()) throw InvalidInput("the attach request must be a JSON object");
  std::string type = request.value("type", "");
  if (type.empty()) throw InvalidInput("the attach request needs 'type' (for example \"ssh\")");
  const ComputeTargetKind& kind = RequireKind(type);
  std::lock_guard lk(mu_);
  if (stopping_) throw Unavailable("the server is stopping");
  if (auto existing = store_.GetComputeTarget(name)) {
    throw Conflict("compute target name '" + name + "' is taken (a " + existing->type +
                   " target, " + existing->state +
                   "); choose another name or detach the existing target first");
  }
  // Secrets are written into a fresh dir that becomes the target's only once it is stored.
  fs::path final_dir = ComputeTargetDir(ctx_.data_dir, name);
  fs::path tmp_dir = fs::path(ctx_.data_dir) / "compute" / (".attach-" + RandomHex(6));
  fs::create_directories(tmp_dir);
  fs::permissions(tmp_dir, fs::perms::owner_all, fs::perm_options::replace);
  ComputeTargetRecord rec;
  try {
    rec.settings = kind.validate(request, tmp_dir.string());
    rec.name = name;
    rec.type = type;
    rec.state = "Creating";
    rec.created = rec.updated = NowMillis();
    rec.status = {{"progress", Json::array()}};
    std::error_code ec;
    fs::remove_all(final_dir, ec);  // leftovers of a target detached by an older server
    fs::rename(tmp_dir, final_dir);
    store_.InsertComputeTarget(rec);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  provisioning_[name] = std::thread([this, rec] { Provision(rec); });
  return ToJson(rec, false);
}

void ComputeService::Provision(ComputeTargetRecord rec) {
  const ComputeTargetKind* kind = ComputeTargetRegistry::Instance().Find(rec.type);
  auto progress = [&](const std::string& line) {
    rec.status["progress"].push_back({{"time", FormatIsoTime(NowMillis())}, {"message", line}});
    rec.updated = NowMillis();
    store_.PutComputeTarget(rec);
  };
  try {
    auto target = kind->make(rec, ctx_);
    Json learned = target->Provision(progress);
    for (auto& [k, v] : learned.items()) rec.status[k] = v;
    scheduler_.AddTarget(std::move(target));
    rec.state = "Succeeded";
    rec.errors = Json::array();
    progress("compute target '" + rec.name + "' is ready");
  } catch (const Error& e) {
    rec.state = "Failed";
    rec.errors = Json::array({{{"code", e.code()}, {"message", e.what()}}});
    progress(std::string("failed: ") + e.what());
  } catch (const std::exception& e) {
    rec.state = "Failed";
    rec.errors = Json::array({{{"code", "ProvisioningFailed"}, {"message", e.what()}}});
    progress(std::string("failed: ") + e.what());
  }
}

void ComputeService::Detach(const std::string& name, bool force) {
  ValidateComputeName("compute target name", name);
  std::lock_guard lk(mu_);
  auto rec = store_.GetComputeTarget(name);
  if (!rec) throw NotFound("compute target '" + name + "' not found");
  if (rec->type == "local") {
    throw InvalidInput("the built-in 'local' compute target cannot be detached");
  }
  if (rec->state == "Creating") {
    throw Conflict("compute target '" + name +
                   "' is being attached; wait for it (wait_for_completion) before detaching it");
  }
  scheduler_.RemoveTarget(name, force);  // Conflict with active runs unless force
  store_.DeleteComputeTarget(name);
  auto it = provisioning_.find(name);
  if (it != provisioning_.end()) {
    if (it->second.joinable()) it->second.join();
    provisioning_.erase(it);
  }
  std::error_code ec;
  fs::remove_all(ComputeTargetDir(ctx_.data_dir, name), ec);
}

Json ComputeService::ToJson(const ComputeTargetRecord& r, bool detailed) {
  const ComputeTargetKind* kind = ComputeTargetRegistry::Instance().Find(r.type);
  Json j = {{"name", r.name},
            {"kind", r.type},
            {"type", kind ? kind->azure_type : r.type},
            {"provisioning_state", r.state},
            {"provisioning_errors", r.errors.empty() ? Json(nullptr) : r.errors},
            {"settings", r.settings},
            {"status", r.status},
            {"created_utc", TimeOrNull(r.created)},
            {"updated_utc", TimeOrNull(r.updated)}};
  if (detailed && r.state == "Succeeded") {
    Json s = scheduler_.TargetStatus(r.name);
    if (!s.is_null()) j["scheduler"] = s;
  }
  return j;
}

Json ComputeService::Get(const std::string& name) {
  ValidateComputeName("compute target name", name);
  auto rec = store_.GetComputeTarget(name);
  if (!rec) {
    throw NotFound("compute target '" + name +
                   "' not found in this workspace; attach one with ComputeTarget.attach or "
                   "`trainyard compute attach`");
  }
  return ToJson(*rec, true);
}

Json ComputeService::List() {
  Json arr = Json::array();
  for (auto& r : store_.ListComputeTargets()) arr.push_back(ToJson(r, false));
  return {{"compute_targets", arr}};
}

std::vector<std::string> ComputeService::Names() {
  std::vector<std::string> out;
  for (auto& r : store_.ListComputeTargets()) out.push_back(r.name);
  return out;
}

void ComputeService::RequireUsable(const std::string& name) {
  auto rec = store_.GetComputeTarget(name);
  if (!rec) {
    std::string names;
    for (auto& n : Names()) names += (names.empty() ? "'" : ", '") + n + "'";
    throw InvalidInput("unknown compute target '" + name + "': this workspace has " + names +
                           " (attach others with ComputeTarget.attach or `trainyard compute "
                           "attach`)",
                       "UnknownComputeTarget");
  }
  if (rec->state == "Creating") {
    throw InvalidInput(
        "compute target '" + name + "' is still being attached; call wait_for_completion() first",
        "ComputeTargetNotReady");
  }
  if (rec->state != "Succeeded" || !scheduler_.HasTarget(name)) {
    std::string why = rec->errors.empty() ? std::string("its provisioning state is ") + rec->state
                                          : rec->errors[0].value("message", "");
    throw InvalidInput("compute target '" + name + "' failed and cannot run jobs: " + why +
                           "; detach it and attach it again",
                       "ComputeTargetFailed");
  }
}

void ComputeService::RequireNodes(const std::string& name, int node_count) {
  int max_nodes = scheduler_.TargetMaxNodes(name);
  if (node_count <= 1 || node_count <= max_nodes) return;
  auto rec = store_.GetComputeTarget(name);
  std::string kind = rec ? rec->type : "";
  if (kind == "local" || max_nodes <= 1) {
    throw InvalidInput("node_count=" + std::to_string(node_count) + " but compute target '" + name +
                           "' is one machine: use a cluster target with max_nodes >= " +
                           std::to_string(node_count) +
                           " (ComputeTarget.create with AmlCompute.provisioning_configuration), "
                           "or node_count=1 with more processes per node",
                       "NodeCountExceedsTarget");
  }
  throw InvalidInput("node_count=" + std::to_string(node_count) + " but compute target '" + name +
                         "' can give a run at most " + std::to_string(max_nodes) +
                         " node(s) (its max_nodes, capped by its partition's size): lower "
                         "node_count or use a larger cluster",
                     "NodeCountExceedsTarget");
}

void ComputeService::RequireGpus(const std::string& name, int processes_per_node) {
  int gpus = scheduler_.TargetGpusPerNode(name);
  if (gpus < 0) return;  // the target checks itself (local: at submission)
  if (gpus == 0) {
    throw InvalidInput("use_gpu=True but compute target '" + name +
                           "' has no GPUs (its vm_size maps to no GPU GRES): use a cluster with a "
                           "GPU vm_size (STANDARD_NC6, ...) or set use_gpu=False",
                       "NoGpu");
  }
  if (processes_per_node > gpus) {
    throw InvalidInput("use_gpu=True with " + std::to_string(processes_per_node) +
                           " processes per node but the nodes of compute target '" + name +
                           "' give a run " + std::to_string(gpus) + " GPU(s): one GPU per process",
                       "NoGpu");
  }
}

}  // namespace trainyard
