// From an environment spec to what pip installs into a venv, and the hash that names the venv.
//
// Trainyard builds every environment as a Python venv with pip; conda itself is not used. A
// spec's conda dependencies are translated:
//  - "python=3.6.2" / "python>=3.8" become the interpreter pin (python_finder.h);
//  - "pip", "setuptools", "wheel" are skipped (the venv brings them);
//  - conda-only native packages with no pip counterpart (cudatoolkit, cudnn, mkl, blas, ...)
//    are skipped: pip wheels bundle their own native libraries;
//  - other packages keep their name except known renames: pytorch->torch,
//    py-xgboost->xgboost, matplotlib-base->matplotlib, opencv/py-opencv->opencv-python,
//    pytables->tables, python-graphviz->graphviz, msgpack-python->msgpack,
//    ruamel_yaml->ruamel.yaml, tensorflow-gpu->tensorflow (the tensorflow wheel has included
//    GPU support on Linux since 2.1 and tensorflow-gpu is no longer published);
//  - versions: "numpy=1.19" -> "numpy==1.19.*", "numpy=1.19.2" -> "numpy==1.19.2", a build
//    string ("=1.19.2=py38_0") is dropped, operators (">=1.1,<2") are kept.
// Pip entries are kept verbatim, in order, after the conda ones, then pip_requirements.
// azureml / azureml-* packages (any extras or version) are not installed: Trainyard's own SDK
// provides the azureml API inside runs; they are listed in satisfied_by_trainyard.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/env_spec.h"
#include "env/python_finder.h"

namespace trainyard {

struct InstallPlan {
  PythonPin python;                      // empty: any Python 3 (the newest is used)
  std::vector<std::string> pip_options;  // global pip options, e.g. "--extra-index-url URL"
  std::vector<std::string> packages;     // pip requirements, in install order
  std::vector<std::string> satisfied_by_trainyard;  // azureml packages left out
  std::vector<std::string> notes;     // translations and skips, one line each, for the build log
  std::vector<std::string> warnings;  // spec parts that have no effect here (docker, ...)

  // The requirements file pip installs from: options, then packages, one per line.
  std::string RequirementsText() const;
};

// Translates a validated spec. Throws InvalidInput for what cannot be translated.
InstallPlan MakeInstallPlan(const EnvSpec& spec);

// One conda match spec as a pip requirement; nullopt when it is skipped. `note` (may be null)
// receives a line saying what was renamed or skipped, or "" when nothing noteworthy happened.
// Not for "python" (see PythonPin) nor azureml packages.
std::optional<std::string> CondaToPip(std::string_view conda_spec, std::string* note = nullptr);

// True for azureml, azureml-* and azureml_* requirements (any version, extras or markers).
bool IsAzureMlPackage(std::string_view requirement);

// The hash that names a built environment (its directory under the env cache): SHA-256 of the
// canonical JSON (sorted keys) of the chosen interpreter (path and version), the pip options
// and packages in order. Not the env name, version or environment variables.
std::string EnvironmentHash(const InstallPlan& plan, const PythonInterpreter& python);
// The hash of a user-managed environment: its interpreter path.
std::string UserManagedEnvironmentHash(std::string_view interpreter_path);

}  // namespace trainyard
