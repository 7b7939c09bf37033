// The agent: the one code path that executes a run on a node (docs/ARCHITECTURE.md §2).
// fetch the run and its snapshot -> materialize the environment (cached) -> launch the script
// in its own process group -> stream stdout/stderr, logs/ and the metric spool to the server
// (retrying through server restarts) -> upload outputs/ -> report the final state.
#pragma once

#include <string>

namespace trainyard {

// `trainyard agent --run ID --server URL [--data DIR | --node-dir DIR] [--run-dir DIR]
//                  [--recover [--reason TEXT]]`, credential in $TRAINYARD_TOKEN
// (docs/ARCHITECTURE.md, "Agent": the command line and environment contract).
struct AgentOptions {
  std::string run_id;
  std::string server_url;
  // A run token (tyrun_...), or the workspace token, which the agent exchanges for a run token
  // at once (POST /runs/{id}/token) so the script never sees it.
  std::string token;
  // Local fast path: the server's data dir on this machine (its blob store and environment
  // cache are used in place). Empty: HTTP only, everything fetched into node_dir.
  std::string data_dir;
  std::string node_dir;  // HTTP-only cache; empty = DefaultNodeDir() (runner/node_cache.h)
  std::string run_dir;   // the run's files; empty = <data_dir or node_dir>/runs/<run id>
  // Recovery (the scheduler runs this when an agent died): ship what the dead agent left in
  // run_dir (metric spool lines, log bytes) and mark the run Failed with `reason`.
  bool recover = false;
  std::string reason;
};

// Runs the whole run; returns the process exit code for the agent (0 when the run reached a
// final state, whatever that state is).
int RunAgent(const AgentOptions& opts);

// Where the Python SDK lives (so runs can import trainyard and the azureml alias):
// $TRAINYARD_PYTHON_DIR, <exe>/../share/trainyard/python, <exe>/../python, or the source tree.
std::string FindSdkPythonDir();

// Extracts Azure-style error details from a failed script's output tail: the last exception
// line ("ValueError: boom") and the traceback block. Empty message when none is found.
struct ScriptError {
  std::string message;
  std::string traceback;
};
ScriptError ExtractScriptError(const std::string& output_tail);

}  // namespace trainyard
