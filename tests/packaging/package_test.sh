#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds the consumer project against it
# (find_package), or builds the consumer with repokit's source tree added as a subdirectory.
#   package_test.sh find_package|add_subdirectory SOURCE_DIR BUILD_DIR [WITH_PROMETHEUS]
# WITH_PROMETHEUS 1: the consumer links repokit::prometheus too, and runs that program.
set -euo pipefail
mode="$1"
source_dir="$2"
build_dir="$3"
with_prometheus="${4:-0}"
work="$(mktemp -d "${REPOKIT_TEST_TMPDIR:-/tmp}/repokit-package.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

args=(-DREPOKIT_CONSUME="$mode" -DCMAKE_BUILD_TYPE=Release)
consumer_args=(-DREPOKIT_CONSUME_PROMETHEUS="$with_prometheus")
if [[ "$mode" == find_package ]]; then
  cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
  [[ -x "$work/prefix/bin/repokit" ]] || { echo "the repokit command was not installed" >&2; exit 1; }
  "$work/prefix/bin/repokit" --version
  args+=(-DCMAKE_PREFIX_PATH="$work/prefix")
else
  args+=(-DREPOKIT_SOURCE_DIR="$source_dir")
fi
cmake -S "$source_dir/tests/packaging/consumer" -B "$work/build" "${args[@]}" "${consumer_args[@]}" \
  > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2 > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; exit 1; }
"$work/build/consumer"
[[ "$with_prometheus" != 1 ]] || "$work/build/consumer_prometheus"

[[ "$mode" == find_package ]] || exit 0

# The orders example, a repository of an application's own, built from the installed headers
# only and run on each backend: SQLite (with the orders routed to a second file too), then the
# PostgreSQL and MariaDB servers the test suite started, each in a database of its own.
cmake -S "$source_dir/examples/orders" -B "$work/orders" "${args[@]}" > "$work/orders-configure.log" ||
  { cat "$work/orders-configure.log"; exit 1; }
cmake --build "$work/orders" -j2 > "$work/orders-build.log" 2>&1 ||
  { tail -n 40 "$work/orders-build.log"; exit 1; }
orders="$work/orders/orders_example"
"$orders" "sqlite:///$work/shop.db"
"$orders" "sqlite:///$work/shop.db" "sqlite:///$work/orders.db"

: "${REPOKIT_TEST_POSTGRES_URL:?the PostgreSQL server of the test suite (scripts/test.sh starts it)}"
: "${REPOKIT_TEST_MYSQL_URL:?the MariaDB server of the test suite (scripts/test.sh starts it)}"
example_db="repokit_orders_example_$$"  # the test user may create repokit_* databases
# URL parts: scheme://user:password@host:port/database
[[ "$REPOKIT_TEST_MYSQL_URL" =~ ^[a-z]+://([^:]+):([^@]*)@([^:/]+):([0-9]+)/ ]] ||
  { echo "cannot read the MariaDB test URL" >&2; exit 1; }
mariadb_client=(mariadb --user="${BASH_REMATCH[1]}" --password="${BASH_REMATCH[2]}"
  --host="${BASH_REMATCH[3]}" --port="${BASH_REMATCH[4]}" --protocol=tcp)
drop_example_databases() {
  psql "$REPOKIT_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $example_db" > /dev/null || true
  "${mariadb_client[@]}" -e "DROP DATABASE IF EXISTS $example_db" || true
  rm -rf -- "$work"
}
trap drop_example_databases EXIT
psql "$REPOKIT_TEST_POSTGRES_URL" -qc "CREATE DATABASE $example_db" > /dev/null
"${mariadb_client[@]}" -e "CREATE DATABASE $example_db"
"$orders" "${REPOKIT_TEST_POSTGRES_URL%/*}/$example_db"
"$orders" "${REPOKIT_TEST_MYSQL_URL%/*}/$example_db"
