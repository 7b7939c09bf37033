// The agent: the one code path that executes a run on a node (docs/ARCHITECTURE.md §2).
// fetch the run and its snapshot -> materialize the environment (cached) -> launch the script
// in its own process group -> stream stdout/stderr, logs/ and the metric spool to the server
// (retrying through server restarts) -> upload outputs/ -> report the final state.
#pragma once

#include <string>

namespace trainyard {

struct AgentOptions {
  std::string run_id;
  std::string server_url;
  std::string token;
  std::string data_dir;  // the workspace data dir (local compute shares it with the server)
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
