#!/usr/bin/env bash
# Manage a throwaway 3-node MariaDB Galera cluster on 127.0.0.1 for tests.
#   galera-cluster.sh start DIR      create (or restart) the whole cluster
#   galera-cluster.sh start DIR N    bring node N back into the running cluster
#   galera-cluster.sh stop DIR [N]   stop all nodes (last first) or node N
#   galera-cluster.sh kill DIR N     SIGKILL node N and wait until it is gone
#   galera-cluster.sh status DIR [N]
# Paths are resolved from this file's location so tests can call it through
# std::system from any working directory.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/mariadb.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/mariadb.sh"

usage() {
    echo "usage: $(basename "$0") start|stop|kill|status DIR [NODE]" >&2
    exit 2
}

(($# == 2 || $# == 3)) || usage
case "$1" in
start) galera_cluster_start "$2" "${3:-}" ;;
stop) galera_cluster_stop "$2" "${3:-}" ;;
kill) (($# == 3)) || usage; galera_cluster_kill "$2" "$3" ;;
status) galera_cluster_status "$2" "${3:-}" ;;
*) usage ;;
esac
