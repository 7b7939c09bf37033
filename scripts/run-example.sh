#!/usr/bin/env bash
# Runs one example end to end on this machine:
#   trainyard init (once) -> trainyard up -> python driver.py   (in examples/NAME)
# The workspace is the repository's own .trainyard/ (so it stays out of the example's snapshot).
# Set TRAINYARD_CONFIG to use another workspace instead.
#   bash scripts/run-example.sh sklearn-iris
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${1:?usage: run-example.sh EXAMPLE_NAME}"
HERE="$ROOT/examples/$NAME"
[ -f "$HERE/driver.py" ] || { echo "no example '$NAME' (examples/$NAME/driver.py)" >&2; exit 2; }
PYTHON="${PYTHON:-python3}"

if [ -x "$ROOT/build/trainyard" ]; then TRAINYARD="$ROOT/build/trainyard"; else TRAINYARD=trainyard; fi
if [ -z "${TRAINYARD_CONFIG:-}" ]; then
  cd "$ROOT"
  [ -f .trainyard/config.json ] || "$TRAINYARD" init
  "$TRAINYARD" up
fi

cd "$HERE"
# The SDK is installed by scripts/install.sh; the source tree is the fallback.
PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" driver.py
