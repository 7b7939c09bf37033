// Starting long-lived helper processes (the background server, run agents).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace trainyard {

// Starts argv[0] (an absolute path) in a new session, detached from the caller's terminal and
// process group: stdin from /dev/null, stdout and stderr appended to `log_path`, no signals
// blocked and SIGTERM/SIGINT/SIGPIPE at their defaults (the caller may block them for itself).
// `env` holds "K=V" strings. Returns the pid; throws InternalError when it cannot start.
pid_t SpawnDetached(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path);

}  // namespace trainyard
