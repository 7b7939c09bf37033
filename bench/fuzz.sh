#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/, issue 15) and prints executions, time and crashes.
#
#   bash bench/fuzz.sh                 # 10,000,000 executions per target (the issue's figure)
#   bash bench/fuzz.sh --runs 1000000  # fewer
#   bash bench/fuzz.sh --seconds 30    # at most 30 s per target (scripts/test.sh, CI); with
#                                      # --runs as well, whichever limit comes first
#   bash bench/fuzz.sh --only csv_reader
#
# Builds build-fuzz/ (clang, -DTRAINYARD_FUZZ=ON) when needed. Seeds: fuzz/corpus/<target>/
# (committed); the working corpus grows in build-fuzz/corpus/<target>/. A crash leaves its
# input in build-fuzz/fuzz-artifacts/<target>/ and makes this script exit 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
RUNS=10000000
SECONDS_BUDGET=""
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --seconds) SECONDS_BUDGET="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N | --seconds S] [--only TARGET]" >&2; exit 2 ;;
  esac
done
TARGETS=(json_body ignore_rules csv_reader env_spec path_validation)
# Largest input per target (bytes). Every limit these parsers enforce is either reachable well
# below it (JSON/YAML depth 128, a 255-byte path segment, a CSV field) or far above 64 KiB (the
# 1 MiB metric value and YAML caps have their own unit tests), so bigger inputs only make each
# execution slower (the work per input grows with its length, for ignore_rules as rules x paths).
declare -A MAX_LEN=([json_body]=8192 [ignore_rules]=4096 [csv_reader]=4096 [env_spec]=4096
                    [path_validation]=4096)
[ -n "$ONLY" ] && TARGETS=("$ONLY")

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (scripts/install.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAINYARD_FUZZ=ON \
    -DTRAINYARD_TESTS=OFF
fi
cmake --build "$BUILD" --target fuzz_targets

printf '%-16s %14s %10s %12s %8s\n' target executions seconds execs/s crashes
failed=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD/corpus/$t"
  artifacts="$BUILD/fuzz-artifacts/$t/"
  log="$BUILD/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  limit=(-runs="$RUNS")  # whichever limit comes first
  [ -n "$SECONDS_BUDGET" ] && limit+=(-max_total_time="$SECONDS_BUDGET")
  start=$(date +%s.%N)
  rc=0
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$BUILD/fuzz/fuzz_$t" "${limit[@]}" -max_len="${MAX_LEN[$t]}" -rss_limit_mb=4096 -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "fuzz/corpus/$t" \
      >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) | wc -l)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  printf '%-16s %14s %10s %12s %8s\n' "$t" "${execs:-?}" "$secs" "$rate" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz_$t failed (exit $rc); log: $log; inputs: $artifacts" >&2
    tail -40 "$log" >&2
  fi
done
exit "$failed"
