// Submit-time checks of an environment spec against this machine, so an unsatisfiable request
// fails with a clear message before the run is queued, not with pip's raw error deep in the
// build log (issue 18):
//  - the Python pin: which interpreter the build will use, and the warning when none matches
//    (the build then uses the newest Python 3, as env_builder does);
//  - exactly pinned packages ("name==version"): the versions pip's index offers for that
//    Python ("pip index versions --python-version X.Y"); a version not offered is an error
//    naming what was asked, what the machine has (interpreters, the versions offered) and the
//    nearest available package (closest version; a known successor such as
//    tensorflow-gpu -> tensorflow).
// Only what can be decided is reported: a package the index cannot be asked about (no pip,
// no network, a timeout) is left to the build.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/install_plan.h"
#include "env/python_finder.h"

namespace trainyard {

struct InstallCheck {
  std::optional<PythonInterpreter> python;  // the interpreter the build will use
  std::vector<std::string> warnings;        // e.g. the Python pin is not available here
  std::vector<std::string> errors;          // packages that cannot be installed
};

// Asks for the versions of `name` that pip's index offers for Python `version` (major.minor):
// nullopt when the index cannot be asked (no pip, no network, timeout); an empty list when the
// package has no version for that Python.
using VersionLister = std::function<std::optional<std::vector<std::string>>(
    std::string_view name, const PythonVersion& version)>;

// The lister that runs `python3 -m pip index versions NAME --python-version X.Y`.
VersionLister PipIndexVersionLister(std::chrono::seconds timeout = std::chrono::seconds(30));

InstallCheck CheckInstallPlan(const InstallPlan& plan,
                              const std::vector<PythonInterpreter>& available,
                              const VersionLister& lister);

// The closest of `offered` to `wanted` (same major.minor first, then numerically nearest);
// "" when `offered` is empty.
std::string NearestVersion(const std::vector<std::string>& offered, std::string_view wanted);

}  // namespace trainyard
