#!/usr/bin/env bash
# Manage a throwaway MariaDB server for tests.
#   mariadb-server.sh start|stop|status DIR
# Paths are resolved from this file's location so tests can call it through
# std::system from any working directory.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/mariadb.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/mariadb.sh"

usage() {
    echo "usage: $(basename "$0") start|stop|status DIR" >&2
    exit 2
}

(($# == 2)) || usage
case "$1" in
start) mariadb_server_start "$2" ;;
stop) mariadb_server_stop "$2" ;;
status) mariadb_server_status "$2" ;;
*) usage ;;
esac
