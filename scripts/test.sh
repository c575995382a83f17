#!/usr/bin/env bash
# Build and run the whole test suite against private PostgreSQL and MariaDB
# servers and a 3-node Galera cluster, then the sanitizer and fuzzing stage
# (scripts/test-sanitizers.sh, docs/reliability.md).
# Arguments go to ctest, e.g. `scripts/test.sh -L unit`; REPOKIT_SANITIZERS=0
# skips the sanitizer stage, for a quick run by hand.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
SCRIPTS="$ROOT/scripts"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export BUILD_DIR

"$SCRIPTS/install-deps.sh"
"$SCRIPTS/build.sh" "$BUILD_DIR"

TEST_TMP="$(mktemp -d)"
# The servers run as users postgres and mysql, which must enter this dir.
chmod 755 "$TEST_TMP"
PG_DIR="$TEST_TMP/pg"
MYSQL_DIR="$TEST_TMP/mariadb"
GALERA_DIR="$TEST_TMP/galera"
STAGE_PID=""

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # ctest (or the sanitizer run) has its own process group; take its
    # children down with it.
    if [[ -n "$STAGE_PID" ]] && kill -0 "$STAGE_PID" 2>/dev/null; then
        kill -TERM -- "-$STAGE_PID" 2>/dev/null || true
        wait "$STAGE_PID" 2>/dev/null || true
    fi
    # Each stop is harmless when that server never started.
    "$SCRIPTS/galera-cluster.sh" stop "$GALERA_DIR" || true
    "$SCRIPTS/mariadb-server.sh" stop "$MYSQL_DIR" || true
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
if ! "$SCRIPTS/mariadb-server.sh" start "$MYSQL_DIR"; then
    echo "test.sh: could not start MariaDB" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$MYSQL_DIR/env"
if ! "$SCRIPTS/galera-cluster.sh" start "$GALERA_DIR"; then
    echo "test.sh: could not start the Galera cluster" >&2
    exit 1
fi
# shellcheck disable=SC1091
. "$GALERA_DIR/env"
export REPOKIT_TEST_TMPDIR="$TEST_TMP"
# The whole suite runs as root (it installs and starts servers): a test that needs root powers
# it lacks here fails instead of being skipped. Only ctest run by hand may skip one.
export REPOKIT_TEST_REQUIRE_ROOT="${REPOKIT_TEST_REQUIRE_ROOT:-1}"

# Run a long stage in the background + wait so INT/TERM are handled at once
# rather than after it; setsid gives it its own process group for the
# cleanup above.
run_grouped() {
    setsid -w "$@" </dev/null &
    STAGE_PID=$!
    local rc=0
    wait "$STAGE_PID" || rc=$?
    STAGE_PID=""
    return "$rc"
}

rc=0
# --no-tests=error: a -L or -R that matches nothing fails the run instead of passing it.
run_grouped ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j2 --timeout 600 "$@" || rc=$?

# Sanitizer builds reuse the servers, so they run before the cleanup;
# a ctest failure is not hidden by a sanitizer success or vice versa.
SANITIZERS="$SCRIPTS/test-sanitizers.sh"
if [[ "${REPOKIT_SANITIZERS:-1}" != 0 ]]; then
    san_rc=0
    run_grouped "$SANITIZERS" || san_rc=$?
    if ((san_rc != 0)); then
        echo "test.sh: $SANITIZERS failed with status $san_rc" >&2
        ((rc != 0)) || rc=$san_rc
    fi
fi
exit "$rc"
