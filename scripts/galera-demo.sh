#!/usr/bin/env bash
# `repokit demo` on a throwaway 3-node MariaDB Galera cluster, through the multi-host URL, with
# one node SIGKILLed in the middle of each run and brought back after it: the verdict of each run,
# and how many kept their promise (every job created once and succeeded once, exit status 0).
# Not part of CI; docs/scaling.md has the figures.
#
#   scripts/galera-demo.sh [--runs N] [--targets T] [--binary PATH] [--keep DIR]
#
# Defaults: 10 runs of 2000 targets; the repokit binary of $BUILD_DIR (default <repo>/build).
# Run k kills node ((k - 1) mod 3) + 1 once the demo's workers have finished a tenth of the
# jobs: node 1 is the URL's first host, which every connection tries first. Exit status 0 when
# every run passed.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
runs=10
targets=2000
binary="${BUILD_DIR:-$ROOT/build}/tools/cli/repokit"
keep=""

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while (($# > 0)); do
  if [[ "$1" == --* && "$1" != --help && $# -lt 2 ]]; then
    echo "galera-demo.sh: $1 needs a value" >&2
    usage
  fi
  case "$1" in
  --runs) runs="$2"; shift 2 ;;
  --targets) targets="$2"; shift 2 ;;
  --binary) binary="$2"; shift 2 ;;
  --keep) keep="$2"; shift 2 ;;
  -h | --help) usage ;;
  *) echo "galera-demo.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -x "$binary" ]] || { echo "galera-demo.sh: no repokit binary at $binary" >&2; exit 1; }

work="${keep:-$(mktemp -d)}"
mkdir -p "$work"
child=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  [[ -z "$child" ]] || kill "$child" 2>/dev/null || true
  "$ROOT/scripts/galera-cluster.sh" stop "$work/cluster" >/dev/null 2>&1 || true
  [[ -n "$keep" ]] || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/galera-cluster.sh" start "$work/cluster" >"$work/cluster.log" 2>&1
# shellcheck source=/dev/null
. "$work/cluster/env"

field() { grep -o "\"$1\": *[0-9.]*" "$2" | head -n 1 | sed 's/.*: *//'; }
# The jobs of the run's type that succeeded so far, read on a node that is up.
succeeded_so_far() {
  mariadb --defaults-file="$work/cluster/node$1/client.cnf" -N -e \
    "SELECT COUNT(*) FROM jobs WHERE job_type LIKE 'demo-transcode-%' AND status = 'succeeded' \
     AND created_at >= $2" "${REPOKIT_TEST_GALERA_URL##*/}" 2>/dev/null || echo 0
}

passed=0
for ((run = 1; run <= runs; run++)); do
  node=$(((run - 1) % 3 + 1))
  watch=$((node % 3 + 1))  # a node that stays up
  started_ms=$(($(date +%s%N) / 1000000))
  started=$SECONDS
  "$binary" demo --url "$REPOKIT_TEST_GALERA_URL" --targets "$targets" --videos "$targets" \
    --json >"$work/run-$run.json" 2>"$work/run-$run.err" </dev/null &
  child=$!
  while kill -0 "$child" 2>/dev/null &&
    (($(succeeded_so_far "$watch" "$started_ms") < targets / 10)); do
    sleep 0.05
  done
  killed_at=$((SECONDS - started))
  "$ROOT/scripts/galera-cluster.sh" kill "$work/cluster" "$node" >>"$work/cluster.log" 2>&1
  status=0
  wait "$child" || status=$?
  child=""
  "$ROOT/scripts/galera-cluster.sh" start "$work/cluster" "$node" >>"$work/cluster.log" 2>&1
  json="$work/run-$run.json"
  verdict="$(grep -o '"verdict": *"[^"]*"' "$json" | sed 's/"verdict": *//' || true)"
  ((status == 0)) && passed=$((passed + 1))
  printf 'run %d: node %d killed %d s in; exit %d after %d s; %s succeeded, %s lost, %s twice, %s rescued, %s in doubt; %s\n' \
    "$run" "$node" "$killed_at" "$status" $((SECONDS - started)) \
    "$(field jobs_succeeded "$json")" "$(field jobs_lost "$json")" \
    "$(field jobs_processed_twice "$json")" "$(field jobs_rescued_after_expired_lease "$json")" \
    "$(field in_doubt "$json")" "${verdict:-no verdict}"
done
echo "galera-demo: $passed of $runs runs passed"
((passed == runs))
