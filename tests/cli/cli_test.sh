#!/usr/bin/env bash
# The repokit command as users meet it: help, version, its errors, and the demo's promise
# (no job lost or processed twice, every injected fault absorbed by a retry) on each backend.
#   cli_test.sh REPOKIT_BINARY BACKEND
set -euo pipefail
repokit="$(readlink -f "$1")"
backend="$2"
work="$(mktemp -d "${REPOKIT_TEST_TMPDIR:-/tmp}/repokit-cli.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
cd "$work"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect STATUS COMMAND...: runs the command, keeps its output in $out, checks its exit status.
expect() {
  local want="$1"; shift
  local got=0
  out="$("$@" 2>&1)" || got=$?
  [[ "$got" == "$want" ]] || fail "'$*' exited $got, expected $want: $out"
}
contains() { [[ "$out" == *"$1"* ]] || fail "expected output to contain '$1', got: $out"; }
lacks() { [[ "$out" != *"$1"* ]] || fail "output must not contain '$1': $out"; }
# field NAME: a number from the JSON summary on the last line of $out.
field() { tail -n 1 <<<"$out" | grep -o "\"$1\": *[0-9.]*" | head -n 1 | sed 's/.*: *//'; }

if [[ "$backend" == sqlite ]]; then
  expect 0 "$repokit" --help;            contains "usage: repokit <command>"
  expect 0 "$repokit" demo --help;       contains "--chaos RATE"
  expect 0 "$repokit" --version;         contains "repokit "
  expect 0 "$repokit" demo --targets 5 -V; contains "repokit "
  expect 0 "$repokit" help bench;        contains "usage: repokit bench"
  expect 2 "$repokit" help frobnicate;   contains "unknown command 'frobnicate'"
  expect 0 "$repokit" --help;            contains "exit status:"; contains "130"
  expect 2 "$repokit";                   contains "commands:"
  expect 2 "$repokit" frobnicate;        contains "unknown command 'frobnicate'"
  expect 2 "$repokit" demo --workers;    contains "--workers needs a value"
  expect 2 "$repokit" demo --workers 0;  contains "--workers takes a whole number from 1 to 64"
  expect 2 "$repokit" demo --chaos 2;    contains "--chaos takes a number"
  expect 2 "$repokit" demo --nope;       contains "unknown option --nope"
  expect 1 "$repokit" demo --url "sqlite:relative.db"; contains "invalid database URL"
  expect 1 "$repokit" migrate --url "postgresql://app:hunter2@127.0.0.1:1/db?connect_timeout=1"
  contains "connection_lost"; lacks "hunter2"; contains "app:***@"
  # The URL as psql users type it, first plain argument: accepted, and still masked.
  expect 1 "$repokit" migrate "postgresql://app:hunter2@127.0.0.1:1/db?connect_timeout=1"
  contains "connection_lost"; lacks "hunter2"; contains "app:***@"
  expect 1 "$repokit" migrate "postgresql://app:hunter2@127.0.0.1:1/db?sslmode=bogus"
  contains "configuration"; lacks "connection_lost"; lacks "hunter2"
  : >"$work/not-migrated.db"  # an existing database repokit never migrated (empty)
  expect 1 "$repokit" stats --url "sqlite:///$work/not-migrated.db"; contains "repokit migrate"
  contains "schema version 0"
  [[ ! -s "$work/not-migrated.db" && ! -e "$work/not-migrated.db-wal" ]] ||
    fail "stats wrote to the database it inspected"
  expect 1 "$repokit" stats --url "sqlite:///$work/absent.db"; contains "does not exist"
  [[ ! -e "$work/absent.db" ]] || fail "stats created the database it was asked to inspect"
  echo "this is not a database" > "$work/garbage.db"
  expect 1 "$repokit" migrate --url "sqlite:///$work/garbage.db"; contains "not a database"

  # Ctrl-C: a message, exit 130, and the database closed cleanly (no -wal or -shm left). The
  # signal is sent once the demo reports its first phase done, read from its progress lines.
  mkfifo "$work/progress"
  "$repokit" demo --targets 5000 --videos 5000 >/dev/null 2>"$work/progress" &
  demo_pid=$!
  sent=0
  while IFS= read -r progress_line; do
    printf '%s\n' "$progress_line" >>"$work/interrupt.log"
    if ((sent == 0)) && [[ "$progress_line" == *"1/3 ingest"* ]]; then
      kill -INT "$demo_pid"
      sent=1
    fi
  done <"$work/progress"
  status=0
  wait "$demo_pid" || status=$?
  [[ "$status" == 130 ]] || fail "interrupted demo exited $status: $(tail -n 3 "$work/interrupt.log")"
  grep -q "interrupted after" "$work/interrupt.log" || fail "no message on Ctrl-C"
  for suffix in -wal -shm; do
    [[ ! -e "$work/repokit-demo.db$suffix" ]] || fail "Ctrl-C left repokit-demo.db$suffix"
  done

  # The summary: grouped, a verdict line last; NO_COLOR or not, no escape codes off a terminal.
  expect 0 env NO_COLOR=1 "$repokit" demo --targets 20 --videos 100
  contains "retries and faults"; contains "sessions and pool"; lacks $'\033'
  [[ "$(tail -n 1 <<<"$out")" == "OK: 20 jobs, each created once and processed once" ]] ||
    fail "no verdict line last: $(tail -n 2 <<<"$out")"
  # On a terminal (script(1) provides one): a bar for each phase, and the verdict.
  if command -v script >/dev/null; then
    expect 0 script -qec "'$repokit' demo --targets 40 --videos 100 --verbose" "$work/typescript"
    for shown in "1/3 ingest  [####" "2/3 enqueue [####" "3/3 drain   [####" "OK: 40 jobs"; do
      grep -qaF "$shown" "$work/typescript" || fail "the terminal session lacks '$shown'"
    done
  fi
  expect 0 "$repokit" demo --targets 60 --videos 100 --json
  contains '"jobs":{'; contains '"verdict":"OK'
  url="sqlite:///$work/repokit-demo.db"

  # bench: a fresh temporary database by default, nothing left behind; a database it did not
  # create is refused before anything is written, byte for byte.
  before="$(ls -A "$work")"
  expect 0 "$repokit" bench --ops 200 --rounds 3 --videos 1000 --json
  contains '"rounds":3'; contains '"ops_per_s_min"'
  [[ "$(ls -A "$work")" == "$before" ]] || fail "bench left files in the working directory"
  sum="$(sha256sum "$work/repokit-demo.db")"
  expect 3 "$repokit" bench --url "$url" --ops 10
  contains "refusing to write"
  expect 3 env REPOKIT_DATABASE_URL="$url" "$repokit" bench --ops 10
  [[ "$(sha256sum "$work/repokit-demo.db")" == "$sum" ]] || fail "bench changed a populated database"
  [[ ! -e "$work/repokit-demo.db-wal" ]] || fail "bench left a -wal file"
  # stats and migrate --status only read: the database stays byte for byte the same.
  expect 0 "$repokit" stats --url "$url"; contains "active_duplicates"
  expect 0 "$repokit" migrate --status "$url"; contains "latest_version"; contains "pending"
  [[ "$(sha256sum "$work/repokit-demo.db")" == "$sum" ]] || fail "stats or --status wrote"
  [[ ! -e "$work/repokit-demo.db-wal" ]] || fail "stats or --status left a -wal file"
  expect 0 "$repokit" bench "sqlite:///$work/bench-made.db" --ops 100 --rounds 1 --videos 1000
  [[ ! -e "$work/bench-made.db" ]] || fail "bench did not remove the database file it created"
else
  url="${REPOKIT_TEST_POSTGRES_URL:?REPOKIT_TEST_POSTGRES_URL is not set: run scripts/test.sh}"
  password="${url#*://*:}"
  password="${password%%@*}"
  expect 1 "$repokit" migrate --url "${url/@/x@}"  # a wrong password: refused, never printed
  contains "password authentication failed"; lacks "$password"
fi

expect 0 "$repokit" migrate --url "$url" --json
# With --json, stdout holds the summary alone, one JSON object on one line: the progress lines
# (one a second) go to stderr.
status=0
"$repokit" demo --url "$url" --targets 80 --videos 100 --chaos 0.05 --json \
  >"$work/summary.json" 2>"$work/demo.err" || status=$?
[[ "$status" == 0 ]] || fail "demo --json exited $status: $(tail -n 5 "$work/demo.err")"
[[ "$(wc -l <"$work/summary.json")" == 1 && "$(head -c 1 "$work/summary.json")" == "{" ]] ||
  fail "demo --json printed more than its summary on stdout: $(head -c 300 "$work/summary.json")"
out="$(cat "$work/summary.json")"
[[ "$(field jobs_created)" == 80 ]] || fail "jobs_created $(field jobs_created), expected 80"
[[ "$(field jobs_lost)" == 0 ]] || fail "jobs lost: $(field jobs_lost)"
[[ "$(field jobs_processed_twice)" == 0 ]] || fail "jobs processed twice: $(field jobs_processed_twice)"
injected="$(field chaos_faults_injected)"
retried=$(( $(field retries_retry_transaction) + $(field retries_reconnect_then_retry) ))
[[ "$injected" -gt 0 ]] || fail "no fault was injected at rate 0.05"
# Every injected fault failed one attempt, and every failed attempt was retried: the demo's
# budget (12 retries) absorbs a 5% fault rate, so a give-up is a failure, not an excuse.
[[ "$(field give_ups)" == 0 ]] || fail "$(field give_ups) give-up(s) with $injected faults injected"
[[ "$retried" -eq "$injected" ]] || fail "$injected faults injected but $retried retries"
expect 0 "$repokit" stats --url "$url"; contains "active_duplicates"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all repokit command checks passed ($backend)"
