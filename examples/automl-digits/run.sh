#!/usr/bin/env bash
# Runs this example end to end (trainyard init once, trainyard up, python driver.py).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/run-example.sh" automl-digits "$@"
