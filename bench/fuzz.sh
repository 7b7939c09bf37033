#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/, issue 15) and prints executions, time and crashes.
#
#   bash bench/fuzz.sh                 # 10,000,000 executions per target (the issue's figure)
#   bash bench/fuzz.sh --runs 1000000  # fewer
#   bash bench/fuzz.sh --seconds 30    # at most 30 s per target (scripts/test.sh, CI); with
#                                      # --runs as well, whichever limit comes first
#   bash bench/fuzz.sh --only csv_reader
#   nice bash bench/fuzz.sh --parallel # all targets at once, one process each (a multi-core
#                                      # machine; the table comes when the last one ends)
#
# Builds build-fuzz/ (clang, -DTRAINYARD_FUZZ=ON) when needed. Seeds: fuzz/corpus/<target>/
# (committed); the working corpus grows in build-fuzz/corpus/<target>/. A crash leaves its
# input in build-fuzz/fuzz-artifacts/<target>/ and makes this script exit 1.
#
# ASan runs with malloc_context_size=0 (no stack recorded per allocation: ~10% of the time of
# the allocation-heavy targets); to see the allocation/free stacks of a reported input, rerun
# it alone with ASAN_OPTIONS=detect_leaks=0: build-fuzz/fuzz/fuzz_<target> <input>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
RUNS=10000000
SECONDS_BUDGET=""
ONLY=""
PARALLEL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --seconds) SECONDS_BUDGET="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --parallel) PARALLEL=1; shift ;;
    *) echo "usage: $0 [--runs N | --seconds S] [--only TARGET] [--parallel]" >&2; exit 2 ;;
  esac
done
TARGETS=(json_body ignore_rules csv_reader env_spec path_validation)
# Largest input per target (bytes). Every limit these parsers enforce is either reachable well
# below it (JSON/YAML depth 128, a 255-byte path segment, a CSV field) or far above 64 KiB (the
# 1 MiB metric value and YAML caps have their own unit tests), so bigger inputs only make each
# execution slower (the work per input grows with its length, for ignore_rules as rules x paths).
declare -A MAX_LEN=([json_body]=8192 [ignore_rules]=4096 [csv_reader]=4096 [env_spec]=4096
                    [path_validation]=4096)
# Extra libFuzzer flags. json_body reaches ~4,000 instrumented edges of the server with ~10,000
# features: the entropic schedule's per-execution bookkeeping over them (UpdateFeatureFrequency)
# took 42% of its time under perf, so that target uses the plain schedule.
declare -A EXTRA=([json_body]="-entropic=0" [ignore_rules]="" [csv_reader]="" [env_spec]=""
                  [path_validation]="")
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

# Runs one target; leaves "<executions> <seconds> <exit status>" in $BUILD/fuzz-<target>.result.
run_target() {
  local t="$1"
  local corpus="$BUILD/corpus/$t" artifacts="$BUILD/fuzz-artifacts/$t/" log="$BUILD/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  local limit=(-runs="$RUNS")  # whichever limit comes first
  [ -n "$SECONDS_BUDGET" ] && limit+=(-max_total_time="$SECONDS_BUDGET")
  local extra
  read -r -a extra <<<"${EXTRA[$t]}"
  local start end rc=0
  start=$(date +%s.%N)
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:malloc_context_size=0}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$BUILD/fuzz/fuzz_$t" "${limit[@]}" -max_len="${MAX_LEN[$t]}" "${extra[@]}" \
      -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$corpus" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "${execs:-?} $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') $rc" \
    >"$BUILD/fuzz-$t.result"
}

if [ "$PARALLEL" = 1 ]; then
  pids=()
  for t in "${TARGETS[@]}"; do run_target "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || true; done
fi

printf '%-16s %14s %10s %12s %8s\n' target executions seconds execs/s crashes
failed=0
for t in "${TARGETS[@]}"; do
  [ "$PARALLEL" = 1 ] || run_target "$t"
  read -r execs secs rc <"$BUILD/fuzz-$t.result"
  artifacts="$BUILD/fuzz-artifacts/$t/"
  log="$BUILD/fuzz-$t.log"
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) | wc -l)
  rate=$(awk -v n="${execs/\?/0}" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  printf '%-16s %14s %10s %12s %8s\n' "$t" "$execs" "$secs" "$rate" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz_$t failed (exit $rc); log: $log; inputs: $artifacts" >&2
    tail -40 "$log" >&2
  fi
done
exit "$failed"
