#!/usr/bin/env bash
# Manage a throwaway PostgreSQL cluster for tests.
#   pg-server.sh start|stop|restart|status DIR
# Paths are resolved from this file's location so tests can call it through
# std::system from any working directory.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/postgres.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/postgres.sh"

usage() {
    echo "usage: $(basename "$0") start|stop|restart|status DIR" >&2
    exit 2
}

(($# == 2)) || usage
case "$1" in
start) pg_server_start "$2" ;;
stop) pg_server_stop "$2" ;;
restart) pg_server_restart "$2" ;;
status) pg_server_status "$2" ;;
*) usage ;;
esac
