#include "runner/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "env/process.h"

extern char** environ;

namespace trainyard {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kDriverLog = "azureml-logs/70_driver_log.txt";
constexpr size_t kTailBytes = 65536;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A positive integer field of `obj`, or `dflt` when absent/null.
int PositiveField(const Json& obj, const char* field, const std::string& where, int dflt) {
  if (!obj.contains(field) || obj[field].is_null()) return dflt;
  const Json& v = obj[field];
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 100000) {
    throw InvalidInput(where + field + " must be a positive integer, got " + v.dump());
  }
  return static_cast<int>(v.get<int64_t>());
}

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    fs::path cand = fs::path(p.substr(start, end - start)) / name;
    if (::access(cand.c_str(), X_OK) == 0) return cand.string();
    start = end + 1;
  }
  return "";
}

// A port nobody listens on now (bound and released: the usual race, as torch's own launchers).
int FreePort(bool any_address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(any_address ? INADDR_ANY : INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    ThrowErrno("bind");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

void AppendTail(std::string& tail, std::string_view s) {
  tail.append(s);
  tail.push_back('\n');
  if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
}

// "[1,3]<stdout>:text" (mpirun --tag-output) or " 3: text" (srun --label, the supervisor).
bool ParseLabel(std::string_view line, int* rank, std::string_view* text) {
  size_t i = 0;
  if (!line.empty() && line[0] == '[') {
    size_t comma = line.find(',');
    size_t close = line.find(']');
    if (comma == std::string_view::npos || close == std::string_view::npos || comma > close) {
      return false;
    }
    std::string_view num = line.substr(comma + 1, close - comma - 1);
    if (num.empty() || !std::all_of(num.begin(), num.end(), ::isdigit)) return false;
    size_t colon = line.find(">:", close);
    if (colon == std::string_view::npos || line[close + 1] != '<') return false;
    *rank = std::atoi(std::string(num).c_str());
    *text = line.substr(colon + 2);
    return true;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  size_t d = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == d || i - d > 6) return false;
  if (line.substr(i, 2) == ": ") {
    *text = line.substr(i + 2);
  } else if (i + 1 == line.size() && line[i] == ':') {
    *text = std::string_view();  // "3:" = an empty line of rank 3
  } else {
    return false;
  }
  *rank = std::atoi(std::string(line.substr(d, i - d)).c_str());
  return true;
}

}  // namespace

RankPlan PlanRanksOnly(const Json& def);

Json RankPlan::ToJson() const {
  Json j = {{"kind", kind},
            {"node_count", node_count},
            {"processes_per_node", processes_per_node},
            {"world_size", world_size}};
  if (kind == "tensorflow") {
    j["worker_count"] = worker_count;
    j["parameter_server_count"] = ps_count;
  }
  if (kind == "pytorch") j["communication_backend"] = backend;
  if (use_gpu) j["use_gpu"] = true;
  return j;
}

int CountLocalGpus() {
  ProcessOptions o;
  o.argv = {"nvidia-smi", "-L"};
  o.capture = true;
  o.merge_stderr = false;
  o.timeout = std::chrono::seconds(30);
  try {
    ProcessResult r = RunProcess(o);
    if (!r.ok()) return 0;
    int n = 0;
    size_t at = 0;
    while ((at = r.output.find("GPU ", at)) != std::string::npos) {
      if (at == 0 || r.output[at - 1] == '\n') ++n;
      at += 4;
    }
    return n;
  } catch (const std::exception&) {
    return 0;  // no nvidia-smi: no GPUs
  }
}

RankPlan PlanRanks(const Json& def) {
  RankPlan p = PlanRanksOnly(def);
  if (def.contains("use_gpu") && !def["use_gpu"].is_null()) {
    if (!def["use_gpu"].is_boolean()) throw InvalidInput("use_gpu must be true or false");
    p.use_gpu = def["use_gpu"].get<bool>();
  }
  return p;
}

RankPlan PlanRanksOnly(const Json& def) {
  RankPlan p;
  const int def_nodes = PositiveField(def, "node_count", "", 1);
  const int def_ppn = PositiveField(def, "process_count_per_node", "", 1);
  const Json dj = def.value("distributed_job_config", Json(nullptr));
  if (dj.is_null()) {
    if (def_ppn > 1) {
      throw InvalidInput(
          "process_count_per_node=" + std::to_string(def_ppn) +
          " needs a distributed_job_config (distributed_training=MpiConfiguration() or "
          "PyTorchConfiguration()) that says how the processes work together");
    }
    if (def_nodes > 1) {
      p.kind = "nodes";
      p.node_count = p.world_size = def_nodes;
    }
    return p;
  }
  if (!dj.is_object() || !dj.contains("type") || !dj["type"].is_string()) {
    throw InvalidInput(
        "distributed_job_config must be an object with a \"type\" of \"mpi\", \"pytorch\" or "
        "\"tensorflow\", got " +
        dj.dump());
  }
  const std::string type = Lower(dj["type"].get<std::string>());
  const std::string where = "distributed_job_config.";
  // node_count may be given on the run configuration, on the distributed config, or both.
  auto nodes_from = [&](int dj_nodes) {
    if (dj_nodes > 1 && def_nodes > 1 && dj_nodes != def_nodes) {
      throw InvalidInput("node_count=" + std::to_string(def_nodes) +
                         " on the run configuration but node_count=" + std::to_string(dj_nodes) +
                         " in distributed_job_config: give one node count");
    }
    return std::max(dj_nodes, def_nodes);
  };
  if (type == "mpi") {
    p.kind = "mpi";
    p.node_count = nodes_from(PositiveField(dj, "node_count", where, 1));
    p.processes_per_node = PositiveField(dj, "process_count_per_node", where, def_ppn);
    p.world_size = p.node_count * p.processes_per_node;
  } else if (type == "pytorch") {
    p.kind = "pytorch";
    p.node_count = nodes_from(PositiveField(dj, "node_count", where, 1));
    p.world_size = PositiveField(dj, "process_count", where, p.node_count * def_ppn);
    if (p.world_size % p.node_count != 0) {
      throw InvalidInput("PyTorchConfiguration: process_count=" + std::to_string(p.world_size) +
                         " cannot be spread evenly over node_count=" +
                         std::to_string(p.node_count) + " (give a multiple of node_count)");
    }
    p.processes_per_node = p.world_size / p.node_count;
    p.backend = "nccl";
    if (dj.contains("communication_backend") && !dj["communication_backend"].is_null()) {
      if (!dj["communication_backend"].is_string()) {
        throw InvalidInput(where + "communication_backend must be a string");
      }
      p.backend = Lower(dj["communication_backend"].get<std::string>());
      if (p.backend != "nccl" && p.backend != "gloo" && p.backend != "mpi") {
        throw InvalidInput(
            "PyTorchConfiguration: communication_backend must be Nccl, Gloo or "
            "Mpi, got '" +
            dj["communication_backend"].get<std::string>() + "'");
      }
    }
  } else if (type == "tensorflow") {
    p.kind = "tensorflow";
    p.worker_count = PositiveField(dj, "worker_count", where, 1);
    p.ps_count = PositiveField(dj, "parameter_server_count", where, 1);
    p.world_size = p.worker_count + p.ps_count;
    p.node_count = nodes_from(PositiveField(dj, "node_count", where, 1));
    if (p.world_size % p.node_count != 0) {
      throw InvalidInput("TensorflowConfiguration: worker_count + parameter_server_count = " +
                         std::to_string(p.world_size) + " processes cannot be spread evenly over " +
                         std::to_string(p.node_count) + " nodes");
    }
    p.processes_per_node = p.world_size / p.node_count;
    if (p.worker_count < p.node_count) {
      // Ranks are dealt to nodes round-robin (rank r on node r % nodes), so every node has a
      // worker whose end stops the node's parameter servers.
      throw InvalidInput("TensorflowConfiguration: worker_count=" + std::to_string(p.worker_count) +
                         " on " + std::to_string(p.node_count) +
                         " nodes: give at least one worker per node");
    }
  } else {
    throw InvalidInput(
        "distributed_job_config.type must be \"mpi\", \"pytorch\" or "
        "\"tensorflow\", got \"" +
        dj["type"].get<std::string>() + "\"");
  }
  if (p.world_size > 4096) throw InvalidInput("at most 4096 processes per run");
  return p;
}

LaunchContext CurrentLaunchContext() {
  LaunchContext ctx;
  ctx.self_exe = SelfExe().string();
  const char* job = std::getenv("SLURM_JOB_ID");
  const char* ours = std::getenv("TRAINYARD_SLURM_JOB");
  if (job == nullptr || ours == nullptr || std::string(job) != ours) return ctx;
  ctx.in_slurm = true;
  const char* list = std::getenv("SLURM_JOB_NODELIST");
  ProcessOptions o;
  o.argv = {"scontrol", "show", "hostnames", list ? list : ""};
  o.capture = true;
  o.merge_stderr = false;
  o.timeout = std::chrono::seconds(30);
  ProcessResult r = RunProcess(o);
  if (!r.ok()) throw InvalidInput("scontrol show hostnames failed: " + r.TailText());
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < r.output.size()) {
    size_t nl = r.output.find('\n', pos);
    if (nl == std::string::npos) nl = r.output.size();
    if (nl > pos) names.push_back(r.output.substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (auto& name : names) {
    // NodeAddr is what the other nodes reach it by (NodeName may be a logical name).
    ProcessOptions q;
    q.argv = {"scontrol", "show", "node", "-o", name};
    q.capture = true;
    q.merge_stderr = false;
    q.timeout = std::chrono::seconds(30);
    ProcessResult n = RunProcess(q);
    std::string addr = name;
    size_t at = n.output.find("NodeAddr=");
    if (n.ok() && at != std::string::npos) {
      size_t end = n.output.find_first_of(" \n", at);
      addr = n.output.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
    }
    ctx.node_addrs.push_back(addr);
  }
  return ctx;
}

std::vector<std::string> BuildRankLaunch(const RankPlan& plan, const LaunchContext& ctx,
                                         const std::vector<std::string>& argv,
                                         std::map<std::string, std::string>& vars) {
  if (!ctx.in_slurm && plan.node_count > 1) {
    throw InvalidInput("node_count=" + std::to_string(plan.node_count) +
                       " needs a cluster target; this run's target is one machine");
  }
  if (ctx.in_slurm && static_cast<int>(ctx.node_addrs.size()) < plan.node_count) {
    throw InvalidInput("the Slurm allocation has " + std::to_string(ctx.node_addrs.size()) +
                       " node(s), the run needs " + std::to_string(plan.node_count));
  }
  const std::string master = ctx.in_slurm ? ctx.node_addrs.at(0) : "127.0.0.1";
  const int port = FreePort(ctx.in_slurm);
  vars["AZUREML_NODE_COUNT"] = std::to_string(plan.node_count);
  vars["AZ_BATCH_MASTER_NODE"] = master + ":" + std::to_string(port);
  vars["AZ_BATCHAI_MPI_MASTER_NODE"] = master;
  if (plan.kind == "pytorch") {
    vars["MASTER_ADDR"] = master;
    vars["MASTER_PORT"] = std::to_string(port);
    vars["WORLD_SIZE"] = std::to_string(plan.world_size);
  }
  const std::string world = std::to_string(plan.world_size);
  const std::string nodes = std::to_string(plan.node_count);
  const std::string ppn = std::to_string(plan.processes_per_node);
  std::vector<std::string> out;
  std::string launcher;
  std::vector<std::string> program = argv;
  if (plan.kind == "mpi" && program.size() >= 2 && program[1].size() > 3 &&
      program[1].compare(program[1].size() - 3, 3, ".py") == 0) {
    // An uncaught exception in one mpi4py rank would otherwise hang in MPI_Finalize while the
    // others wait: `python -m mpi4py script.py` (mpi4py's own advice) calls MPI_Abort instead.
    ProcessOptions probe;
    probe.argv = {program[0], "-c", "import mpi4py"};
    probe.timeout = std::chrono::seconds(60);
    probe.merge_stderr = false;
    if (RunProcess(probe).ok()) program.insert(program.begin() + 1, {"-m", "mpi4py"});
  }
  if (plan.kind == "mpi") {
    // Each MPI rank is a supervisor with one child, so its lines reach the agent whole and
    // labelled (mpirun --tag-output labels write() chunks, not lines).
    if (ctx.in_slurm) {
      launcher = FindOnPath("srun");
      if (launcher.empty()) throw InvalidInput("srun is not on PATH on the Slurm node");
      out = {launcher, "--kill-on-bad-exit=1",    "--mpi=pmix", "-N", nodes, "-n",
             world,    "--ntasks-per-node=" + ppn};
    } else {
      launcher = FindOnPath("mpirun");
      if (launcher.empty()) {
        throw InvalidInput(
            "MpiConfiguration needs Open MPI's mpirun on PATH on the compute target (Debian: "
            "apt-get install openmpi-bin)");
      }
      out = {launcher, "--oversubscribe", "--bind-to", "none", "-np", world};
      if (::geteuid() == 0) out.push_back("--allow-run-as-root");
    }
  }
  Json spec = plan.ToJson();
  spec["argv"] = program;
  spec["master_addr"] = master;
  spec["master_port"] = port;
  spec["node_rank"] = ctx.in_slurm ? -1 : 0;
  if (plan.kind == "tensorflow") {
    Json workers = Json::array(), ps = Json::array();
    for (int r = 0; r < plan.world_size; ++r) {
      std::string host = ctx.in_slurm
                             ? ctx.node_addrs.at(r % plan.node_count)  // TF ranks: round-robin
                             : std::string("127.0.0.1");
      std::string hp = host + ":" + std::to_string(FreePort(ctx.in_slurm));
      (r < plan.worker_count ? workers : ps).push_back(hp);
    }
    spec["cluster"] = {{"worker", workers}, {"ps", ps}};
  }
  vars["TRAINYARD_RANK_SPEC"] = spec.dump();
  if (plan.kind == "mpi") {
    out.push_back(ctx.self_exe);
    out.push_back("_ranks");
  } else if (ctx.in_slurm) {
    std::string srun = FindOnPath("srun");
    if (srun.empty()) throw InvalidInput("srun is not on PATH on the Slurm node");
    out = {srun,  "--kill-on-bad-exit=1", "-N",         nodes,   "-n",
           nodes, "--ntasks-per-node=1",  ctx.self_exe, "_ranks"};
  } else {
    out = {ctx.self_exe, "_ranks"};
  }
  return out;
}

// ---- RankOutput ------------------------------------------------------------------------------

void RankOutput::Feed(std::string_view chunk) {
  partial_.append(chunk);
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(partial_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Line(line);
    start = nl + 1;
  }
  partial_.erase(0, start);
  if (partial_.size() > kTailBytes) {  // a very long line without newline: ship it anyway
    Line(partial_);
    partial_.clear();
  }
}

void RankOutput::Finish() {
  if (!partial_.empty()) Line(partial_);
  partial_.clear();
}

void RankOutput::Line(std::string_view line) {
  int rank = -1;
  std::string_view text;
  if (ParseLabel(line, &rank, &text)) {
    std::string t(text);
    t.push_back('\n');
    sink_("azureml-logs/70_driver_log_" + std::to_string(rank) + ".txt", t);
    sink_(kDriverLog, "[rank " + std::to_string(rank) + "] " + t);
    AppendTail(tails_[rank], text);
  } else {
    std::string t(line);
    t.push_back('\n');
    sink_(kDriverLog, t);
    AppendTail(launcher_tail_, line);
  }
}

std::string RankOutput::FailureTail(int* rank) const {
  *rank = -1;
  // Which rank the launcher named as failing: the supervisor's "rank R exited", mpirun's
  // "Process name: [[J,1],R]", srun's "task R: Exited with exit code".
  int named = -1;
  for (const char* key : {"trainyard: rank ", "Process name: [[", "task "}) {
    size_t at = launcher_tail_.find(key);
    if (at == std::string::npos) continue;
    size_t p = at + std::strlen(key);
    if (std::string(key) == "Process name: [[") {
      p = launcher_tail_.find("],", p);
      if (p == std::string::npos) continue;
      p += 2;
    }
    int r = std::atoi(launcher_tail_.c_str() + p);
    if (p < launcher_tail_.size() && std::isdigit(static_cast<unsigned char>(launcher_tail_[p]))) {
      named = r;
      break;
    }
  }
  auto has_tb = [](const std::string& t) {
    return t.find("Traceback (most recent call last):") != std::string::npos;
  };
  if (named >= 0) {
    auto it = tails_.find(named);
    if (it != tails_.end() && has_tb(it->second)) {
      *rank = named;
      return it->second;
    }
  }
  for (auto& [r, t] : tails_) {
    if (has_tb(t)) {
      *rank = r;
      return t;
    }
  }
  if (named >= 0 && tails_.count(named)) {
    *rank = named;
    return tails_.at(named) + launcher_tail_;
  }
  return launcher_tail_;
}

// ---- the supervisor --------------------------------------------------------------------------

namespace {
std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal = sig; }

struct Rank {
  int rank = 0;
  pid_t pid = -1;
  int fd = -1;
  std::string buf;
  bool exited = false;
  int status = 0;
  bool is_ps = false;
};

void EmitLines(Rank& r, bool flush_partial) {
  size_t start = 0;
  std::string out;
  for (;;) {
    size_t nl = r.buf.find('\n', start);
    if (nl == std::string::npos) break;
    out += std::to_string(r.rank) + ": " + r.buf.substr(start, nl - start + 1);
    start = nl + 1;
  }
  r.buf.erase(0, start);
  if ((flush_partial && !r.buf.empty()) || r.buf.size() > kTailBytes) {
    out += std::to_string(r.rank) + ": " + r.buf + "\n";
    r.buf.clear();
  }
  if (!out.empty()) WriteAll(1, out);
}

void DrainFd(Rank& r) {
  if (r.fd < 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(r.fd, buf, sizeof buf);
    if (n > 0) {
      r.buf.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      ::close(r.fd);
      r.fd = -1;
    }
    break;
  }
  EmitLines(r, r.fd < 0);
}
}  // namespace

int RunRankSupervisor() {
  const char* raw = std::getenv("TRAINYARD_RANK_SPEC");
  if (raw == nullptr) throw InvalidInput("_ranks is started by the agent (TRAINYARD_RANK_SPEC)");
  Json spec = Json::parse(raw);
  ::unsetenv("TRAINYARD_RANK_SPEC");
  ::signal(SIGTERM, OnStopSignal);
  ::signal(SIGINT, OnStopSignal);
  ::signal(SIGPIPE, SIG_IGN);
  const std::string kind = spec.at("kind").get<std::string>();
  const int ppn = spec.at("processes_per_node").get<int>();
  const int world = spec.at("world_size").get<int>();
  const int nodes = spec.at("node_count").get<int>();
  int node_rank = spec.value("node_rank", 0);
  if (node_rank < 0) {
    const char* nid = std::getenv("SLURM_NODEID");
    node_rank = nid ? std::atoi(nid) : 0;
  }
  const int workers = spec.value("worker_count", 0);
  std::vector<std::string> argv = spec.at("argv").get<std::vector<std::string>>();
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);

  // MPI: this supervisor is one rank started by mpirun/srun; the rank comes from the launcher.
  int mpi_rank = -1;
  if (kind == "mpi") {
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
      if (const char* e = std::getenv(v); e && *e) {
        mpi_rank = std::atoi(e);
        break;
      }
    }
    if (mpi_rank < 0) throw InvalidInput("_ranks for MPI: no rank in the environment");
  }
  std::vector<Rank> ranks;
  for (int lr = 0; lr < (kind == "mpi" ? 1 : ppn); ++lr) {
    Rank r;
    r.rank = kind == "mpi"          ? mpi_rank
             : kind == "tensorflow" ? lr * nodes + node_rank  // round-robin (see BuildRankLaunch)
                                    : node_rank * ppn + lr;
    if (r.rank >= world) break;
    std::map<std::string, std::string> add;
    if (kind == "mpi" && std::getenv("OMPI_COMM_WORLD_RANK") == nullptr) {
      // srun --mpi=pmix: Open MPI takes its rank from PMIx; Azure's OMPI_COMM_WORLD_* names
      // are set from Slurm's for scripts that read them.
      auto env_or = [](const char* n, const char* d) {
        const char* e = std::getenv(n);
        return std::string(e ? e : d);
      };
      add["OMPI_COMM_WORLD_RANK"] = std::to_string(mpi_rank);
      add["OMPI_COMM_WORLD_SIZE"] = std::to_string(world);
      add["OMPI_COMM_WORLD_LOCAL_RANK"] = env_or("SLURM_LOCALID", "0");
      add["OMPI_COMM_WORLD_LOCAL_SIZE"] = std::to_string(ppn);
      add["OMPI_COMM_WORLD_NODE_RANK"] = env_or("SLURM_NODEID", "0");
    }
    if (spec.value("use_gpu", false)) {
      // One GPU per rank: the node's GPUs (Slurm's CUDA_VISIBLE_DEVICES for the job when set,
      // else 0..n-1), handed out by local rank.
      std::vector<std::string> gpus;
      if (const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES"); cvd && *cvd) {
        std::string list = cvd;
        size_t start = 0;
        while (start <= list.size()) {
          size_t c = list.find(',', start);
          if (c == std::string::npos) c = list.size();
          if (c > start) gpus.push_back(list.substr(start, c - start));
          start = c + 1;
        }
      } else {
        for (int g = 0; g < CountLocalGpus(); ++g) gpus.push_back(std::to_string(g));
      }
      if (gpus.empty()) {
        throw InvalidInput("use_gpu=True but this node has no GPU (nvidia-smi lists none)",
                           "NoGpu");
      }
      int local = lr;
      if (kind == "mpi") {
        const char* l = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
        if (l == nullptr) l = std::getenv("SLURM_LOCALID");
        local = l ? std::atoi(l) : 0;
      }
      add["CUDA_VISIBLE_DEVICES"] = gpus[static_cast<size_t>(local) % gpus.size()];
    }
    if (kind == "pytorch") {
      add["RANK"] = std::to_string(r.rank);
      add["LOCAL_RANK"] = std::to_string(lr);
      add["NODE_RANK"] = std::to_string(node_rank);
      add["WORLD_SIZE"] = std::to_string(world);
      add["LOCAL_WORLD_SIZE"] = std::to_string(ppn);
      add["GROUP_RANK"] = std::to_string(node_rank);
    } else if (kind == "tensorflow") {
      r.is_ps = r.rank >= workers;
      Json tf = {
          {"cluster", spec.at("cluster")},
          {"task",
           {{"type", r.is_ps ? "ps" : "worker"}, {"index", r.is_ps ? r.rank - workers : r.rank}}},
          {"environment", "cloud"}};
      add["TF_CONFIG"] = tf.dump();
    } else if (kind == "nodes") {
      add["NODE_RANK"] = std::to_string(node_rank);
    }
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos && add.count(std::string(kv.substr(0, eq)))) continue;
      env.emplace_back(*e);
    }
    for (auto& [k, v] : add) env.push_back(k + "=" + v);
    std::vector<char*> ev;
    for (auto& e : env) ev.push_back(e.data());
    ev.push_back(nullptr);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) ThrowErrno("pipe");
    pid_t pid = ::fork();
    if (pid < 0) ThrowErrno("fork");
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      ::dup2(p[1], 1);
      ::dup2(p[1], 2);
      ::execvpe(av[0], av.data(), ev.data());
      std::string msg =
          std::string("trainyard: cannot execute ") + av[0] + ": " + strerror(errno) + "\n";
      (void)!::write(1, msg.data(), msg.size());
      _exit(127);
    }
    ::setpgid(pid, pid);
    ::close(p[1]);
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    r.pid = pid;
    r.fd = p[0];
    ranks.push_back(std::move(r));
  }

  using Clock = std::chrono::steady_clock;
  int fail_code = 0;
  bool stopping = false;
  Clock::time_point kill_at{};
  bool killed = false;
  auto stop_all = [&](bool only_ps) {
    for (auto& r : ranks) {
      if (!r.exited && (!only_ps || r.is_ps)) ::killpg(r.pid, SIGTERM);
    }
    if (!only_ps) {
      stopping = true;
      kill_at = Clock::now() + std::chrono::seconds(5);
    }
  };
  bool ps_stopped = false;
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<Rank*> who;
    for (auto& r : ranks) {
      if (r.fd >= 0) {
        pfds.push_back({r.fd, POLLIN, 0});
        who.push_back(&r);
      }
    }
    int pr = pfds.empty() ? 0 : ::poll(pfds.data(), pfds.size(), 50);
    if (pfds.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (size_t i = 0; pr > 0 && i < pfds.size(); ++i) {
      if (pfds[i].revents != 0) DrainFd(*who[i]);
    }
    int st = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0) {
      for (auto& r : ranks) {
        if (r.pid != pid) continue;
        r.exited = true;
        r.status = st;
        DrainFd(r);  // what it wrote last
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        bool expected = stopping || (r.is_ps && ps_stopped);
        if (code != 0 && !expected && fail_code == 0) {
          fail_code = code;
          std::string msg = "trainyard: rank " + std::to_string(r.rank) + " exited with code " +
                            std::to_string(code) + "; stopping the other ranks\n";
          WriteAll(1, msg);
          stop_all(false);
        }
      }
    }
    if (g_stop_signal && !stopping) {
      stop_all(false);
      if (fail_code == 0) fail_code = 128 + g_stop_signal;
    }
    if (kind == "tensorflow" && !ps_stopped && !stopping) {
      bool workers_here = false, workers_done = true;
      for (auto& r : ranks) {
        if (r.is_ps) continue;
        workers_here = true;
        if (!r.exited) workers_done = false;
      }
      if (workers_here && workers_done) {
        ps_stopped = true;
        stop_all(true);
      }
    }
    if (stopping && !killed && Clock::now() > kill_at) {
      for (auto& r : ranks) {
        if (!r.exited) ::killpg(r.pid, SIGKILL);
      }
      killed = true;
    }
    bool all_exited =
        std::all_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.exited; });
    if (all_exited) {
      // Leftover grandchildren may hold a pipe open: take what is there, then stop.
      for (auto& r : ranks) {
        if (r.fd >= 0) {
          DrainFd(r);
          if (r.fd >= 0) {
            ::close(r.fd);
            r.fd = -1;
            EmitLines(r, true);
          }
        }
        ::killpg(r.pid, SIGKILL);
      }
      break;
    }
  }
  return fail_code;
}

}  // namespace trainyard
