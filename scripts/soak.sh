#!/usr/bin/env bash
# Soak: `repokit demo --chaos` run again and again for a bounded time, sampling each run's
# resident memory (ps -o rss) and open file descriptors (/proc/PID/fd) every few seconds, then
# judging whether memory stays flat and descriptors constant within each run and across runs.
# Not part of CI; see docs/reliability.md.
#
#   scripts/soak.sh [--minutes M] [--interval S] [--targets N] [--chaos RATE] [--url URL]
#                   [--binary PATH] [--keep DIR]
#
# Defaults: 10 minutes, a sample every 2 s, 20000 targets per run (2 to 3 minutes each on
# SQLite), chaos 0.05, a fresh SQLite file per run, the repokit binary of $BUILD_DIR (default
# <repo>/build) built by scripts/build.sh. Runs start until the time is up; the last one is
# allowed to finish, so the soak may overrun by up to one run.
# Exit status 0 when every run kept its promise (no job lost or processed twice) and memory and
# descriptors held steady; 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
minutes="${REPOKIT_SOAK_MINUTES:-10}"
interval=2
targets=20000
chaos=0.05
url=""
binary="${BUILD_DIR:-$ROOT/build}/tools/cli/repokit"
keep=""

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while (($# > 0)); do
  if [[ "$1" == --* && "$1" != --help && $# -lt 2 ]]; then
    echo "soak.sh: $1 needs a value" >&2
    usage
  fi
  case "$1" in
  --minutes) minutes="$2"; shift 2 ;;
  --interval) interval="$2"; shift 2 ;;
  --targets) targets="$2"; shift 2 ;;
  --chaos) chaos="$2"; shift 2 ;;
  --url) url="$2"; shift 2 ;;
  --binary) binary="$2"; shift 2 ;;
  --keep) keep="$2"; shift 2 ;;
  -h | --help) usage ;;
  *) echo "soak.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -x "$binary" ]] || { echo "soak.sh: no repokit binary at $binary (run scripts/build.sh)" >&2; exit 1; }

work="${keep:-$(mktemp -d)}"
mkdir -p "$work"
child=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  [[ -z "$child" ]] || kill "$child" 2>/dev/null || true
  [[ -n "$keep" ]] || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

samples="$work/samples.tsv"  # run, seconds into the run, rss (KiB), open fds
runs="$work/runs.tsv"        # run, exit status, seconds, jobs processed, lost, twice, faults, retries
printf 'run\tseconds\trss_kib\tfds\n' >"$samples"
printf 'run\tstatus\tseconds\tprocessed\tlost\ttwice\tfaults\tretries\n' >"$runs"

field() { grep -o "\"$1\": *[0-9.]*" "$2" | head -n 1 | sed 's/.*: *//'; }

deadline=$((SECONDS + minutes * 60))
run=0
echo "soak: ${minutes} min of 'repokit demo --chaos $chaos --targets $targets', a sample every ${interval} s" >&2
while ((SECONDS < deadline)); do
  run=$((run + 1))
  run_url="$url"
  if [[ -z "$run_url" ]]; then
    rm -f "$work"/soak.db*
    run_url="sqlite:///$work/soak.db"
  fi
  started=$SECONDS
  "$binary" demo --url "$run_url" --chaos "$chaos" --targets "$targets" --videos "$targets" \
    --json >"$work/run-$run.json" 2>"$work/run-$run.err" </dev/null &
  child=$!
  while kill -0 "$child" 2>/dev/null; do
    rss="$(ps -o rss= -p "$child" 2>/dev/null | tr -d ' ')" || true
    fds="$(find "/proc/$child/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" || true
    [[ -z "$rss" || "$fds" == 0 ]] || printf '%d\t%d\t%s\t%s\n' "$run" $((SECONDS - started)) "$rss" "$fds" >>"$samples"
    sleep "$interval"
  done
  status=0
  wait "$child" || status=$?
  child=""
  json="$work/run-$run.json"
  retried=$(( $(field retries_retry_transaction "$json" || echo 0) + $(field retries_reconnect_then_retry "$json" || echo 0) ))
  printf '%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\n' "$run" "$status" $((SECONDS - started)) \
    "$(field jobs_processed "$json")" "$(field jobs_lost "$json")" \
    "$(field jobs_processed_twice "$json")" "$(field chaos_faults_injected "$json")" "$retried" >>"$runs"
  echo "soak: run $run exited $status after $((SECONDS - started)) s" >&2
done

# Within each run the first quarter of the samples is warm-up (the catalogue is ingested, caches
# fill); memory is flat when the median of the last third is within 10% (+2 MiB) of the median
# of the samples after warm-up's first third, and descriptors constant when the last third's
# maximum does not exceed the first third's by more than 2. Across runs, each run's peak is
# compared with the first run's.
awk -F'\t' -v runs_file="$runs" '
function median(arr, n,    i, j, t) {
  for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
  return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
NR > 1 { n[$1]++; rss[$1, n[$1]] = $3; fd[$1, n[$1]] = $4; if (!($1 in peak) || $3 > peak[$1]) peak[$1] = $3 }
END {
  bad = 0
  while ((getline line < runs_file) > 0) {
    split(line, f, "\t"); if (f[1] == "run") continue
    total++; ok = (f[2] == 0 && f[5] == 0 && f[6] == 0)
    if (!ok) bad = 1
    processed += f[4]; faults += f[7]; retries += f[8]
    printf "run %d: exit %d, %d s, %d jobs processed, %d lost, %d twice, %d faults injected, %d retries\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]
  }
  flat = 1; steady = 1
  for (r = 1; r <= total; r++) {
    m = n[r]; if (m < 8) { printf "run %d: %d samples, too few to judge\n", r, m; continue }
    w = int(m / 4); k = int((m - w) / 3)
    a = 0; b = 0; fmax1 = 0; fmax3 = 0; fmin = 1e9; fmaxall = 0
    for (i = w + 1; i <= w + k; i++) { e[++a] = rss[r, i]; if (fd[r, i] > fmax1) fmax1 = fd[r, i] }
    for (i = m - k + 1; i <= m; i++) { l[++b] = rss[r, i]; if (fd[r, i] > fmax3) fmax3 = fd[r, i] }
    for (i = w + 1; i <= m; i++) { if (fd[r, i] < fmin) fmin = fd[r, i]; if (fd[r, i] > fmaxall) fmaxall = fd[r, i] }
    early = median(e, a); late = median(l, b)
    growth = early > 0 ? 100 * (late - early) / early : 0
    run_flat = late <= early * 1.10 + 2048; run_steady = fmax3 <= fmax1 + 2
    if (!run_flat) flat = 0; if (!run_steady) steady = 0
    printf "run %d: %d samples; RSS after warm-up %.1f MiB -> %.1f MiB (%+.1f%%), peak %.1f MiB; fds %d..%d (first third max %d, last third max %d)\n", r, m, early / 1024, late / 1024, growth, peak[r] / 1024, fmin, fmaxall, fmax1, fmax3
    delete e; delete l
  }
  for (r = 2; r <= total; r++) if (r in peak && 1 in peak && peak[r] > peak[1] * 1.10 + 2048) flat = 0
  printf "soak: %d runs, %d jobs processed, %d faults injected, %d retries; jobs lost or doubled: %s\n", total, processed, faults, retries, bad ? "YES" : "none"
  printf "soak: RSS %s; open fds %s\n", flat ? "flat" : "GROWING", steady ? "constant" : "GROWING"
  exit (bad || !flat || !steady) ? 1 : 0
}' "$samples"
