#include "compute/run_scheduler.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "common/util.h"
#include "store/run_tokens.h"

namespace trainyard {

namespace {
const char* const kActiveStatuses[] = {"Preparing", "Provisioning", "Starting",
                                       "Running",   "Finalizing",   "CancelRequested"};

// Runs an agent executes: scripts, and AutoML runs submitted with a driver definition.
bool IsAgentRun(const RunRecord& r) {
  return r.kind == "script" || (r.kind == "automl" && r.definition.contains("source_directory"));
}

std::string TargetOf(const RunRecord& r) {
  return r.compute_target.empty() ? "local" : r.compute_target;
}
}  // namespace

RunScheduler::RunScheduler(MetadataStore& store, ChangeNotifier& notifier)
    : store_(store), notifier_(notifier) {}

RunScheduler::~RunScheduler() { Stop(); }

void RunScheduler::AddTarget(std::unique_ptr<ComputeTarget> target) {
  const std::string name = target->Name();
  auto lane = std::make_unique<Lane>();
  lane->target = std::move(target);
  // Reconcile what a previous server left behind on this target.
  RunFilter active;
  active.include_children = true;
  for (const char* s : kActiveStatuses) active.statuses.push_back(s);
  std::map<std::string, int64_t> adopt;
  std::map<std::string, std::string> adopt_status;
  for (auto& r : store_.ListRuns(active)) {
    if (!IsAgentRun(r) || TargetOf(r) != name) continue;
    adopt[r.id] = r.agent_pid;
    adopt_status[r.id] = r.status;
  }
  if (!adopt.empty()) {
    std::map<std::string, AgentProbe> probes;
    try {
      probes = lane->target->Probe(adopt);
    } catch (const std::exception&) {
      // The node does not answer now: keep watching; its heartbeat decides.
    }
    for (auto& [id, pid] : adopt) {
      auto it = probes.find(id);
      if (it != probes.end() && it->second.state == AgentState::kGone) {
        // Gone while the server was down: ship what it left, then fail the run.
        try {
          int64_t rpid = lane->target->StartRecovery(
              id, MintRunToken(store_, id),
              "its process was gone when the Trainyard server started: the server or the "
              "machine stopped while the run was active");
          store_.SetAgentPid(id, rpid);
          lane->running[id] = rpid;
          lane->recovering.insert(id);
          if (adopt_status[id] == "CancelRequested") lane->cancel_requested.insert(id);
          continue;
        } catch (const std::exception&) {
        }
        store_.UpdateRunStatus(
            id, adopt_status[id] == "CancelRequested" ? "Canceled" : "Failed",
            {{"message",
              "The run's agent process is gone: the Trainyard server or the machine stopped "
              "while the run was active. Logs written until then are kept."}},
            std::nullopt);
      } else {
        lane->running[id] = pid;
        if (adopt_status[id] == "CancelRequested") lane->cancel_requested.insert(id);
      }
    }
  }
  RunFilter queued;
  queued.include_children = true;
  queued.statuses = {"Queued"};
  auto runs = store_.ListRuns(queued);
  std::sort(runs.begin(), runs.end(),
            [](const RunRecord& a, const RunRecord& b) { return a.created < b.created; });
  for (auto& r : runs) {
    if (IsAgentRun(r) && TargetOf(r) == name) lane->queue.push_back(r.id);
  }
  std::lock_guard lk(mu_);
  if (stopping_) return;
  if (lanes_.count(name)) throw Conflict("compute target '" + name + "' is already scheduled");
  Lane* raw = lane.get();
  lanes_[name] = std::move(lane);
  raw->thread = std::thread([this, raw] { DispatchLoop(raw); });
}

void RunScheduler::StopLane(Lane* lane, std::unique_lock<std::mutex>& lk) {
  lane->stopping = true;
  lane->cv.notify_all();
  lk.unlock();
  if (lane->thread.joinable()) lane->thread.join();
  lane->target->Shutdown();
  lk.lock();
}

void RunScheduler::RemoveTarget(const std::string& name, bool force) {
  std::unique_lock lk(mu_);
  auto it = lanes_.find(name);
  if (it == lanes_.end()) return;
  Lane* lane = it->second.get();
  std::vector<std::string> queued(lane->queue.begin(), lane->queue.end());
  std::map<std::string, int64_t> running = lane->running;
  if (!force && (!queued.empty() || !running.empty())) {
    std::string ids;
    for (auto& q : queued) ids += (ids.empty() ? "" : ", ") + q;
    for (auto& [r, pid] : running) ids += (ids.empty() ? "" : ", ") + r;
    throw Conflict("compute target '" + name + "' has " + std::to_string(running.size()) +
                   " active and " + std::to_string(queued.size()) + " queued runs (" + ids +
                   "); wait for them or cancel them, or detach with force (runs are canceled)");
  }
  std::unique_ptr<Lane> owned = std::move(it->second);
  lanes_.erase(it);
  StopLane(lane, lk);  // joins the dispatcher: a launch in progress has its pid now
  queued.assign(lane->queue.begin(), lane->queue.end());
  running = lane->running;
  lk.unlock();
  for (auto& q : queued) {
    store_.UpdateRunStatus(
        q, "Canceled", {{"message", "compute target '" + name + "' was detached"}}, std::nullopt);
  }
  for (auto& [id, pid] : running) {
    try {
      if (pid != 0) owned->target->CancelAgent(id, pid);
    } catch (const std::exception&) {
      // Unreachable node: the run is marked Canceled anyway.
    }
    store_.UpdateRunStatus(id, "Canceled",
                           {{"message", "compute target '" + name +
                                            "' was detached with force while the run was "
                                            "active; its agent was asked to stop"}},
                           std::nullopt);
  }
  notifier_.Notify();
}

bool RunScheduler::HasTarget(const std::string& name) const {
  std::lock_guard lk(mu_);
  return lanes_.count(name) > 0;
}

int RunScheduler::TargetMaxNodes(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = lanes_.find(name);
  return it == lanes_.end() ? 0 : it->second->target->MaxNodes();
}

int RunScheduler::TargetGpusPerNode(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = lanes_.find(name);
  return it == lanes_.end() ? -1 : it->second->target->GpusPerNode();
}

void RunScheduler::Start() {
  RunFilter f;
  f.include_children = true;
  for (const char* s : kActiveStatuses) f.statuses.push_back(s);
  f.statuses.push_back("Queued");
  for (auto& r : store_.ListRuns(f)) {
    if (!IsAgentRun(r) || HasTarget(TargetOf(r))) continue;
    store_.UpdateRunStatus(
        r.id, "Failed",
        {{"message", "compute target '" + TargetOf(r) +
                         "' does not exist anymore (detached); the run cannot be executed"}},
        std::nullopt);
  }
}

void RunScheduler::Stop() {
  std::unique_lock lk(mu_);
  stopping_ = true;
  for (auto& [name, lane] : lanes_) {
    if (!lane->stopping) StopLane(lane.get(), lk);
  }
}

void RunScheduler::Enqueue(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run) return;
  std::string target = TargetOf(*run);
  {
    std::lock_guard lk(mu_);
    auto it = lanes_.find(target);
    if (it != lanes_.end()) {
      it->second->queue.push_back(run_id);
      it->second->cv.notify_all();
      return;
    }
  }
  store_.UpdateRunStatus(run_id, "Failed",
                         {{"message", "compute target '" + target + "' is not available"}},
                         std::nullopt);
  notifier_.Notify();
}

int RunScheduler::Running() const {
  std::lock_guard lk(mu_);
  int n = 0;
  for (auto& [name, lane] : lanes_) n += static_cast<int>(lane->running.size());
  return n;
}

Json RunScheduler::TargetStatus(const std::string& name) const {
  ComputeTarget* target = nullptr;
  Json j;
  {
    std::lock_guard lk(mu_);
    auto it = lanes_.find(name);
    if (it == lanes_.end()) return nullptr;
    target = it->second->target.get();
    j = {{"slots", target->Slots()},
         {"running", it->second->running.size()},
         {"queued", it->second->queue.size()}};
  }
  // Nodes() and Status() may be slow (remote): called outside the lock. The target lives as
  // long as its lane; lanes are removed only by RemoveTarget (detach), which the API serializes
  // with status reads of the same target.
  Json nodes = Json::array();
  for (auto& n : target->Nodes()) {
    nodes.push_back({{"name", n.name},
                     {"state", n.state},
                     {"message", n.message},
                     {"slots", n.slots},
                     {"busy", n.busy},
                     {"resources", n.resources}});
  }
  j["nodes"] = nodes;
  j["target"] = target->Status();
  return j;
}

std::vector<std::string> RunScheduler::ActiveRuns(const std::string& name) const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  auto it = lanes_.find(name);
  if (it == lanes_.end()) return out;
  out.assign(it->second->queue.begin(), it->second->queue.end());
  for (auto& [id, pid] : it->second->running) out.push_back(id);
  return out;
}

void RunScheduler::Cancel(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run) throw NotFound("run '" + run_id + "' not found");
  if (IsTerminalStatus(run->status)) return;
  int64_t pid = 0;
  bool running = false;
  ComputeTarget* target = nullptr;
  {
    std::lock_guard lk(mu_);
    for (auto& [name, lane] : lanes_) {
      auto q = std::find(lane->queue.begin(), lane->queue.end(), run_id);
      if (q != lane->queue.end()) lane->queue.erase(q);
      auto it = lane->running.find(run_id);
      if (it != lane->running.end()) {
        pid = it->second;
        running = true;
        target = lane->target.get();
        lane->cancel_requested.insert(run_id);
      }
    }
  }
  if (running) {
    store_.UpdateRunStatus(run_id, "CancelRequested", nullptr, std::nullopt);
    try {
      if (pid != 0) target->CancelAgent(run_id, pid);  // 0: Launch cancels once it has a pid
    } catch (const std::exception&) {
      // The node does not answer: the run stays CancelRequested until its agent reports or the
      // target's heartbeat gives up on the node.
    }
  } else {
    store_.UpdateRunStatus(run_id, "Canceled", nullptr, std::nullopt);
  }
  notifier_.Notify();
}

void RunScheduler::DispatchLoop(Lane* lane) {
  using Clock = std::chrono::steady_clock;
  ComputeTarget& target = *lane->target;
  const auto interval = target.PollInterval();
  auto next_probe = Clock::now();
  std::unique_lock lk(mu_);
  while (!lane->stopping) {
    if (!lane->running.empty() && Clock::now() >= next_probe) {
      std::map<std::string, int64_t> agents;
      for (auto& [id, pid] : lane->running) {
        if (pid != 0) agents[id] = pid;  // 0: still being launched
      }
      lk.unlock();
      std::map<std::string, AgentProbe> probes;
      try {
        if (!agents.empty()) probes = target.Probe(agents);
      } catch (const std::exception&) {
        // Treated as "unknown" for every agent: asked again at the next interval.
      }
      lk.lock();
      next_probe = Clock::now() + interval;
      std::vector<std::pair<std::string, AgentProbe>> ended;
      for (auto& [id, p] : probes) {
        if (p.state != AgentState::kGone) continue;
        if (lane->running.erase(id)) ended.emplace_back(id, p);
      }
      if (!ended.empty()) {
        lk.unlock();
        for (auto& [id, probe] : ended) AgentExited(lane, id, probe);
        lk.lock();
        continue;
      }
    }
    while (!lane->stopping && !lane->queue.empty() &&
           static_cast<int>(lane->running.size()) < target.Slots()) {
      std::string id = lane->queue.front();
      lane->queue.pop_front();
      lane->running[id] = 0;  // launching: counted in the slots, seen by cancel and detach
      lk.unlock();
      try {
        Launch(lane, id);
      } catch (const std::exception& e) {
        {
          std::lock_guard g(mu_);
          lane->running.erase(id);
        }
        store_.UpdateRunStatus(id, "Failed",
                               {{"message", std::string("cannot start the run on compute "
                                                        "target '") +
                                                target.Name() + "': " + e.what()}},
                               std::nullopt);
        notifier_.Notify();
      }
      lk.lock();
      next_probe = std::min(next_probe, Clock::now() + interval);
    }
    auto wait = lane->running.empty() ? std::chrono::milliseconds(500) : interval;
    lane->cv.wait_for(lk, wait);
  }
}

void RunScheduler::Launch(Lane* lane, const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run || run->status != "Queued") {  // canceled meanwhile
    std::lock_guard lk(mu_);
    lane->running.erase(run_id);
    return;
  }
  int64_t pid = lane->target->StartAgent(run_id, MintRunToken(store_, run_id));
  store_.SetAgentPid(run_id, pid);
  bool cancel = false;
  {
    std::lock_guard lk(mu_);
    auto it = lane->running.find(run_id);
    if (it != lane->running.end()) {
      it->second = pid;
      cancel = lane->cancel_requested.count(run_id) > 0;
    } else {
      cancel = true;  // the target was removed with force meanwhile
    }
  }
  if (cancel) lane->target->CancelAgent(run_id, pid);
}

bool RunScheduler::Recover(Lane* lane, const std::string& run_id, const std::string& why) {
  try {
    int64_t pid = lane->target->StartRecovery(run_id, MintRunToken(store_, run_id), why);
    store_.SetAgentPid(run_id, pid);
    std::lock_guard lk(mu_);
    lane->running[run_id] = pid;
    lane->recovering.insert(run_id);
    lane->cv.notify_all();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void RunScheduler::AgentExited(Lane* lane, const std::string& run_id, const AgentProbe& probe) {
  const std::string& why = probe.detail;
  auto run = store_.GetRun(run_id);
  bool canceled, recovered;
  {
    std::lock_guard lk(mu_);
    canceled = lane->cancel_requested.count(run_id) > 0;
    recovered = lane->recovering.erase(run_id) > 0;
  }
  // The agent died without a final state: a recovery agent ships what it left first (not when
  // the node itself is lost: nothing runs there any more).
  if (run && !IsTerminalStatus(run->status) && !recovered && !probe.node_lost &&
      Recover(lane, run_id, "agent " + why)) {
    notifier_.Notify();
    return;
  }
  {
    std::lock_guard lk(mu_);
    lane->cancel_requested.erase(run_id);
  }
  if (run && !IsTerminalStatus(run->status)) {
    if (canceled || run->status == "CancelRequested") {
      store_.UpdateRunStatus(run_id, "Canceled", nullptr, std::nullopt);
    } else {
      std::string tail;
      try {
        tail = lane->target->AgentLogTail(run_id);
      } catch (const std::exception& e) {
        tail = std::string("(the agent's log could not be read: ") + e.what() + ")";
      }
      store_.UpdateRunStatus(
          run_id, "Failed",
          {{"message", "the run's agent stopped unexpectedly (" + why + ")"}, {"traceback", tail}},
          std::nullopt);
    }
  }
  notifier_.Notify();
}

}  // namespace trainyard
