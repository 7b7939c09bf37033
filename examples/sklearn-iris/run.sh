#!/usr/bin/env bash
# Runs the seed workflow end to end on this machine:
#   trainyard init (once) -> trainyard up -> python driver.py
# The workspace is the repository's own .trainyard/ (so it stays out of the example's snapshot).
# Set TRAINYARD_CONFIG to use another workspace instead.
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
# The SDK is installed by scripts/install.sh; the source tree is the fallback.
PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" driver.py
