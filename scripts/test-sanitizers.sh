#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the test suite (docs/reliability.md):
#   asan  AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer tree (build-asan): the
#         unit, SQLite/PostgreSQL integration, jobs and reliability suites
#   tsan  ThreadSanitizer tree (build-tsan): one program of the tests that run threads
#   fuzz  libFuzzer tree (build-fuzz): each fuzz target for REPOKIT_FUZZ_SECONDS (default 60)
# Any sanitizer report, fuzzer finding or test failure fails the run.
#
# scripts/test.sh calls it after the main suite, with its PostgreSQL server still running; by
# hand, start one first:
#   scripts/pg-server.sh start /tmp/pg && . /tmp/pg/env && scripts/test-sanitizers.sh [STAGE...]
#
# Environment: REPOKIT_TEST_POSTGRES_URL (required), REPOKIT_TEST_TMPDIR, REPOKIT_BUILD_JOBS (2),
# REPOKIT_FUZZ_SECONDS (60), REPOKIT_SANITIZER_CXX (default: clang++-16 when installed, else
# g++; fuzzing always needs clang), REPOKIT_ASAN_DIR, REPOKIT_TSAN_DIR,
# REPOKIT_FUZZ_DIR (default <repo>/build-asan, build-tsan, build-fuzz).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
JOBS="${REPOKIT_BUILD_JOBS:-2}"
FUZZ_SECONDS="${REPOKIT_FUZZ_SECONDS:-60}"
ASAN_DIR="${REPOKIT_ASAN_DIR:-$ROOT/build-asan}"
TSAN_DIR="${REPOKIT_TSAN_DIR:-$ROOT/build-tsan}"
FUZZ_DIR="${REPOKIT_FUZZ_DIR:-$ROOT/build-fuzz}"
STAGES=("$@")
((${#STAGES[@]} > 0)) || STAGES=(asan tsan fuzz)

log() { printf 'test-sanitizers: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for stage in "${STAGES[@]}"; do
  [[ "$stage" =~ ^(asan|tsan|fuzz)$ ]] || die "unknown stage '$stage' (asan, tsan or fuzz)"
done
[[ -n "${REPOKIT_TEST_POSTGRES_URL:-}" ]] ||
  die "REPOKIT_TEST_POSTGRES_URL is not set: run scripts/test.sh, or start a server with scripts/pg-server.sh and source its env file"

# clang builds these trees in well under half the CPU time GCC needs with ASan+UBSan at -O1,
# and fuzzing needs it anyway. clang 16 (scripts/install-deps.sh), as the tests capture
# structured bindings in lambdas, which clang 14 cannot; else GCC.
CXX="${REPOKIT_SANITIZER_CXX:-}"
if [[ -z "$CXX" ]]; then
  CXX=g++
  ! command -v clang++-16 >/dev/null || CXX=clang++-16
fi

OWN_TMP=""
if [[ -z "${REPOKIT_TEST_TMPDIR:-}" ]]; then
  OWN_TMP="$(mktemp -d)"
  chmod 755 "$OWN_TMP"
  export REPOKIT_TEST_TMPDIR="$OWN_TMP"
fi
TIMINGS="$(mktemp)"
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  [[ -z "$OWN_TMP" ]] || rm -rf -- "$OWN_TMP"
  rm -f -- "$TIMINGS"
}
trap cleanup EXIT

# The options every tree shares: -O1 for speed with usable stacks, only what the tests need.
COMMON=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 -DREPOKIT_BUILD_TOOLS=OFF
  -DREPOKIT_BUILD_BENCHMARKS=OFF -DREPOKIT_INSTALL=OFF -DREPOKIT_BUILD_EXAMPLES=OFF)

# A sanitizer report always fails: ASan and LSan stop at the first one, UBSan is told to.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
# Named explicitly: clang 16's runtimes do not find Debian's versioned llvm-symbolizer alone.
for symbolizer in llvm-symbolizer-16 llvm-symbolizer; do
  if command -v "$symbolizer" >/dev/null; then
    symbolizer="$(command -v "$symbolizer")"
    ASAN_OPTIONS+=":external_symbolizer_path=$symbolizer"
    UBSAN_OPTIONS+=":external_symbolizer_path=$symbolizer"
    TSAN_OPTIONS+=":external_symbolizer_path=$symbolizer"
    break
  fi
done
# Suppressions, if any, are for third-party code only; each entry says why.
if [[ -f "$ROOT/tests/reliability/tsan.supp" ]]; then
  TSAN_OPTIONS+=":suppressions=$ROOT/tests/reliability/tsan.supp"
fi
if [[ -f "$ROOT/tests/reliability/lsan.supp" ]]; then
  export LSAN_OPTIONS="suppressions=$ROOT/tests/reliability/lsan.supp:print_suppressions=0"
fi

START=$SECONDS
record_time() { printf '  %-18s %4d s\n' "$1" "$2" >>"$TIMINGS"; }
timed() {
  local name="$1"
  shift
  local t0=$SECONDS status=0
  log "$name ..."
  "$@" || status=$?
  record_time "$name" $((SECONDS - t0))
  if ((status == 0)); then
    log "$name done in $((SECONDS - t0)) s"
  else
    log "$name FAILED after $((SECONDS - t0)) s"
  fi
  return "$status"
}

configure() {
  local dir="$1"
  shift
  # clang: line tables are all a sanitizer's stack trace needs, and they build faster.
  local debug_info=()
  [[ "$(basename "$CXX")" != clang++* ]] || debug_info=(-DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only)
  # A tree made by another compiler cannot be reconfigured: start it afresh.
  if [[ -f "$dir/CMakeCache.txt" ]] &&
    ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=\(.*/\)\?$(basename "$CXX")\$" "$dir/CMakeCache.txt"; then
    rm -rf -- "$dir"
  fi
  cmake -S "$ROOT" -B "$dir" -DCMAKE_CXX_COMPILER="$CXX" "${COMMON[@]}" "${debug_info[@]}" "$@" \
    >/dev/null
}

run_ctest() {
  local dir="$1"
  shift
  # --no-tests=error: a label that matches nothing (renamed, misspelt) fails the stage.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$JOBS" --timeout 900 "$@" </dev/null
}

asan() {
  # (CMakeLists.txt turns UBSan's vptr check off: Debian's libsoci exports no type information.)
  timed "asan: configure" configure "$ASAN_DIR" -DREPOKIT_SANITIZE=address,undefined
  timed "asan: build" cmake --build "$ASAN_DIR" -j "$JOBS" --target repokit_unit_tests \
    repokit_integration_tests repokit_job_tests job_worker repokit_reliability_tests
  timed "asan: tests" run_ctest "$ASAN_DIR" -L '^(unit|integration|jobs|reliability)$' \
    -LE '^(mysql|galera)$'
}

tsan() {
  timed "tsan: configure" configure "$TSAN_DIR" -DREPOKIT_SANITIZE=thread
  timed "tsan: build" cmake --build "$TSAN_DIR" -j "$JOBS" --target repokit_tsan_tests
  timed "tsan: tests" run_ctest "$TSAN_DIR" -L '^tsan$'
}

run_fuzzer() {
  local name="$1"
  local work="$FUZZ_DIR/corpus-work/$name" found="$FUZZ_DIR/findings/$name"
  mkdir -p "$work" "$found"
  local dict=()
  [[ -f "$ROOT/fuzz/$name.dict" ]] && dict=("-dict=$ROOT/fuzz/$name.dict")
  # The committed seeds stay as they are; what the fuzzer learns is kept in the build tree.
  # exec: the pid the caller holds is the fuzzer's own, so its trap can stop it.
  exec "$FUZZ_DIR/fuzz/$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$found/" "$work" "$ROOT/fuzz/corpus/$name" \
    >"$FUZZ_DIR/$name.log" 2>&1
}

fuzz() {
  local CXX="$CXX"  # configure() sees this one
  if [[ "$(basename "$CXX")" != clang++* ]]; then
    command -v clang++-16 >/dev/null ||
      die "fuzzing needs clang (scripts/install-deps.sh installs clang-16)"
    CXX=clang++-16
  fi
  timed "fuzz: configure" configure "$FUZZ_DIR" -DREPOKIT_BUILD_FUZZERS=ON \
    -DREPOKIT_SANITIZE=address,undefined -DREPOKIT_BUILD_TESTS=OFF
  timed "fuzz: build" cmake --build "$FUZZ_DIR" -j "$JOBS" --target repokit_fuzzers
  # The two targets side by side, one core each.
  local t0=$SECONDS name status=0 i
  local names=(fuzz_database_url fuzz_validation)
  log "fuzz: running ${names[*]} for $FUZZ_SECONDS s each ..."
  FUZZ_PIDS=()
  # shellcheck disable=SC2317  # invoked via trap
  trap 'kill "${FUZZ_PIDS[@]}" 2>/dev/null || true' EXIT
  for name in "${names[@]}"; do
    run_fuzzer "$name" &
    FUZZ_PIDS+=($!)
  done
  for i in "${!names[@]}"; do
    name="${names[$i]}"
    if wait "${FUZZ_PIDS[$i]}"; then
      log "fuzz: $name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$FUZZ_DIR/$name.log" | tail -n 1)"
    else
      status=1
      log "fuzz: $name FOUND A PROBLEM; its log ($FUZZ_DIR/$name.log) ends:"
      tail -n 30 "$FUZZ_DIR/$name.log" >&2
      log "the input is in $FUZZ_DIR/findings/$name/: copy it to"
      log "tests/reliability/fuzz_regressions/$name/ so the suite replays it, then fix the bug"
    fi
  done
  FUZZ_PIDS=()
  record_time "fuzz: run" $((SECONDS - t0))
  return "$status"
}

log "stages: ${STAGES[*]}; compiler $CXX; $JOBS build jobs"
failed=()
for stage in "${STAGES[@]}"; do
  # Every stage runs even when an earlier one failed: one run reports every finding. (A
  # subshell outside any condition, so that set -e stops the stage at its first failure.)
  set +e
  (
    set -e
    "$stage"
  )
  status=$?
  set -e
  if ((status != 0)); then
    failed+=("$stage")
    log "$stage FAILED"
  fi
done

log "timings:"
cat "$TIMINGS" >&2
if ((${#failed[@]} > 0)); then
  log "FAILED: ${failed[*]} (after $((SECONDS - START)) s)"
  exit 1
fi
log "all stages passed in $((SECONDS - START)) s: no sanitizer report, no fuzzer finding"
