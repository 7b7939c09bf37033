// Logging from C++ training programs run by Trainyard: the same calls as the Python
// `Run.get_context()` API, written to the run's metric spool (one JSON line per call, appended
// with a single write), which the agent ships to the server with retries. Header-only.
//
//   #include <trainyard/run.h>
//   auto run = trainyard::Run::GetContext();
//   run.Log("loss", 0.25);
//   run.LogList("accuracies", {0.5, 0.7});
//   run.LogRow("curve", {{"epoch", 1}, {"loss", 0.3}});
//
// Outside a Trainyard run (no TRAINYARD_SPOOL), calls print "Attempted to log ..." to stdout,
// as Azure ML's offline run does. Thread-safe (each call is one write(2) with O_APPEND).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trainyard {

class Run {
 public:
  // The run this process belongs to (from the environment the agent sets), or an offline run.
  static Run GetContext() {
    const char* spool = std::getenv("TRAINYARD_SPOOL");
    const char* id = std::getenv("TRAINYARD_RUN_ID");
    return Run(spool ? spool : "", id ? id : "");
  }

  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  Run(Run&& o) noexcept : fd_(std::exchange(o.fd_, -1)), id_(std::move(o.id_)) {}
  ~Run() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool offline() const { return fd_ < 0; }
  const std::string& id() const { return id_; }

  void Log(std::string_view name, double value, std::string_view description = "") {
    Write(name, "scalar", Number(value), description, "Attempted to log scalar metric ");
  }
  void Log(std::string_view name, std::string_view value) {
    Write(name, "scalar", Quote(value), "", "Attempted to log scalar metric ");
  }
  void LogList(std::string_view name, const std::vector<double>& values) {
    std::string v = "[";
    for (size_t i = 0; i < values.size(); ++i) v += (i ? "," : "") + Number(values[i]);
    Write(name, "list", v + "]", "", "Attempted to log list metric ");
  }
  void LogRow(std::string_view name,
              std::initializer_list<std::pair<std::string_view, double>> columns) {
    std::string v = "{";
    bool first = true;
    for (auto& [k, x] : columns) {
      v += (first ? "" : ",") + Quote(k) + ":" + Number(x);
      first = false;
    }
    Write(name, "row", v + "}", "", "Attempted to log row metric ");
  }

 private:
  Run(const std::string& spool, std::string id) : id_(std::move(id)) {
    if (!spool.empty())
      fd_ = ::open(spool.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }

  static std::string Number(double v) {
    if (std::isnan(v)) return "\"NaN\"";
    if (std::isinf(v)) return v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }
  static std::string Quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }
  void Write(std::string_view name, const char* kind, const std::string& value,
             std::string_view description, const char* offline_prefix) {
    if (fd_ < 0) {
      std::printf("%s%.*s:\n%s\n", offline_prefix, static_cast<int>(name.size()), name.data(),
                  value.c_str());
      return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    std::string line = "{\"r\":" + Quote(id_) + ",\"n\":" + Quote(name) + ",\"k\":\"" + kind +
                       "\",\"v\":" + value + ",\"t\":" + std::to_string(ms);
    if (!description.empty()) line += ",\"d\":" + Quote(description);
    line += "}\n";
    ssize_t w = ::write(fd_, line.data(), line.size());
    (void)w;
  }

  int fd_ = -1;
  std::string id_;
};

}  // namespace trainyard
