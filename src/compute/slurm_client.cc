#include "compute/slurm_client.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "env/process.h"

namespace trainyard {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

std::vector<std::string> ExpandSlurmHostlist(const std::string& list) {
  std::vector<std::string> out;
  // Split on commas outside brackets.
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  for (auto& p : parts) {
    size_t lb = p.find('[');
    if (lb == std::string::npos) {
      if (!p.empty()) out.push_back(p);
      continue;
    }
    size_t rb = p.find(']', lb);
    std::string prefix = p.substr(0, lb), suffix = rb == std::string::npos ? "" : p.substr(rb + 1);
    for (auto& range : Split(p.substr(lb + 1, rb - lb - 1), ',')) {
      auto dash = range.find('-');
      if (dash == std::string::npos) {
        out.push_back(prefix + range + suffix);
        continue;
      }
      std::string a = range.substr(0, dash), b = range.substr(dash + 1);
      long lo = std::stol(a), hi = std::stol(b);
      for (long i = lo; i <= hi; ++i) {
        std::string num = std::to_string(i);
        while (num.size() < a.size()) num = "0" + num;  // n[01-10] keeps its width
        out.push_back(prefix + num + suffix);
      }
    }
  }
  return out;
}

std::string SlurmClient::Command(const std::string& name) const {
  if (config_.bin_dir.empty()) return name;
  return (fs::path(config_.bin_dir) / name).string();
}

std::string SlurmClient::RunOrThrow(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env) const {
  ProcessOptions o;
  o.argv = argv;
  o.argv[0] = Command(argv[0]);
  if (!config_.slurm_conf.empty()) o.env["SLURM_CONF"] = config_.slurm_conf;
  for (auto& [k, v] : env) o.env[k] = v;
  o.capture = true;
  o.merge_stderr = true;
  o.tail_lines = 40;
  o.timeout = std::chrono::seconds(60);
  ProcessResult r;
  try {
    r = RunProcess(o);
  } catch (const Error& e) {
    throw InvalidInput("cannot run the Slurm command '" + o.argv[0] + "' (" + e.what() +
                           "): install the Slurm client (Debian: slurm-client) or start the "
                           "server with --slurm-bin-dir DIR",
                       "SlurmUnavailable");
  }
  if (!r.ok()) {
    throw InvalidInput(argv[0] + " failed (exit " + std::to_string(r.exit_code) +
                           (r.timed_out ? ", timed out" : "") + "): " + Trim(r.TailText()),
                       "SlurmCommandFailed");
  }
  return r.output;
}

void SlurmClient::Check() const {
  try {
    RunOrThrow({"sinfo", "-h", "-o", "%P"});
  } catch (const Error& e) {
    throw InvalidInput(std::string("the workspace's Slurm cluster cannot be reached: ") + e.what() +
                           " (set the server's --slurm-conf / --slurm-bin-dir, see docs/REST.md "
                           "\"Slurm\")",
                       "SlurmUnavailable");
  }
}

std::vector<std::string> SlurmClient::Partitions() const {
  std::vector<std::string> out;
  for (auto& line : Split(RunOrThrow({"sinfo", "-h", "-o", "%R"}), '\n')) {
    std::string p = Trim(line);
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

bool SlurmClient::PartitionExists(const std::string& partition) const {
  auto parts = Partitions();
  return std::find(parts.begin(), parts.end(), partition) != parts.end();
}

std::vector<SlurmNodeInfo> SlurmClient::Nodes(const std::string& partition) const {
  std::vector<SlurmNodeInfo> out;
  std::string text = RunOrThrow({"sinfo", "-h", "-N", "-p", partition, "-o", "%N|%T|%c|%m|%G|%E"});
  std::set<std::string> seen;
  for (auto& line : Split(text, '\n')) {
    auto f = Split(Trim(line), '|');
    if (f.size() < 6 || f[0].empty() || !seen.insert(f[0]).second) continue;
    SlurmNodeInfo n;
    n.name = f[0];
    n.state = f[1];
    n.cpus = std::atoi(f[2].c_str());
    n.memory_mb = std::atoll(f[3].c_str());
    n.gres = f[4] == "(null)" ? "" : f[4];
    n.reason = f[5] == "none" ? "" : f[5];
    out.push_back(n);
  }
  return out;
}

int64_t SlurmClient::Submit(const SlurmJobRequest& q) const {
  std::vector<std::string> argv = {"sbatch",
                                   "--parsable",
                                   "--no-requeue",
                                   "-J",
                                   q.name,
                                   "-N",
                                   std::to_string(q.nodes),
                                   "--ntasks-per-node=" + std::to_string(q.tasks_per_node)};
  if (q.exclusive) argv.push_back("--exclusive");
  if (!q.partition.empty()) argv.push_back("--partition=" + q.partition);
  if (q.cpus_per_task > 0) argv.push_back("--cpus-per-task=" + std::to_string(q.cpus_per_task));
  if (!q.gres.empty()) argv.push_back("--gres=" + q.gres);
  if (!q.constraint.empty()) argv.push_back("--constraint=" + q.constraint);
  if (q.time_limit_minutes > 0) argv.push_back("--time=" + std::to_string(q.time_limit_minutes));
  if (!q.workdir.empty()) argv.push_back("--chdir=" + q.workdir);
  if (!q.output.empty()) argv.push_back("--output=" + q.output);
  argv.push_back(q.script_path);
  std::string out = Trim(RunOrThrow(argv, q.env));
  // --parsable: "jobid" or "jobid;cluster"
  std::string id = out.substr(0, out.find(';'));
  size_t nl = id.rfind('\n');
  if (nl != std::string::npos) id = id.substr(nl + 1);
  int64_t job = std::atoll(id.c_str());
  if (job <= 0) throw InternalError("sbatch answered '" + out + "', not a job id");
  return job;
}

void SlurmClient::Cancel(int64_t job_id) const { RunOrThrow({"scancel", std::to_string(job_id)}); }

static SlurmJobInfo ParseJobLine(const std::string& line) {
  SlurmJobInfo j;
  auto f = Split(Trim(line), '|');
  if (f.size() < 5) return j;
  j.id = std::atoll(f[0].c_str());
  j.name = f[1];
  j.state = f[2];
  j.reason = f[3] == "None" ? "" : f[3];
  j.nodes = f[4];
  j.known = j.id > 0;
  return j;
}

std::map<int64_t, SlurmJobInfo> SlurmClient::Jobs(const std::vector<int64_t>& ids) const {
  std::map<int64_t, SlurmJobInfo> out;
  if (ids.empty()) return out;
  std::set<int64_t> want(ids.begin(), ids.end());
  // All states: jobs that ended within MinJobAge are still listed, with their end reason.
  std::string text = RunOrThrow({"squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%r|%N"});
  for (auto& line : Split(text, '\n')) {
    SlurmJobInfo j = ParseJobLine(line);
    if (j.known && want.count(j.id)) out[j.id] = j;
  }
  for (int64_t id : ids) {
    if (!out.count(id)) {
      SlurmJobInfo j;
      j.id = id;
      out[id] = j;  // known=false: Slurm has forgotten it
    }
  }
  return out;
}

std::vector<SlurmJobInfo> SlurmClient::ActiveJobsNamed(
    const std::vector<std::string>& names) const {
  std::vector<SlurmJobInfo> out;
  if (names.empty()) return out;
  std::string text = RunOrThrow({"squeue", "-h", "-n", Join(names, ","), "-o", "%i|%j|%T|%r|%N"});
  for (auto& line : Split(text, '\n')) {
    SlurmJobInfo j = ParseJobLine(line);
    if (j.known && j.Active()) out.push_back(j);
  }
  return out;
}

}  // namespace trainyard
