#include "compute/slurm_target.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/util.h"
#include "runner/launcher.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

std::string Q(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int IntField(const Json& req, const char* field, int dflt, int lo, int hi) {
  if (!req.contains(field) || req[field].is_null()) return dflt;
  const Json& v = req[field];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw InvalidInput(std::string(field) + " must be an integer from " + std::to_string(lo) +
                       " to " + std::to_string(hi) + ", got " + v.dump());
  }
  return static_cast<int>(v.get<int64_t>());
}

std::string StrField(const Json& req, const char* field) {
  if (!req.contains(field) || req[field].is_null()) return "";
  if (!req[field].is_string()) throw InvalidInput(std::string(field) + " must be a string");
  return req[field].get<std::string>();
}

Json ValidateSlurmRequest(const Json& req, const std::string&) {
  Json s = Json::object();
  s["vm_size"] = Upper(StrField(req, "vm_size"));
  s["vm_priority"] =
      StrField(req, "vm_priority").empty() ? "dedicated" : StrField(req, "vm_priority");
  if (!req.contains("max_nodes") || req["max_nodes"].is_null()) {
    throw InvalidInput(
        "AmlCompute.provisioning_configuration needs max_nodes (how many Slurm nodes this "
        "cluster's runs may hold at once)");
  }
  s["max_nodes"] = IntField(req, "max_nodes", 1, 1, 100000);
  s["min_nodes"] = IntField(req, "min_nodes", 0, 0, 100000);
  if (s["min_nodes"].get<int>() > s["max_nodes"].get<int>()) {
    throw InvalidInput("min_nodes=" + s["min_nodes"].dump() +
                       " is more than max_nodes=" + s["max_nodes"].dump());
  }
  s["idle_seconds_before_scaledown"] =
      IntField(req, "idle_seconds_before_scaledown", 1800, 0, 100000000);
  s["partition"] = StrField(req, "partition");
  for (auto& [k, v] : req.items()) {
    static const std::set<std::string> known = {"type",        "vm_size",
                                                "vm_priority", "max_nodes",
                                                "min_nodes",   "idle_seconds_before_scaledown",
                                                "partition",   "description",
                                                "tags",        "location"};
    if (!known.count(k)) {
      throw InvalidInput("the slurm compute target does not take '" + k +
                         "' (it takes vm_size, vm_priority, min_nodes, max_nodes, "
                         "idle_seconds_before_scaledown, partition)");
    }
  }
  return s;
}

std::string ReadTail(const fs::path& p, size_t n) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > n ? s.substr(s.size() - n) : s;
}

}  // namespace

SlurmVmSize ResolveSlurmVmSize(const std::string& vm_size_in, const std::string& map_file) {
  const std::string vm_size = Upper(vm_size_in);
  if (!map_file.empty()) {
    std::ifstream in(map_file);
    if (!in) throw InvalidInput("cannot read the Slurm vm-size map '" + map_file + "'");
    Json m = Json::parse(in, nullptr, false);
    if (!m.is_object())
      throw InvalidInput("the Slurm vm-size map '" + map_file + "' is not a JSON object");
    // The size's own entry (names compared case-insensitively), else "*".
    for (const bool wildcard : {false, true}) {
      for (auto& [k, v] : m.items()) {
        if (wildcard ? k != "*" : Upper(k) != vm_size) continue;
        if (!v.is_object()) throw InvalidInput("vm-size map entry '" + k + "' must be an object");
        SlurmVmSize out;
        out.partition = v.value("partition", "");
        out.constraint = v.value("constraint", "");
        out.gres = v.value("gres", "");
        out.cpus_per_task = v.value("cpus_per_task", 0);
        return out;
      }
    }
  }
  SlurmVmSize out;
  // Azure's GPU families: NC6/NC12/NC24 (+ s_v2/s_v3/_promo), ND6s..., NV6...: 6 cores per GPU.
  static const std::regex gpu(R"(^STANDARD_N[CDV](\d+).*$)");
  std::smatch mt;
  if (std::regex_match(vm_size, mt, gpu)) {
    int gpus = std::max(1, std::atoi(mt[1].str().c_str()) / 6);
    out.gres = "gpu:" + std::to_string(gpus);
  }
  return out;
}

SlurmTarget::SlurmTarget(const ComputeTargetRecord& rec, const ComputeContext& ctx)
    : name_(rec.name),
      ctx_(ctx),
      client_(SlurmConfig{ctx.slurm_bin_dir, ctx.slurm_conf}),
      settings_(rec.settings) {
  max_nodes_ = settings_.value("max_nodes", 1);
  size_ = ResolveSlurmVmSize(settings_.value("vm_size", ""), ctx.slurm_vm_sizes);
  partition_ = settings_.value("partition", "");
  if (partition_.empty()) partition_ = size_.partition;
  if (partition_.empty() && rec.status.is_object()) partition_ = rec.status.value("partition", "");
  if (rec.status.is_object()) partition_nodes_ = rec.status.value("partition_nodes", 0);
}

int SlurmTarget::MaxNodes() const {
  return partition_nodes_ > 0 ? std::min(max_nodes_, partition_nodes_) : max_nodes_;
}

int SlurmTarget::GpusPerNode() const {
  // The vm size's GRES is what every job of this cluster asks for ("gpu:2", "gpu:a100:2").
  if (size_.gres.rfind("gpu", 0) != 0) return 0;
  size_t colon = size_.gres.rfind(':');
  return colon == std::string::npos ? 1 : std::max(1, std::atoi(size_.gres.c_str() + colon + 1));
}

Json SlurmTarget::Provision(const ProgressSink& progress) {
  progress("checking the Slurm cluster (" +
           (ctx_.slurm_conf.empty() ? std::string("default SLURM_CONF") : ctx_.slurm_conf) + ")");
  client_.Check();
  if (partition_.empty()) {
    // The cluster's default partition (sinfo marks it with '*').
    for (auto& p : client_.Partitions()) {
      if (!p.empty() && p.back() == '*') partition_ = p.substr(0, p.size() - 1);
    }
    if (partition_.empty()) {
      throw InvalidInput(
          "the Slurm cluster has no default partition: give partition= or map "
          "the vm_size to one (--slurm-vm-sizes)");
    }
  }
  std::vector<SlurmNodeInfo> nodes = client_.Nodes(partition_);
  if (nodes.empty()) {
    throw InvalidInput("Slurm partition '" + partition_ +
                       "' does not exist or has no nodes (sinfo -p " + partition_ + ")");
  }
  std::string vm = settings_.value("vm_size", "");
  progress(
      "vm_size " + (vm.empty() ? std::string("(none)") : vm) + " -> partition " + partition_ +
      (size_.gres.empty() ? "" : ", GRES " + size_.gres) +
      (size_.constraint.empty() ? "" : ", constraint " + size_.constraint) +
      (size_.cpus_per_task ? ", " + std::to_string(size_.cpus_per_task) + " CPUs per task" : ""));
  if (size_.gres.rfind("gpu", 0) == 0) {
    bool any_gpu = false;
    for (auto& n : nodes) any_gpu = any_gpu || n.gres.find("gpu") != std::string::npos;
    if (!any_gpu) {
      throw InvalidInput("vm_size " + vm + " asks for GPUs (GRES " + size_.gres +
                             ") but no node of Slurm partition '" + partition_ +
                             "' has GPU GRES; choose a CPU vm_size, or map " + vm +
                             " to a partition without GRES in the server's --slurm-vm-sizes file",
                         "NoGpu");
    }
  }
  partition_nodes_ = static_cast<int>(nodes.size());
  std::string states;
  for (auto& n : nodes) states += (states.empty() ? "" : ", ") + n.name + " " + n.state;
  progress("partition " + partition_ + ": " + std::to_string(nodes.size()) + " node(s): " + states);
  if (max_nodes_ > partition_nodes_) {
    progress("max_nodes=" + std::to_string(max_nodes_) + " but the partition has " +
             std::to_string(partition_nodes_) + " node(s): runs can use at most " +
             std::to_string(partition_nodes_));
  }
  Json learned = {
      {"partition", partition_},
      {"partition_nodes", partition_nodes_},
      {"gres", size_.gres},
      {"constraint", size_.constraint},
      {"min_nodes", settings_.value("min_nodes", 0)},
      {"max_nodes", max_nodes_},
      {"idle_seconds_before_scaledown", settings_.value("idle_seconds_before_scaledown", 1800)}};
  return learned;
}

int64_t SlurmTarget::StartRecovery(const std::string& run_id, const std::string&,
                                   const std::string& why) {
  throw InvalidInput("run " + run_id + ": no recovery agent on a Slurm cluster (" + why + ")");
}

int64_t SlurmTarget::StartAgent(const std::string& run_id, const std::string& token) {
  if (ctx_.store == nullptr) throw InternalError("slurm target without a metadata store");
  auto run = ctx_.store->GetRun(run_id);
  if (!run) throw NotFound("run '" + run_id + "' not found");
  // A job of this run may exist already: the server died between sbatch and recording its id.
  for (auto& j : client_.ActiveJobsNamed({run_id})) return j.id;
  RankPlan plan = PlanRanks(run->definition);
  fs::path run_dir = fs::path(ctx_.data_dir) / "runs" / run_id;
  fs::create_directories(run_dir);
  fs::path script = run_dir / "slurm-job.sh";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n"
        << "# Trainyard run " << run_id << " on compute target " << name_ << "\n"
        << "export TRAINYARD_SLURM_JOB=\"$SLURM_JOB_ID\"\n"
        << "exec " << Q(ctx_.agent_exe) << " agent --run " << Q(run_id) << " --server "
        << Q(ctx_.server_url) << " --data " << Q(ctx_.data_dir) << "\n";
  }
  fs::permissions(script, fs::perms::owner_all, fs::perm_options::replace);
  SlurmJobRequest q;
  q.name = run_id;
  q.partition = partition_;
  q.nodes = plan.node_count;
  q.tasks_per_node = plan.processes_per_node;
  q.cpus_per_task = size_.cpus_per_task;
  q.gres = size_.gres;
  q.constraint = size_.constraint;
  const Json& def = run->definition;
  if (def.contains("max_run_duration_seconds") && def["max_run_duration_seconds"].is_number()) {
    q.time_limit_minutes = (def["max_run_duration_seconds"].get<int64_t>() + 59) / 60 + 5;
  }
  q.workdir = run_dir.string();
  q.output = (run_dir / "slurm-%j.out").string();
  q.script_path = script.string();
  q.env["TRAINYARD_TOKEN"] = token;
  if (!ctx_.workspace_name.empty()) q.env["TRAINYARD_WORKSPACE"] = ctx_.workspace_name;
  int64_t job = client_.Submit(q);
  try {
    ctx_.store->AddProperties(
        run_id, {{"slurm.job_id", std::to_string(job)}, {"slurm.partition", partition_}});
  } catch (const std::exception&) {
  }
  return job;
}

void SlurmTarget::CancelAgent(const std::string& run_id, int64_t agent_id) {
  if (agent_id > 0) {
    client_.Cancel(agent_id);
    return;
  }
  for (auto& j : client_.ActiveJobsNamed({run_id})) client_.Cancel(j.id);
}

std::map<std::string, AgentProbe> SlurmTarget::Probe(const std::map<std::string, int64_t>& agents) {
  std::map<std::string, AgentProbe> out;
  std::vector<int64_t> ids;
  std::map<std::string, int64_t> resolved = agents;
  std::vector<std::string> unnamed;
  for (auto& [run, id] : agents) {
    if (id > 0)
      ids.push_back(id);
    else
      unnamed.push_back(run);
  }
  std::map<int64_t, SlurmJobInfo> jobs;
  try {
    // Jobs submitted by a server that died before recording the id: found by name.
    for (auto& j : client_.ActiveJobsNamed(unnamed)) {
      resolved[j.name] = j.id;
      ids.push_back(j.id);
    }
    jobs = client_.Jobs(ids);
  } catch (const std::exception& e) {
    for (auto& [run, id] : agents) out[run] = {AgentState::kUnknown, e.what()};
    return out;
  }
  for (auto& [run, id] : resolved) {
    if (id <= 0) {
      out[run] = {AgentState::kGone, "no Slurm job named " + run + " is queued or running"};
      continue;
    }
    const SlurmJobInfo& j = jobs[id];
    {
      std::lock_guard lk(mu_);
      SlurmJobInfo& prev = last_[run];
      if (j.known && (prev.state != j.state || prev.reason != j.reason || prev.nodes != j.nodes)) {
        prev = j;
        try {
          Json tags = {{"slurm.state", j.state}, {"slurm.reason", j.reason}};
          if (!j.nodes.empty()) tags["slurm.nodes"] = j.nodes;
          ctx_.store->SetTags(run, tags);
        } catch (const std::exception&) {
        }
      }
    }
    if (j.known && j.Active()) {
      out[run] = {AgentState::kAlive, j.state + (j.reason.empty() ? "" : " (" + j.reason + ")")};
    } else if (j.known) {
      out[run] = {AgentState::kGone, "Slurm job " + std::to_string(id) + " ended: " + j.state +
                                         (j.reason.empty() ? "" : " (" + j.reason + ")")};
    } else {
      out[run] = {AgentState::kGone,
                  "Slurm job " + std::to_string(id) + " is no longer known to Slurm"};
    }
  }
  return out;
}

std::string SlurmTarget::AgentLogTail(const std::string& run_id) {
  fs::path run_dir = fs::path(ctx_.data_dir) / "runs" / run_id;
  std::error_code ec;
  std::string out;
  for (auto& e : fs::directory_iterator(run_dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("slurm-", 0) == 0 && n.size() > 4 && n.substr(n.size() - 4) == ".out") {
      out += ReadTail(e.path(), 4000);
    }
  }
  return out;
}

std::vector<NodeStatus> SlurmTarget::Nodes() {
  std::vector<NodeStatus> out;
  for (auto& n : client_.Nodes(partition_)) {
    NodeStatus s;
    s.name = n.name;
    std::string st = n.state;
    while (!st.empty() && (st.back() == '*' || st.back() == '~' || st.back() == '#')) st.pop_back();
    if (st == "idle") {
      s.state = "idle";
    } else if (st == "allocated" || st == "mixed" || st == "completing") {
      s.state = "running";
    } else if (st == "draining") {
      s.state = "leaving";
    } else {
      s.state = "unreachable";
    }
    s.message = n.state + (n.reason.empty() ? "" : ": " + n.reason);
    s.slots = n.cpus;
    s.busy = s.state == "running" ? n.cpus : 0;
    s.resources = {
        {"cores", n.cpus}, {"memory_mb", n.memory_mb}, {"gres", n.gres}, {"slurm_state", n.state}};
    out.push_back(s);
  }
  return out;
}

Json SlurmTarget::Status() {
  Json j = {
      {"partition", partition_},
      {"vm_size", settings_.value("vm_size", "")},
      {"gres", size_.gres},
      {"constraint", size_.constraint},
      {"max_nodes", max_nodes_},
      {"min_nodes", settings_.value("min_nodes", 0)},
      {"idle_seconds_before_scaledown", settings_.value("idle_seconds_before_scaledown", 1800)}};
  Json queue = Json::array();
  std::lock_guard lk(mu_);
  for (auto& [run, job] : last_) {
    if (!job.Active()) continue;
    queue.push_back({{"run_id", run},
                     {"job_id", job.id},
                     {"state", job.state},
                     {"reason", job.reason},
                     {"nodes", job.nodes}});
  }
  j["queue"] = queue;
  return j;
}

void RegisterSlurmComputeTarget(ComputeTargetRegistry& registry) {
  ComputeTargetKind k;
  k.kind = "slurm";
  k.azure_type = "AmlCompute";
  k.validate = ValidateSlurmRequest;
  k.make = [](const ComputeTargetRecord& rec, const ComputeContext& ctx) {
    return std::unique_ptr<ComputeTarget>(new SlurmTarget(rec, ctx));
  };
  registry.Register(std::move(k));
}

}  // namespace trainyard
