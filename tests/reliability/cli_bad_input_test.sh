#!/usr/bin/env bash
# Bad input through the repokit command: malformed URLs and numbers, a file that is not a
# database, a read-only database and a full disk, and passwords that must never be printed. Each
# must exit non-zero with a clear message and leave the stored data as it was.
#   cli_bad_input_test.sh REPOKIT_BINARY BACKEND
# BACKEND sqlite-root runs the read-only and full-disk cases alone: they need tmpfs mounts, so
# ctest runs them behind tests/support/requires_root.sh, which skips them where root cannot mount.
set -euo pipefail
repokit="$(readlink -f "$1")"
backend="$2"
work="$(mktemp -d "${REPOKIT_TEST_TMPDIR:-/tmp}/repokit-cli-bad.XXXXXX")"
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf -- "$work"
}
trap cleanup EXIT
cd "$work"
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect STATUS COMMAND...: runs the command, keeps its output in $out, checks its exit status.
expect() {
  local want="$1"; shift
  local got=0
  checks=$((checks + 1))
  out="$("$@" 2>&1)" || got=$?
  [[ "$got" == "$want" ]] || fail "'$*' exited $got, expected $want: ${out:0:400}"
}
contains() { [[ "$out" == *"$1"* ]] || fail "expected output to contain '$1', got: ${out:0:400}"; }
lacks() { [[ "$out" != *"$1"* ]] || fail "output must not contain '$1': ${out:0:400}"; }
# The whole content of an SQLite database, for before/after comparisons.
dump() { sqlite3 "$1" .dump; }

secret="Cl1-S3cret-4e9d"
if [[ "$backend" == sqlite-root ]]; then
  # A read-only database and a full disk, on tmpfs mounts (root only).
  mkdir "$work/ro"
  mount -t tmpfs -o size=4m tmpfs "$work/ro"
  mounts+=("$work/ro")
  expect 0 "$repokit" demo --url "sqlite:///$work/ro/ro.db" --targets 20 --videos 40 --json
  before="$(dump "$work/ro/ro.db")"
  mount -o remount,ro "$work/ro"
  expect 1 "$repokit" demo --url "sqlite:///$work/ro/ro.db" --targets 5 --videos 40
  [[ "$out" == *"readonly"* || "$out" == *"read-only"* || "$out" == *"unable to open"* ]] ||
    fail "unclear error for a read-only database: $out"
  mount -o remount,rw "$work/ro"
  [[ "$(dump "$work/ro/ro.db")" == "$before" ]] || fail "the read-only database changed"
  expect 0 "$repokit" stats --url "sqlite:///$work/ro/ro.db"

  mkdir "$work/full"
  mount -t tmpfs -o size=256k tmpfs "$work/full"
  mounts+=("$work/full")
  expect 0 "$repokit" migrate --url "sqlite:///$work/full/full.db"
  expect 1 "$repokit" demo --url "sqlite:///$work/full/full.db" --targets 100 --videos 20000
  contains "database or disk is full"
  expect 0 "$repokit" stats --url "sqlite:///$work/full/full.db" --json
  [[ "$(sqlite3 "$work/full/full.db" 'PRAGMA integrity_check')" == ok ]] ||
    fail "the database on the full disk is damaged"
elif [[ "$backend" == sqlite ]]; then
  # Malformed URLs: exit 1, "invalid database URL", never the password.
  for url in "" "sqlite:" "sqlite:relative.db" "sqlite:///" "sqlite:///dir/" "sqlite:///a%ZZ.db" \
    "sqlite:///a%00.db" "sqlite:///x.db?mode=ro" "http://u:$secret@h/db" \
    "postgresql://u:$secret@h:99999/db" "postgresql://u:$secret@/db" "postgresql://u:$secret@h" \
    "postgresql://u:$secret%ZZ@h/db" "postgresql://u:$secret@[::1/db" \
    "postgresql://u:$secret@h/db?password=$secret" "mysql://u:$secret@h:0/db" \
    "host=h user=u password=$secret dbname=d"; do
    # As an option, and as the positional argument psql users type.
    for form in --url= ""; do
      expect 1 "$repokit" migrate "$form$url"
      lacks "$secret"
      [[ "$out" == *"invalid database URL"* || "$out" == *"empty database URL"* ||
         "$out" == *"unknown PostgreSQL URL parameter"* ]] || fail "unclear error for '$url': $out"
    done
  done
  # A URL wherever it does not belong: refused as usage, its password never echoed.
  leaky="postgresql://u:$secret@127.0.0.1:1/db"
  for args in "migrate --url sqlite:///x.db $leaky" "stats $leaky $leaky" "frobnicate $leaky" \
    "help $leaky" "demo --workers $leaky" "demo --chaos $leaky" "bench --workload $leaky"; do
    # shellcheck disable=SC2086  # the arguments are meant to split
    expect 2 "$repokit" $args
    lacks "$secret"
  done
  expect 1 "$repokit" migrate "$leaky?connect_timeout=1"
  lacks "$secret"; contains "connection_lost"; contains "u:***@"
  # A parameter with a misspelt value is a configuration error, refused before connecting.
  expect 1 "$repokit" migrate "$leaky?sslmode=bogus"
  lacks "$secret"; contains "configuration"; contains "sslmode must be one of"
  lacks "connection_lost"
  expect 1 "$repokit" stats --url "postgresql://u:$secret@127.0.0.1:1/db?connect_timeout=1"
  lacks "$secret"; contains "connection_lost"
  expect 1 env REPOKIT_DATABASE_URL="postgresql://u:$secret@h:0/db" "$repokit" stats
  lacks "$secret"

  # Malformed numbers: exit 2 with the command's usage.
  for args in "--targets -1" "--targets 0" "--targets 1e3" "--targets abc" \
    "--targets 99999999999999999999999" "--targets 100001" "--workers 65" "--producers -3" \
    "--chaos -0.1" "--chaos 0.6" "--chaos nan" "--chaos inf" "--chaos 0x1p-3z" "--videos 10 --targets 20"; do
    # shellcheck disable=SC2086  # the options are meant to split
    expect 2 "$repokit" demo --url "sqlite:///$work/never.db" $args
    contains "usage: repokit demo"
  done
  [[ ! -e "$work/never.db" ]] || fail "a refused command created its database"

  # Files that are not SQLite databases: reported, and left byte for byte as they were.
  printf 'this is not a database\n' > "$work/text.db"
  head -c 65536 /dev/urandom > "$work/random.db"
  { printf 'SQLite format 3\0'; head -c 4080 /dev/zero | tr '\0' '\177'; } > "$work/header.db"
  for f in text random header; do
    cp "$work/$f.db" "$work/$f.orig"
    for command in migrate stats; do
      expect 1 "$repokit" "$command" --url "sqlite:///$work/$f.db"
      contains "not a database"; lacks "run 'repokit migrate"
    done
    expect 1 "$repokit" demo --url "sqlite:///$work/$f.db" --targets 5 --videos 5
    cmp -s "$work/$f.db" "$work/$f.orig" || fail "$f.db was changed"
  done
  mkdir "$work/a-directory.db"
  expect 1 "$repokit" migrate --url "sqlite:///$work/a-directory.db"
  expect 1 "$repokit" migrate --url "sqlite:///$work/missing/dir/x.db"
  [[ ! -e "$work/missing" ]] || fail "a missing directory was created"
else
  url="${REPOKIT_TEST_POSTGRES_URL:?REPOKIT_TEST_POSTGRES_URL is not set: run scripts/test.sh}"
  password="${url#*://*:}"
  password="${password%%@*}"
  wrong="${url/":$password@"/":$secret@"}"
  for command in migrate stats; do
    expect 1 "$repokit" "$command" --url "$wrong"
    lacks "$secret"; lacks "$password"; contains "password authentication failed"
  done
  expect 1 "$repokit" demo --url "$wrong" --targets 5 --videos 5
  lacks "$secret"; lacks "$password"
  expect 1 "$repokit" migrate --url "$url?sslmode=bogus"
  lacks "$password"
  expect 1 "$repokit" migrate --url "${url%/*}/no_such_db"
  lacks "$password"; contains "does not exist"
  expect 1 "$repokit" migrate --url "$url?application_name=x&password=$secret"
  lacks "$secret"; lacks "$password"
fi

if ((failures > 0)); then
  echo "$failures of $checks check(s) failed" >&2
  exit 1
fi
echo "all $checks bad-input checks of the repokit command passed ($backend)"
