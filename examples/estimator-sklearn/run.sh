#!/usr/bin/env bash
# Runs the Estimator example: trainyard init (once) -> trainyard up -> python driver.py
# The workspace is the repository's own .trainyard/; set TRAINYARD_CONFIG to use another.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"

if [ -x "$ROOT/build/trainyard" ]; then TRAINYARD="$ROOT/build/trainyard"; else TRAINYARD=trainyard; fi
if [ -z "${TRAINYARD_CONFIG:-}" ]; then
  cd "$ROOT"
  [ -f .trainyard/config.json ] || "$TRAINYARD" init
  "$TRAINYARD" up
fi

cd "$HERE"
PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" driver.py
