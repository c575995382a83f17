#!/usr/bin/env bash
# Build and run the whole test suite against a private PostgreSQL server.
# Arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
SCRIPTS="$ROOT/scripts"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export BUILD_DIR

"$SCRIPTS/install-deps.sh"
"$SCRIPTS/build.sh" "$BUILD_DIR"

TEST_TMP="$(mktemp -d)"
# The server runs as user postgres, which must be able to enter this dir.
chmod 755 "$TEST_TMP"
PG_DIR="$TEST_TMP/pg"
CTEST_PID=""

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # ctest runs in its own process group; take its tests down with it.
    if [[ -n "$CTEST_PID" ]] && kill -0 "$CTEST_PID" 2>/dev/null; then
        kill -TERM -- "-$CTEST_PID" 2>/dev/null || true
        wait "$CTEST_PID" 2>/dev/null || true
    fi
    "$SCRIPTS/pg-server.sh" stop "$PG_DIR" || true
    rm -rf -- "$TEST_TMP"
    return "$rc"
}
trap cleanup EXIT
# Signals: clean up, then exit with the conventional 128+N status.
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# No server means no valid run: fail loudly instead of skipping tests.
if ! "$SCRIPTS/pg-server.sh" start "$PG_DIR"; then
    echo "test.sh: could not start PostgreSQL" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$PG_DIR/env"
export REPOKIT_TEST_TMPDIR="$TEST_TMP"

# Background + wait so INT/TERM are handled at once rather than after ctest;
# setsid gives ctest its own process group for the cleanup above.
setsid -w ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 600 "$@" </dev/null &
CTEST_PID=$!
rc=0
wait "$CTEST_PID" || rc=$?
CTEST_PID=""
exit "$rc"
