#!/usr/bin/env bash
# Creates bench/.venv with the benchmark peers: MLflow (P2, P6) and FLAML with its LightGBM,
# XGBoost and scikit-learn (P8). Not part of scripts/install.sh: only the benchmarks need it.
# Idempotent: a peer already importable is not reinstalled.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# ensure MODULE PIP_SPEC: installs PIP_SPEC into the venv unless MODULE imports already.
ensure() {
  local module="$1" spec="$2"
  if "$VENV/bin/python" -c "import $module" 2>/dev/null; then
    echo "[bench/setup] $module $("$VENV/bin/python" -c "import $module; print($module.__version__)") already in $VENV"
  else
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "$spec"
    echo "[bench/setup] installed $module $("$VENV/bin/python" -c "import $module; print($module.__version__)") in $VENV"
  fi
}
ensure mlflow mlflow
ensure flaml 'flaml[automl]'
# P8's offline datasets shipped inside packages (CSV files in the wheels).
ensure statsmodels statsmodels
ensure palmerpenguins palmerpenguins
# P16, P17 (HyperDrive vs Optuna).
ensure optuna optuna
