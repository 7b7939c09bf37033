#include "cli/commands_studio.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "common/error.h"
#include "common/spawn.h"
#include "common/workspace_config.h"
#include "net/http_client.h"
#include "net/http_types.h"

extern char** environ;

namespace trainyard::cli {
namespace fs = std::filesystem;

namespace {
// An executable's absolute path: as given when it has a '/', else found on PATH ("" if not).
std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t i = 0;
  while (i <= dirs.size()) {
    size_t j = dirs.find(':', i);
    if (j == std::string::npos) j = dirs.size();
    fs::path p = fs::path(dirs.substr(i, j - i)) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
    i = j + 1;
  }
  return "";
}
}  // namespace

int CmdUi(const std::vector<std::string>& a) {
  Args args(a, {"dir", "run"}, {"no-browser", "open"});
  fs::path start = args.Get("dir").empty() ? fs::current_path() : fs::path(args.Get("dir"));
  auto path = FindWorkspaceConfig(start);
  if (!path) {
    throw NotFound("no Trainyard workspace here: no .trainyard/config.json in " + start.string() +
                   " or its parents. Run `trainyard init` first.");
  }
  WorkspaceConfig cfg = WorkspaceConfig::Load(*path);
  nlohmann::json body = nlohmann::json::object();
  if (args.Has("run")) body["next"] = "/runs/" + UrlEncode(args.Get("run"), false);
  HttpClient http(cfg.server_url, cfg.token);
  nlohmann::json link;
  try {
    link = http.Call("POST", "/api/v1/studio/login-links", body);
  } catch (const Unavailable&) {
    throw Unavailable("the workspace server at " + cfg.server_url +
                      " is not running; start it with `trainyard up`");
  }
  std::string url = link.value("url", "");
  std::cout << "studio login link (works once, for " << link.value("expires_in_seconds", 0) / 60
            << " minutes):\n  " << url << "\n";
  bool display = std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY");
  if (args.Has("open") || (display && !args.Has("no-browser"))) {
    const char* browser = std::getenv("BROWSER");
    std::string opener = FindExecutable(browser && *browser ? browser : "xdg-open");
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    try {
      if (opener.empty()) throw InternalError("no xdg-open on PATH and $BROWSER not set");
      SpawnDetached({opener, url}, env, "/dev/null");
    } catch (const std::exception& e) {
      std::cerr << "trainyard: could not open a browser (" << opener << "): " << e.what()
                << "; open the link above yourself\n";
    }
  }
  return 0;
}

}  // namespace trainyard::cli
