#include "hyperdrive/sweep_controller.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/util.h"

namespace trainyard::hyperdrive {
namespace fs = std::filesystem;

namespace {

constexpr const char* kHyperparameters = "hyperparameters";
constexpr const char* kReasonProperty = "early_termination_reason";
constexpr const char* kLogName = "azureml-logs/hyperdrive.txt";

bool Better(double a, double b, Goal g) { return g == Goal::kMaximize ? a > b : a < b; }

std::optional<double> BestValue(const std::vector<double>& v, Goal g) {
  std::optional<double> best;
  for (double d : v)
    if (!best || Better(d, *best, g)) best = d;
  return best;
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_.+=/:,") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int64_t ChildIndex(const RunRecord& r) {
  auto us = r.id.rfind('_');
  if (us == std::string::npos) return -1;
  char* end = nullptr;
  int64_t i = std::strtoll(r.id.c_str() + us + 1, &end, 10);
  return *end == '\0' ? i : -1;
}

}  // namespace

struct SweepController::Sweep {
  std::string parent_id;
  std::string experiment;
  SweepConfig cfg;
  std::unique_ptr<ParameterSampler> sampler;
  std::unique_ptr<EarlyTerminationPolicy> policy;
  bool uses_history = false;
  bool exhausted = false;  // the sampler has nothing more (grid)
  bool expired = false;    // max_duration_minutes passed; running children were canceled
  std::map<std::string, std::vector<double>> series;  // child -> primary metric values
  std::map<std::string, size_t> evaluated;            // child -> intervals already evaluated
  std::set<std::string> stopped;                      // canceled by the policy
  std::vector<TrialResult> warm_start;                // from resume_from
  std::vector<std::pair<std::string, Json>> resumed;  // resume_child_runs: (child, parameters)
};

SweepController::SweepController(MetadataStore& store, ChangeNotifier& notifier,
                                 RunSubmitter& submitter, fs::path data_dir)
    : store_(store), notifier_(notifier), submitter_(submitter), data_dir_(std::move(data_dir)) {}

SweepController::~SweepController() { Stop(); }

void SweepController::Start() {
  RunFilter f;
  f.kind = "hyperdrive";
  f.include_children = true;
  for (const char* s : {"NotStarted", "Queued", "Preparing", "Starting", "Running", "Provisioning",
                        "CancelRequested", "Finalizing"}) {
    f.statuses.push_back(s);
  }
  std::vector<std::string> ids;
  for (auto& r : store_.ListRuns(f)) {
    if (r.definition.contains("hyperdrive")) ids.push_back(r.id);
  }
  for (auto& id : ids) {
    try {
      Load(id);
    } catch (const std::exception& e) {
      Json err = {{"message", std::string("cannot resume the sweep: ") + e.what()}};
      store_.UpdateRunStatus(id, "Failed", err, std::nullopt);
    }
  }
  {
    std::lock_guard lk(mu_);
    for (auto& id : ids) dirty_.insert(id);
  }
  thread_ = std::thread([this] { Loop(); });
}

void SweepController::Stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Json SweepController::ChildConfig(const Json& child_config, const SweepConfig& cfg,
                                  const Json& params) {
  Json c = child_config;
  bool command_string = c.contains("command") && c["command"].is_string() &&
                        !(c.contains("script") && c["script"].is_string());
  if (command_string) {
    std::string cmd = c["command"];
    for (auto& p : cfg.space.parameters) {
      cmd += " " + ShellQuote(p.Flag()) + " " + ShellQuote(FormatArgument(params.at(p.name)));
    }
    c["command"] = cmd;
    return c;
  }
  Json& target = c.contains("command") && c["command"].is_array() &&
                         !(c.contains("script") && c["script"].is_string())
                     ? c["command"]
                     : c["arguments"];
  if (!target.is_array()) target = Json::array();
  for (auto& p : cfg.space.parameters) {
    target.push_back(p.Flag());
    target.push_back(FormatArgument(params.at(p.name)));
  }
  return c;
}

std::string SweepController::HyperparametersJson(const SweepConfig& cfg, const Json& params) {
  std::string out = "{";
  for (auto& p : cfg.space.parameters) {
    if (out.size() > 1) out += ", ";
    const Json& v = params.at(p.name);
    std::string value = v.is_number_float() ? FormatArgument(v)
                        : v.is_boolean()    ? (v.get<bool>() ? "true" : "false")
                                            : v.dump();
    out += Json(p.name).dump() + ": " + value;
  }
  return out + "}";
}

Json SweepController::CreateSweep(const std::string& experiment, const Json& hyperdrive,
                                  const Json& child_config, const Json& tags,
                                  const std::string& run_id) {
  SweepConfig cfg = SweepConfig::Parse(hyperdrive);
  for (auto& prev : cfg.resume_from) {
    auto r = store_.GetRun(prev.get<std::string>());
    if (!r || r->kind != "hyperdrive") {
      throw InvalidInput("resume_from: '" + prev.get<std::string>() +
                         "' is not a HyperDrive run of this workspace");
    }
  }
  for (auto& prev : cfg.resume_child_runs) ResumedParameters(cfg, prev.get<std::string>());
  std::string id = run_id.empty() ? "HD_" + RandomHex(16) : run_id;
  Json props = {{"primary_metric_config",
                 Json({{"name", cfg.primary_metric_name},
                       {"goal", cfg.goal == Goal::kMaximize ? "maximize" : "minimize"}})
                     .dump()},
                {"resume_from", cfg.resume_from.dump()},
                {"runTemplate", "HyperDrive"}};
  Json body = {{"kind", "hyperdrive"},
               {"run_id", id},
               {"status", "Running"},
               {"tags", tags.is_object() ? tags : Json::object()},
               {"properties", props},
               {"compute_target", child_config.value("compute_target", Json("local")).is_string()
                                      ? child_config.value("compute_target", "local")
                                      : "local"},
               {"definition", {{"hyperdrive", cfg.ToJson()}, {"child_config", child_config}}}};
  Json run = submitter_.CreateRun(experiment, body);
  {
    std::lock_guard lk(mu_);
    adopt_.insert(id);  // loaded on the controller thread, which owns the sweeps
  }
  cv_.notify_all();
  return run;
}

Json SweepController::ResumedParameters(const SweepConfig& cfg, const std::string& child_id) {
  auto r = store_.GetRun(child_id);
  std::optional<RunRecord> parent;
  if (r && !r->parent_id.empty()) parent = store_.GetRun(r->parent_id);
  if (!r || !parent || parent->kind != "hyperdrive" || !r->properties.contains(kHyperparameters)) {
    throw InvalidInput("resume_child_runs: '" + child_id +
                       "' is not a child run of a HyperDrive run of this workspace");
  }
  if (!IsTerminalStatus(r->status)) {
    throw InvalidInput("resume_child_runs: '" + child_id + "' is still " + r->status +
                       "; a child can be resumed once it has ended (cancel it first)");
  }
  Json params =
      Json::parse(r->properties[kHyperparameters].get<std::string>(), nullptr, false, true);
  std::set<std::string> want, have;
  for (auto& p : cfg.space.parameters) want.insert(p.name);
  if (params.is_object())
    for (auto& [k, v] : params.items()) have.insert(k);
  if (want != have) {
    std::string h;
    for (auto& k : have) h += (h.empty() ? "" : ", ") + k;
    throw InvalidInput("resume_child_runs: '" + child_id + "' was run with the parameters {" + h +
                       "}; this HyperDrive run's parameter space must have the same names");
  }
  return params;
}

void SweepController::Load(const std::string& parent_id) {
  auto parent = store_.GetRun(parent_id);
  if (!parent) throw NotFound("run '" + parent_id + "' not found");
  auto sw = std::make_unique<Sweep>();
  sw->parent_id = parent_id;
  sw->experiment = parent->experiment;
  sw->cfg = SweepConfig::Parse(parent->definition["hyperdrive"]);
  sw->sampler = sw->cfg.MakeSampler();
  sw->policy = sw->cfg.MakePolicy();
  sw->uses_history = sw->cfg.sampling == "bayesian";
  for (auto& prev : sw->cfg.resume_from) {
    RunFilter cf;
    cf.parent_id = prev.get<std::string>();
    for (auto& c : store_.ListRuns(cf)) {
      if (!c.properties.contains(kHyperparameters)) continue;
      TrialResult t;
      t.parameters = Json::parse(c.properties[kHyperparameters].get<std::string>(), nullptr, false);
      t.value = BestValue(Series(c.id, sw->cfg.primary_metric_name), sw->cfg.goal);
      t.finished = true;
      if (t.value && t.parameters.is_object()) sw->warm_start.push_back(std::move(t));
    }
  }
  for (auto& prev : sw->cfg.resume_child_runs) {
    const std::string id = prev.get<std::string>();
    sw->resumed.emplace_back(id, ResumedParameters(sw->cfg, id));
  }
  RunFilter f;
  f.parent_id = parent_id;
  std::vector<std::string> children;
  for (auto& c : store_.ListRuns(f)) {
    children.push_back(c.id);
    sw->series[c.id] = Series(c.id, sw->cfg.primary_metric_name);
    // Intervals stored before a restart were evaluated then (against what was known at the
    // time); only values that arrive from now on are evaluated.
    sw->evaluated[c.id] = sw->series[c.id].size();
    if (c.properties.contains(kReasonProperty)) sw->stopped.insert(c.id);
  }
  int64_t start = parent->started ? parent->started : parent->created;
  std::lock_guard lk(mu_);
  for (auto& c : children) child_parent_[c] = parent_id;
  primary_metric_[parent_id] = sw->cfg.primary_metric_name;
  deadlines_[parent_id] = start + static_cast<int64_t>(sw->cfg.max_duration_minutes * 60000.0);
  sweeps_[parent_id] = std::move(sw);
}

void SweepController::MetricsInserted(const std::vector<MetricPoint>& points) {
  bool any = false;
  {
    std::lock_guard lk(mu_);
    for (auto& p : points) {
      auto c = child_parent_.find(p.run_id);
      if (c == child_parent_.end()) continue;
      auto m = primary_metric_.find(c->second);
      if (m == primary_metric_.end() || m->second != p.name) continue;
      any = evals_.insert({c->second, p.run_id}).second || any;
    }
  }
  if (any) cv_.notify_all();
}

void SweepController::RunStatusChanged(const std::string& run_id, const std::string& status) {
  if (!IsTerminalStatus(status)) return;
  {
    std::lock_guard lk(mu_);
    auto c = child_parent_.find(run_id);
    if (c != child_parent_.end()) {
      dirty_.insert(c->second);
    } else if (primary_metric_.count(run_id)) {
      dirty_.insert(run_id);  // the parent itself was canceled
    } else {
      return;
    }
  }
  cv_.notify_all();
}

void SweepController::Loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    int64_t next = INT64_MAX;
    for (auto& [id, d] : deadlines_) next = std::min(next, d);
    auto wake = [&] { return stopping_ || !evals_.empty() || !dirty_.empty() || !adopt_.empty(); };
    if (next == INT64_MAX) {
      cv_.wait(lk, wake);
    } else {
      int64_t ms = std::max<int64_t>(0, next - NowMillis());
      cv_.wait_for(lk, std::chrono::milliseconds(std::min<int64_t>(ms, 60000)), wake);
    }
    if (stopping_) break;
    auto adopt = std::move(adopt_);
    adopt_.clear();
    auto evals = std::move(evals_);
    evals_.clear();
    auto dirty = std::move(dirty_);
    dirty_.clear();
    int64_t now = NowMillis();
    for (auto& [id, d] : deadlines_)
      if (d <= now) dirty.insert(id);
    lk.unlock();
    for (auto& id : adopt) {
      try {
        Load(id);
        dirty.insert(id);
      } catch (const std::exception& e) {
        Json err = {{"message", std::string("cannot start the sweep: ") + e.what()}};
        store_.UpdateRunStatus(id, "Failed", err, std::nullopt);
      }
    }
    for (auto& [parent, child] : evals) {
      auto it = sweeps_.find(parent);
      if (it == sweeps_.end()) continue;
      try {
        EvaluatePolicy(*it->second, child);
      } catch (const std::exception& e) {
        Log(*it->second, std::string("policy evaluation failed: ") + e.what());
      }
    }
    for (auto& parent : dirty) {
      auto it = sweeps_.find(parent);
      if (it == sweeps_.end()) continue;
      try {
        Step(*it->second);
      } catch (const std::exception& e) {
        Log(*it->second, std::string("sweep step failed: ") + e.what());
      }
    }
    lk.lock();
    for (auto it = sweeps_.begin(); it != sweeps_.end();) {
      auto parent = store_.GetRun(it->first);
      if (!parent || IsTerminalStatus(parent->status)) {
        // Keep the child map while children may still report (cancel in flight).
        bool children_done = true;
        RunFilter f;
        f.parent_id = it->first;
        lk.unlock();
        for (auto& c : store_.ListRuns(f))
          children_done = children_done && IsTerminalStatus(c.status);
        lk.lock();
        if (children_done) {
          for (auto c = child_parent_.begin(); c != child_parent_.end();) {
            c = c->second == it->first ? child_parent_.erase(c) : std::next(c);
          }
          primary_metric_.erase(it->first);
          deadlines_.erase(it->first);
          it = sweeps_.erase(it);
          continue;
        }
        deadlines_.erase(it->first);
      }
      ++it;
    }
  }
}

std::vector<double> SweepController::Series(const std::string& run_id, const std::string& metric) {
  std::vector<double> out;
  for (auto& p : store_.GetMetrics(run_id, metric)) {
    if (p.kind == "scalar" && p.value.is_number()) out.push_back(p.value.get<double>());
  }
  return out;
}

void SweepController::EvaluatePolicy(Sweep& sw, const std::string& child_id) {
  if (sw.stopped.count(child_id)) return;
  std::vector<double> mine = Series(child_id, sw.cfg.primary_metric_name);
  sw.series[child_id] = mine;
  auto child = store_.GetRun(child_id);
  if (!child || IsTerminalStatus(child->status) || child->status == "CancelRequested") return;
  RunFilter f;
  f.parent_id = sw.parent_id;
  std::vector<MetricSeries> all;
  for (auto& c : store_.ListRuns(f)) {
    MetricSeries s{c.id, sw.series[c.id], IsTerminalStatus(c.status)};
    if (!s.values.empty()) all.push_back(std::move(s));
  }
  size_t& done = sw.evaluated[child_id];
  for (size_t n = done + 1; n <= mine.size(); ++n) {
    MetricSeries cand{child_id, std::vector<double>(mine.begin(), mine.begin() + n), false};
    PolicyDecision d = sw.policy->Evaluate(cand, all);
    done = n;
    if (!d.terminate) continue;
    sw.stopped.insert(child_id);
    try {
      store_.AddProperties(child_id, {{kReasonProperty, d.reason}});
    } catch (const Conflict&) {
    }
    submitter_.CancelRun(child_id);
    Log(sw, "Canceling " + child_id + ": " + d.reason);
    return;
  }
}

void SweepController::Step(Sweep& sw) {
  auto parent = store_.GetRun(sw.parent_id);
  if (!parent) return;
  RunFilter f;
  f.parent_id = sw.parent_id;
  std::vector<RunRecord> children = store_.ListRuns(f);
  std::sort(children.begin(), children.end(),
            [](const RunRecord& a, const RunRecord& b) { return ChildIndex(a) < ChildIndex(b); });
  int64_t active = 0;
  for (auto& c : children) active += !IsTerminalStatus(c.status);

  if (IsTerminalStatus(parent->status)) {  // canceled (or failed) from outside
    for (auto& c : children) {
      if (!IsTerminalStatus(c.status) && c.status != "CancelRequested") {
        submitter_.CancelRun(c.id);
      }
    }
    return;
  }
  int64_t deadline;
  {
    std::lock_guard lk(mu_);
    deadline = deadlines_.count(sw.parent_id) ? deadlines_[sw.parent_id] : INT64_MAX;
  }
  if (!sw.expired && NowMillis() >= deadline) {
    sw.expired = true;
    Log(sw, "max_duration_minutes (" + FormatArgument(sw.cfg.max_duration_minutes) +
                ") reached: canceling the running children");
    for (auto& c : children) {
      if (!IsTerminalStatus(c.status)) submitter_.CancelRun(c.id);
    }
    std::lock_guard lk(mu_);
    deadlines_.erase(sw.parent_id);
  }
  int64_t created = static_cast<int64_t>(children.size());
  while (!sw.expired && !sw.exhausted && active < sw.cfg.max_concurrent_runs &&
         created < sw.cfg.max_total_runs) {
    std::vector<TrialResult> history = sw.warm_start;
    if (sw.uses_history) {
      for (auto& c : children) {
        TrialResult t;
        t.parameters = Json::parse(c.properties.value(kHyperparameters, "{}"), nullptr, false);
        t.finished = IsTerminalStatus(c.status);
        if (t.finished) {
          t.value = BestValue(Series(c.id, sw.cfg.primary_metric_name), sw.cfg.goal);
        }
        history.push_back(std::move(t));
      }
    }
    // Resumed children come first (indexes 0..n-1), then the sampler's draws.
    const bool resuming = created < static_cast<int64_t>(sw.resumed.size());
    std::optional<Json> params =
        resuming ? std::optional<Json>(sw.resumed[static_cast<size_t>(created)].second)
                 : sw.sampler->Next(static_cast<uint64_t>(created), history);
    if (!params) {
      sw.exhausted = true;
      Log(sw, "the parameter space is exhausted after " + std::to_string(created) + " runs");
      break;
    }
    std::string child_id = sw.parent_id + "_" + std::to_string(created);
    std::string hp = HyperparametersJson(sw.cfg, *params);
    Json body = {{"kind", "script"},
                 {"run_id", child_id},
                 {"parent_id", sw.parent_id},
                 {"tags", {{kHyperparameters, hp}}},
                 {"properties", {{kHyperparameters, hp}}},
                 {"config", ChildConfig(parent->definition["child_config"], sw.cfg, *params)}};
    if (resuming) {
      const std::string& from = sw.resumed[static_cast<size_t>(created)].first;
      body["properties"]["resumed_from_run"] = from;
      body["config"]["resume_from"] = {{"run", from}};
    }
    {
      std::lock_guard lk(mu_);
      child_parent_[child_id] = sw.parent_id;
    }
    Json run;
    try {
      run = submitter_.CreateRun(sw.experiment, body);
    } catch (const Error& e) {
      if (store_.GetRun(child_id)) {  // created before a crash: count it
        children.push_back(*store_.GetRun(child_id));
        ++created;
        continue;
      }
      Json err = {{"message", "HyperDrive could not submit child run " + child_id + ": " +
                                  std::string(e.what())}};
      Log(sw, err["message"]);
      for (auto& c : children)
        if (!IsTerminalStatus(c.status)) submitter_.CancelRun(c.id);
      store_.UpdateRunStatus(sw.parent_id, "Failed", err, std::nullopt);
      notifier_.Notify();
      return;
    }
    sw.series[child_id] = {};
    Log(sw, "Submitted " + child_id + " with " + hp +
                (resuming ? " (resuming " + sw.resumed[static_cast<size_t>(created)].first + ")"
                          : std::string()));
    children.push_back(*store_.GetRun(child_id));
    ++created;
    ++active;
  }
  bool done = sw.expired || sw.exhausted || created >= sw.cfg.max_total_runs;
  if (active == 0 && done) Finish(sw, children);
}

void SweepController::Finish(Sweep& sw, const std::vector<RunRecord>& children) {
  std::string best_id;
  std::optional<double> best;
  size_t failed = 0;
  std::string first_error;
  for (auto& c : children) {
    if (c.status == "Failed") {
      ++failed;
      if (first_error.empty() && c.error.is_object()) first_error = c.error.value("message", "");
    }
    auto v = BestValue(Series(c.id, sw.cfg.primary_metric_name), sw.cfg.goal);
    if (v && (!best || Better(*v, *best, sw.cfg.goal))) {
      best = v;
      best_id = c.id;
    }
  }
  if (!best_id.empty()) {
    store_.SetTags(sw.parent_id,
                   {{"best_child_run_id", best_id}, {"best_metric", FormatArgument(*best)}});
  }
  Json error;
  std::string status = "Completed";
  if (!children.empty() && failed == children.size()) {
    status = "Failed";
    error = {{"message",
              "all " + std::to_string(failed) + " child runs failed; the first: " + first_error}};
  }
  Log(sw, "HyperDrive run " + status + " with " + std::to_string(children.size()) + " child runs" +
              (best_id.empty() ? "" : "; best: " + best_id));
  store_.UpdateRunStatus(sw.parent_id, status, error, std::nullopt);
  notifier_.Notify();
}

void SweepController::Log(const Sweep& sw, const std::string& line) {
  fs::path path = data_dir_ / "logs" / sw.parent_id / kLogName;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream(path, std::ios::app) << FormatIsoTime(NowMillis()) << " " << line << "\n";
  notifier_.Notify();
}

}  // namespace trainyard::hyperdrive
