#!/usr/bin/env bash
# Creates bench/.venv with the benchmark peers (MLflow for P2). Not part of scripts/install.sh:
# only the benchmarks need it. Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if "$VENV/bin/python" -c "import mlflow" 2>/dev/null; then
  echo "[bench/setup] mlflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') already in $VENV"
else
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q mlflow
  echo "[bench/setup] installed mlflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') in $VENV"
fi
