#!/usr/bin/env bash
# Builds and runs every test suite:
#   1. C++ unit tests (GoogleTest via ctest) in a Debug + AddressSanitizer/UBSan build (build-asan/)
#   2. the same tests against the release build (build/), which the e2e suite also uses
#   2b. the libFuzzer targets, ~30 s each (build-fuzz/, clang; bench/fuzz.sh)
#   3. pytest: tests/e2e (a real `trainyard server` on a loopback port) and python/tests
#   4. with BENCH_SMOKE=1: the benchmarks in --quick mode
#
# Environment:  SKIP_ASAN=1  skip step 1;  PYTEST_ARGS="-k cancel"  extra pytest arguments;
#               SKIP_FUZZ=1  skip the libFuzzer step (FUZZ_SECONDS per target, default 30);
#               BUILD_DIR (default build) is the release build that step 2/3 use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build}"
PYTHON="${PYTHON:-python3}"
JOBS="$(nproc 2>/dev/null || echo 2)"

if [ -t 1 ]; then step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
else step() { printf '\n== %s ==\n' "$*"; }; fi

step "format: clang-format --dry-run --Werror (.clang-format)"
# The binary ships inside the clang-format wheel that scripts/install.sh installs for $PYTHON.
CLANG_FORMAT="$("$PYTHON" -c 'import clang_format, os; print(os.path.join(os.path.dirname(clang_format.__file__), "data", "bin", "clang-format"))')"
# shellcheck disable=SC2046
"$CLANG_FORMAT" --dry-run --Werror $(git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'tests/cpp/*.cc')

if [ "${SKIP_ASAN:-0}" != "1" ]; then
  step "C++ unit tests: Debug + ASan/UBSan (build-asan)"
  if [ ! -f build-asan/build.ninja ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTRAINYARD_SANITIZE=ON
  fi
  # Only the unit-test binary: no test runs the ASan build of trainyard or the Python binding.
  cmake --build build-asan --target trainyard_tests
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS"
fi

step "release build ($BUILD_DIR) + its C++ unit tests"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

if [ "${SKIP_FUZZ:-0}" != "1" ]; then
  step "fuzzing: each libFuzzer target for ${FUZZ_SECONDS:-30} s (build-fuzz, clang); fails on a crash"
  bash bench/fuzz.sh --seconds "${FUZZ_SECONDS:-30}"
fi

step "pytest: end-to-end against a real server, and the SDK's own tests"
export TRAINYARD_BIN="${TRAINYARD_BIN:-$ROOT/$BUILD_DIR/trainyard}"
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
# The AutoML engine's Python binding as built by this build (python/trainyard/_automl).
export TRAINYARD_AUTOML_ENGINE_DIR="${TRAINYARD_AUTOML_ENGINE_DIR:-$ROOT/$BUILD_DIR/python/trainyard/_automl}"
PYTEST_DIRS=(tests/e2e)
[ -d python/tests ] && PYTEST_DIRS+=(python/tests)
# No `|| true`: any failure, and pytest's exit 5 (no test collected), fails this script.
# shellcheck disable=SC2086
"$PYTHON" -m pytest -q -p no:cacheprovider --rootdir "$ROOT" "${PYTEST_DIRS[@]}" ${PYTEST_ARGS:-}

if [ "${BENCH_SMOKE:-0}" = "1" ]; then
  step "benchmarks (--quick smoke)"
  bash bench/run_all.sh --quick
fi
