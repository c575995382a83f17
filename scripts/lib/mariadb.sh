# shellcheck shell=bash
# Throwaway MariaDB servers and 3-node Galera clusters for tests.
#
# Source this file, then call mariadb_server_start / mariadb_server_stop /
# mariadb_server_status with a server directory, or galera_cluster_start /
# galera_cluster_stop / galera_cluster_kill / galera_cluster_status with a
# cluster directory. Each public function runs in a subshell with strict
# mode, so sourcing does not change the caller's shell options. Call them as
# plain commands (not inside `if` or `||`), otherwise bash disables errexit
# inside them.
#
# Layout of one server ("node") directory NODE; a single server uses DIR
# itself, a cluster uses DIR/node1..DIR/node3:
#   NODE/my.cnf        server options, always the first --defaults-file
#   NODE/client.cnf    root credentials over the socket (mode 600)
#   NODE/data          data directory
#   NODE/sock          Unix socket
#   NODE/mariadbd.pid  pid file
#   NODE/server.log    error log
#   NODE/port          SQL port in use
# and in DIR:
#   DIR/password       password of the `repokit` user (mode 600)
#   DIR/env            `export` lines for tests to source

REPOKIT_MDB_LIB_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
REPOKIT_MDB_SCRIPT="$(dirname "$REPOKIT_MDB_LIB_DIR")/mariadb-server.sh"
REPOKIT_GALERA_SCRIPT="$(dirname "$REPOKIT_MDB_LIB_DIR")/galera-cluster.sh"

REPOKIT_MDB_DB="${REPOKIT_MDB_DB:-repokit_test}"
REPOKIT_MDB_USER=repokit
# mariadbd refuses to run as root; when we are root it drops to this user.
REPOKIT_MDB_OS_USER="${REPOKIT_MDB_OS_USER:-mysql}"
REPOKIT_MDB_START_ATTEMPTS=3
REPOKIT_GALERA_NODES=3
REPOKIT_GALERA_PROVIDER="${REPOKIT_GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}"
# Seconds to wait for a server to accept connections, and for a joiner to
# finish its state transfer (SST copies the whole datadir).
REPOKIT_MDB_START_TIMEOUT="${REPOKIT_MDB_START_TIMEOUT:-30}"
REPOKIT_GALERA_JOIN_TIMEOUT="${REPOKIT_GALERA_JOIN_TIMEOUT:-120}"
# Seconds a clean shutdown may take before SIGKILL.
REPOKIT_MDB_STOP_TIMEOUT="${REPOKIT_MDB_STOP_TIMEOUT:-20}"

_mdb_log() { printf '%s: %s\n' "${REPOKIT_MDB_LOG_TAG:-mariadb}" "$*" >&2; }
_mdb_die() {
    _mdb_log "error: $*"
    exit 1
}

# Binaries live in /usr/sbin, which is not on every user's PATH.
_mdb_find() {
    local name="$1" cand
    for cand in "$(command -v "$name" 2>/dev/null || true)" "/usr/sbin/$name" "/usr/bin/$name"; do
        if [[ -n "$cand" && -x "$cand" ]]; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    _mdb_log "error: $name not found (run scripts/install-deps.sh)"
    return 1
}

# Absolute path without requiring it to exist; no reliance on the cwd later.
_mdb_abs_dir() {
    [[ -n "${1:-}" ]] || _mdb_die "missing directory argument"
    realpath -m -- "$1"
}

_mdb_ensure_os_user() {
    ((EUID == 0)) || return 0
    id -u "$REPOKIT_MDB_OS_USER" >/dev/null 2>&1 && return 0
    _mdb_log "creating system user $REPOKIT_MDB_OS_USER"
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$REPOKIT_MDB_OS_USER"
}

# Make a directory owned by the server user (no-op ownership when not root).
_mdb_mkdir_owned() {
    mkdir -p "$1"
    if ((EUID == 0)); then
        chown "$REPOKIT_MDB_OS_USER:" "$1"
    fi
    chmod 700 "$1"
}

_mdb_gen_password() {
    local pw=""
    while ((${#pw} < 16)); do
        pw+="$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
    done
    printf '%s\n' "${pw:0:16}"
}

# N distinct random ports in 20000-60000 with nothing listening on them.
# Binding can still race with another process; callers retry the start.
_mdb_pick_ports() {
    local want="$1" port i picked=" "
    local -a out=()
    for ((i = 0; i < 1000 && ${#out[@]} < want; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        [[ "$picked" == *" $port "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            out+=("$port")
            picked+="$port "
        fi
    done
    if ((${#out[@]} < want)); then
        _mdb_log "error: no free TCP ports found"
        return 1
    fi
    printf '%s\n' "${out[@]}"
}

# True when PID is a live (not zombie) mariadbd: pid files can be stale and
# the pid reused, and an unreaped zombie still answers kill -0.
_mdb_pid_alive() {
    local pid="$1" stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == mariadbd ]] || return 1
    stat="$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "$stat" != Z && "$stat" != X ]]
}

# Pid of the node's running mariadbd, or failure.
_mdb_node_pid() {
    local node="$1" pid
    pid="$(head -n 1 "$node/mariadbd.pid" 2>/dev/null)" || return 1
    _mdb_pid_alive "$pid" || return 1
    printf '%s\n' "$pid"
}

_mdb_wait_pid_gone() {
    local pid="$1" timeout="$2" deadline
    deadline=$((SECONDS + timeout))
    while _mdb_pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Socket paths are limited to 107 bytes.
_mdb_check_socket_len() {
    local sock="$1/sock"
    ((${#sock} <= 107)) || _mdb_die "directory too deep for a Unix socket: $1"
}

# Server options. EXTRA is appended verbatim (the [galera] section).
_mdb_write_cnf() {
    local node="$1" port="$2" extra="${3:-}" tmp
    tmp="$node/my.cnf.tmp"
    {
        echo "# Generated by repokit scripts/lib/mariadb.sh; throwaway test server."
        echo "[mysqld]"
        ((EUID != 0)) || echo "user=$REPOKIT_MDB_OS_USER"
        echo "datadir=$node/data"
        echo "socket=$node/sock"
        echo "pid-file=$node/mariadbd.pid"
        echo "log-error=$node/server.log"
        echo "tmpdir=$node/tmp"
        echo "port=$port"
        echo "bind-address=127.0.0.1"
        echo "skip-name-resolve"
        echo "skip-log-bin"
        # Durability is pointless for throwaway data and costs time.
        echo "innodb_flush_log_at_trx_commit=0"
        echo "innodb_doublewrite=0"
        echo "innodb_buffer_pool_size=64M"
        echo "innodb_log_file_size=32M"
        echo "max_connections=300"
        echo "character-set-server=utf8mb4"
        echo "collation-server=utf8mb4_bin"
        [[ -z "$extra" ]] || printf '%s\n' "$extra"
    } >"$tmp"
    _mdb_mkdir_owned "$node/tmp"
    # The server (and Galera's SST scripts) read it as the server user.
    chmod 644 "$tmp"
    mv -f "$tmp" "$node/my.cnf"
    printf '%s\n' "$port" >"$node/port"
}

# Root credentials for admin commands over the socket.
_mdb_write_client_cnf() {
    local node="$1" rootpw="$2"
    (
        umask 077
        printf '[client]\nuser=root\npassword=%s\nsocket=%s\nprotocol=socket\n' \
            "$rootpw" "$node/sock" >"$node/client.cnf"
    )
}

# Run SQL as root over the socket; output is tab-separated without headers.
_mdb_sql() {
    local node="$1" sql="$2" client
    client="$(_mdb_find mariadb)"
    "$client" --defaults-file="$node/client.cnf" --connect-timeout=10 -N -B -e "$sql"
}

_mdb_install_db() {
    local node="$1" installer
    installer="$(_mdb_find mariadb-install-db)"
    _mdb_log "mariadb-install-db in $node/data"
    _mdb_mkdir_owned "$node/data"
    local args=(--defaults-file="$node/my.cnf" --auth-root-authentication-method=normal
        --skip-test-db)
    ((EUID != 0)) || args+=(--user="$REPOKIT_MDB_OS_USER")
    if ! (cd / && "$installer" "${args[@]}" >"$node/install-db.log" 2>&1); then
        tail -n 20 "$node/server.log" >&2 || true
        # A half-made datadir would pass for a finished one next time.
        rm -rf -- "$node/data"
        _mdb_die "mariadb-install-db failed (full output in $node/install-db.log)"
    fi
}

# Start mariadbd in the background. setsid keeps it out of the caller's
# process group, so a Ctrl-C meant for the caller does not reach it; the
# caller's trap stops it cleanly instead.
_mdb_launch() {
    local node="$1"
    shift
    local mariadbd
    mariadbd="$(_mdb_find mariadbd)"
    rm -f "$node/mariadbd.pid"
    (cd / && exec setsid "$mariadbd" --defaults-file="$node/my.cnf" "$@" \
        </dev/null >>"$node/server.log" 2>&1) &
    local pid=$! i
    printf '%s\n' "$pid" >"$node/launch.pid"
    # Until the exec the child is not yet "mariadbd"; the liveness checks
    # that follow look for that name.
    for ((i = 0; i < 50; i++)); do
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
        bash | setsid) sleep 0.1 ;;
        *) break ;;
        esac
    done
}

# True while the node's launched or recorded mariadbd runs.
_mdb_node_alive() {
    _mdb_pid_alive "$(head -n 1 "$1/launch.pid" 2>/dev/null)" || _mdb_node_pid "$1" >/dev/null
}

# Wait until NODE answers SQL (as root, without password when NOPW is set).
# Fails early when the launched process dies.
_mdb_wait_ready() {
    local node="$1" timeout="$2" nopw="${3:-}" deadline client
    client="$(_mdb_find mariadb)"
    deadline=$((SECONDS + timeout))
    while :; do
        if [[ -n "$nopw" ]]; then
            "$client" --no-defaults --socket="$node/sock" -u root --connect-timeout=2 \
                -N -B -e 'SELECT 1' >/dev/null 2>&1 && return 0
        else
            _mdb_sql "$node" 'SELECT 1' >/dev/null 2>&1 && return 0
        fi
        if ! _mdb_node_alive "$node"; then
            _mdb_log "mariadbd in $node exited during startup"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            _mdb_log "mariadbd in $node not ready after ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
}

# Stop the node's server: clean shutdown, SIGKILL after the timeout. Leaves
# nothing running even if the shutdown command fails.
_mdb_stop_node() {
    local node="$1" pid admin
    pid="$(_mdb_node_pid "$node")" || pid="$(head -n 1 "$node/launch.pid" 2>/dev/null)" || true
    if ! _mdb_pid_alive "${pid:-}"; then
        return 0
    fi
    admin="$(_mdb_find mariadb-admin)"
    local t0=$SECONDS left
    # mariadb-admin waits for the pid file to go; one deadline covers both.
    timeout "$REPOKIT_MDB_STOP_TIMEOUT" "$admin" --defaults-file="$node/client.cnf" \
        --connect-timeout=5 --shutdown-timeout="$REPOKIT_MDB_STOP_TIMEOUT" shutdown \
        >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    left=$((REPOKIT_MDB_STOP_TIMEOUT - (SECONDS - t0)))
    ((left > 1)) || left=1
    if ! _mdb_wait_pid_gone "$pid" "$left"; then
        _mdb_log "mariadbd $pid in $node did not stop, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        _mdb_wait_pid_gone "$pid" 10 || _mdb_die "mariadbd $pid in $node survived SIGKILL"
    fi
}

_mdb_kill_node() {
    local node="$1" pid
    pid="$(_mdb_node_pid "$node")" || pid="$(head -n 1 "$node/launch.pid" 2>/dev/null)" || true
    if _mdb_pid_alive "${pid:-}"; then
        kill -KILL "$pid" 2>/dev/null || true
        _mdb_wait_pid_gone "$pid" 10 || _mdb_die "mariadbd $pid in $node survived SIGKILL"
    fi
    rm -f "$node/mariadbd.pid"
}

# Root gets a random password on every root account, then the test database
# and user. On Galera, users and grants replicate to the other nodes.
_mdb_setup_accounts() {
    local node="$1" rootpw="$2" password="$3" client host sql=""
    client="$(_mdb_find mariadb)"
    # install-db also makes root@HOSTNAME, which skip-name-resolve ignores.
    for host in localhost 127.0.0.1 ::1; do
        sql+="ALTER USER IF EXISTS 'root'@'$host' IDENTIFIED BY '$rootpw';"
    done
    sql+="CREATE DATABASE IF NOT EXISTS \`$REPOKIT_MDB_DB\`;"
    for host in 127.0.0.1 localhost; do
        sql+="CREATE USER IF NOT EXISTS '$REPOKIT_MDB_USER'@'$host' IDENTIFIED BY '$password';"
        sql+="GRANT ALL ON \`$REPOKIT_MDB_DB\`.* TO '$REPOKIT_MDB_USER'@'$host';"
        # Each test gets a database of its own, named repokit_t...: it may create and drop them.
        sql+="GRANT ALL ON \`repokit\\_%\`.* TO '$REPOKIT_MDB_USER'@'$host';"
        # PROCESS to see other sessions, CONNECTION ADMIN to KILL them.
        sql+="GRANT PROCESS, SUPER, CONNECTION ADMIN ON *.* TO '$REPOKIT_MDB_USER'@'$host';"
    done
    # Callers test this function, which turns errexit off inside it. The SQL
    # goes through stdin to keep passwords out of the process list.
    "$client" --no-defaults --socket="$node/sock" -u root -N -B <<<"$sql" || return 1
    _mdb_write_client_cnf "$node" "$rootpw"
}

_mdb_url() {
    local hosts="$1" password="$2"
    printf 'mysql://%s:%s@%s/%s\n' "$REPOKIT_MDB_USER" "$password" "$hosts" "$REPOKIT_MDB_DB"
}

# True when NODE holds a finished setup: install-db ran and root's password
# was stored. Anything less is wiped and redone.
_mdb_node_initialized() { [[ -d "$1/data/mysql" && -s "$1/client.cnf" ]]; }

# Password of an existing DIR, or a new one stored there.
_mdb_password() {
    local dir="$1"
    if [[ ! -s "$dir/password" ]]; then
        (umask 077 && _mdb_gen_password >"$dir/password")
    fi
    head -n 1 "$dir/password"
}

# The DIR itself is traversable by the server user; the data stays 700.
_mdb_prepare_dir() {
    local dir="$1"
    _mdb_ensure_os_user
    _mdb_mkdir_owned "$dir"
    if ((EUID == 0)) && ! runuser -u "$REPOKIT_MDB_OS_USER" -- test -w "$dir"; then
        _mdb_die "$dir is not writable by $REPOKIT_MDB_OS_USER (are its parents traversable?)"
    fi
}

_mdb_write_env_file() {
    local dir="$1" tmp="$1/env.tmp"
    shift
    {
        echo "# Generated by repokit scripts; source it to reach the test servers."
        local kv value
        for kv in "$@"; do
            value="${kv#*=}"
            # Plain values stay readable (and parsable without a shell).
            if [[ "$value" =~ ^[A-Za-z0-9_./:@,+=-]*$ ]]; then
                printf 'export %s=%s\n' "${kv%%=*}" "$value"
            else
                printf 'export %s=%q\n' "${kv%%=*}" "$value"
            fi
        done
    } >"$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$dir/env"
}

# --- single server -----------------------------------------------------------

mariadb_server_start() (
    set -euo pipefail
    REPOKIT_MDB_LOG_TAG=mariadb-server
    local dir password rootpw port attempt fresh=0 started=0
    dir="$(_mdb_abs_dir "${1:-}")"
    _mdb_check_socket_len "$dir"

    if _mdb_node_pid "$dir" >/dev/null; then
        _mdb_log "already running in $dir"
        [[ -f "$dir/env" ]] || _mdb_die "running server in $dir has no env file"
        _mdb_url "127.0.0.1:$(head -n 1 "$dir/port")" '***'
        return 0
    fi

    _mdb_prepare_dir "$dir"
    password="$(_mdb_password "$dir")"
    if ! _mdb_node_initialized "$dir"; then
        fresh=1
        rm -rf -- "$dir/data" "$dir/client.cnf"
    fi

    for ((attempt = 1; attempt <= REPOKIT_MDB_START_ATTEMPTS; attempt++)); do
        port="$(_mdb_pick_ports 1)"
        # More server options, one per line, e.g. the TLS test's certificates.
        _mdb_write_cnf "$dir" "$port" "${REPOKIT_MDB_EXTRA_CNF:-}"
        if ((fresh)) && [[ ! -d "$dir/data/mysql" ]]; then
            _mdb_install_db "$dir"
        fi
        _mdb_log "starting on 127.0.0.1:$port (attempt $attempt)"
        _mdb_launch "$dir"
        if ((fresh)); then
            _mdb_wait_ready "$dir" "$REPOKIT_MDB_START_TIMEOUT" nopw && started=1
        else
            _mdb_wait_ready "$dir" "$REPOKIT_MDB_START_TIMEOUT" && started=1
        fi
        ((started)) && break
        _mdb_kill_node "$dir"
    done
    if ((!started)); then
        _mdb_log "server failed to start; tail of $dir/server.log:"
        tail -n 40 "$dir/server.log" >&2 || true
        exit 1
    fi

    if ((fresh)); then
        rootpw="$(_mdb_gen_password)"
        if ! _mdb_setup_accounts "$dir" "$rootpw" "$password"; then
            _mdb_kill_node "$dir"
            _mdb_die "could not create database $REPOKIT_MDB_DB and user $REPOKIT_MDB_USER"
        fi
    fi
    _mdb_write_env_file "$dir" \
        "REPOKIT_TEST_MYSQL_URL=$(_mdb_url "127.0.0.1:$port" "$password")" \
        "REPOKIT_TEST_MYSQL_DIR=$dir" \
        "REPOKIT_TEST_MYSQL_PORT=$port" \
        "REPOKIT_TEST_MYSQL_SCRIPT=$REPOKIT_MDB_SCRIPT"
    _mdb_log "env written to $dir/env"
    _mdb_url "127.0.0.1:$port" '***'
)

mariadb_server_stop() (
    set -euo pipefail
    REPOKIT_MDB_LOG_TAG=mariadb-server
    local dir
    dir="$(_mdb_abs_dir "${1:-}")"
    if ! _mdb_node_pid "$dir" >/dev/null &&
        ! _mdb_pid_alive "$(head -n 1 "$dir/launch.pid" 2>/dev/null)"; then
        _mdb_log "not running in $dir"
        return 0
    fi
    _mdb_stop_node "$dir"
    _mdb_log "stopped $dir"
)

# Exit status like pg-server.sh: 0 running, 3 stopped, 4 no server.
mariadb_server_status() (
    set -euo pipefail
    local dir
    dir="$(_mdb_abs_dir "${1:-}")"
    if [[ ! -d "$dir/data/mysql" ]]; then
        echo "no server in $dir"
        exit 4
    fi
    if _mdb_node_pid "$dir" >/dev/null; then
        echo "running: $(_mdb_url "127.0.0.1:$(head -n 1 "$dir/port" 2>/dev/null || echo '?')" '***')"
        exit 0
    fi
    echo "stopped: $dir"
    exit 3
)

# --- Galera cluster ----------------------------------------------------------

_galera_node_dir() { printf '%s/node%s\n' "$1" "$2"; }

_galera_check_node_arg() {
    if [[ ! "$1" =~ ^[1-9][0-9]*$ ]] || (($1 > REPOKIT_GALERA_NODES)); then
        _mdb_die "node must be 1..$REPOKIT_GALERA_NODES, got '$1'"
    fi
}

# wsrep_ready and wsrep_local_state_comment of a node, e.g. "ON Synced".
_galera_state() {
    _mdb_sql "$1" "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME SEPARATOR ' ')
        FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME IN ('wsrep_ready', 'wsrep_local_state_comment')" 2>/dev/null
}

_galera_cluster_size() {
    _mdb_sql "$1" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME = 'wsrep_cluster_size'" 2>/dev/null
}

# Wait for a node to reach Synced with wsrep_ready=ON.
_galera_wait_synced() {
    local node="$1" timeout="$2" deadline state=""
    deadline=$((SECONDS + timeout))
    while :; do
        # GROUP_CONCAT sorts by name: local_state_comment, then ready.
        state="$(_galera_state "$node")" || state=""
        [[ "$state" == "Synced ON" ]] && return 0
        if ! _mdb_node_alive "$node"; then
            _mdb_log "node $node exited while joining"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            _mdb_log "node $node not synced after ${timeout}s (state: ${state:-unreachable})"
            return 1
        fi
        sleep 0.2
    done
}

# Writes each node's my.cnf from DIR/ports (one line per node:
# "SQL GCOMM IST SST").
_galera_write_cnfs() {
    local dir="$1" name="$2" i sql gcomm ist sst addr="" node
    local -a lines
    mapfile -t lines <"$dir/ports"
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        read -r _ gcomm _ _ <<<"${lines[i - 1]}"
        addr+="${addr:+,}127.0.0.1:$gcomm"
    done
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        node="$(_galera_node_dir "$dir" "$i")"
        read -r sql gcomm ist sst <<<"${lines[i - 1]}"
        _mdb_write_cnf "$node" "$sql" "$(
            printf '\n[galera]\n'
            printf 'wsrep_on=ON\n'
            printf 'wsrep_provider=%s\n' "$REPOKIT_GALERA_PROVIDER"
            printf 'wsrep_cluster_name=%s\n' "$name"
            printf 'wsrep_cluster_address=gcomm://%s\n' "$addr"
            printf 'wsrep_node_name=node%s\n' "$i"
            printf 'wsrep_node_address=127.0.0.1:%s\n' "$gcomm"
            printf 'wsrep_node_incoming_address=127.0.0.1:%s\n' "$sql"
            printf 'wsrep_sst_method=rsync\n'
            printf 'wsrep_sst_receive_address=127.0.0.1:%s\n' "$sst"
            # Short failure detection so tests that kill a node finish soon.
            printf 'wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:%s;' "$gcomm"
            printf 'ist.recv_addr=127.0.0.1:%s;gcache.size=32M;' "$ist"
            printf 'evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;'
            printf 'evs.install_timeout=PT5S"\n'
            printf 'binlog_format=ROW\n'
            printf 'default_storage_engine=InnoDB\n'
            printf 'innodb_autoinc_lock_mode=2\n'
        )"
    done
}

_galera_urls_env() {
    local dir="$1" password i sql hosts="" node
    local -a kv=()
    password="$(head -n 1 "$dir/password")"
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        node="$(_galera_node_dir "$dir" "$i")"
        sql="$(head -n 1 "$node/port")"
        hosts+="${hosts:+,}127.0.0.1:$sql"
        kv+=("REPOKIT_TEST_GALERA_NODE${i}_URL=$(_mdb_url "127.0.0.1:$sql" "$password")")
    done
    _mdb_write_env_file "$dir" \
        "REPOKIT_TEST_GALERA_URL=$(_mdb_url "$hosts" "$password")" \
        "${kv[@]}" \
        "REPOKIT_TEST_GALERA_DIR=$dir" \
        "REPOKIT_TEST_GALERA_SCRIPT=$REPOKIT_GALERA_SCRIPT"
}

_galera_masked_url() {
    local dir="$1" i hosts=""
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        hosts+="${hosts:+,}127.0.0.1:$(head -n 1 "$(_galera_node_dir "$dir" "$i")/port" \
            2>/dev/null || echo '?')"
    done
    _mdb_url "$hosts" '***'
}

_galera_running_count() {
    local dir="$1" i n=0
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        if _mdb_node_pid "$(_galera_node_dir "$dir" "$i")" >/dev/null; then
            n=$((n + 1))
        fi
    done
    printf '%s\n' "$n"
}

# Stop every node, last started first; dead nodes are skipped.
_galera_stop_all() {
    local dir="$1" i
    for ((i = REPOKIT_GALERA_NODES; i >= 1; i--)); do
        _mdb_stop_node "$(_galera_node_dir "$dir" "$i")"
    done
}

# Start node I of an existing cluster and wait until it is Synced.
_galera_join_node() {
    local dir="$1" i="$2" node t0
    node="$(_galera_node_dir "$dir" "$i")"
    _mdb_mkdir_owned "$node"
    _mdb_mkdir_owned "$node/data"
    t0=$SECONDS
    _mdb_log "starting node $i on 127.0.0.1:$(head -n 1 "$node/port") (joins by state transfer)"
    _mdb_launch "$node"
    _galera_wait_synced "$node" "$REPOKIT_GALERA_JOIN_TIMEOUT" || return 1
    _mdb_log "node $i synced in $((SECONDS - t0))s"
}

# One attempt at a fresh cluster with new ports; returns 1 on failure with
# everything stopped.
_galera_try_start() {
    local dir="$1" password="$2" rootpw="$3" name="$4" node1 i
    local -a ports
    # Called in a condition, so errexit is off here: check every step.
    mapfile -t ports < <(_mdb_pick_ports $((4 * REPOKIT_GALERA_NODES)))
    ((${#ports[@]} == 4 * REPOKIT_GALERA_NODES)) || return 1
    : >"$dir/ports"
    for ((i = 0; i < REPOKIT_GALERA_NODES; i++)); do
        echo "${ports[@]:4*i:4}" >>"$dir/ports"
    done
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        _mdb_mkdir_owned "$(_galera_node_dir "$dir" "$i")"
    done
    _galera_write_cnfs "$dir" "$name"

    node1="$(_galera_node_dir "$dir" 1)"
    local fresh=0
    if ! _mdb_node_initialized "$node1"; then
        fresh=1
        for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
            rm -rf -- "$(_galera_node_dir "$dir" "$i")/data"
            rm -f -- "$(_galera_node_dir "$dir" "$i")/client.cnf"
        done
        _mdb_install_db "$node1"
    else
        # Restart of a stopped cluster: node 1 bootstraps from its own data.
        sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$node1/data/grastate.dat" \
            2>/dev/null || true
    fi
    _mdb_log "bootstrapping node 1 on 127.0.0.1:$(head -n 1 "$node1/port")"
    _mdb_launch "$node1" --wsrep-new-cluster
    if ((fresh)); then
        _mdb_wait_ready "$node1" "$REPOKIT_MDB_START_TIMEOUT" nopw || return 1
        # Accounts exist before any joiner, so SST copies them.
        _mdb_setup_accounts "$node1" "$rootpw" "$password" || return 1
    fi
    _galera_wait_synced "$node1" "$REPOKIT_MDB_START_TIMEOUT" || return 1
    # Joiners share node 1's root password through the copied mysql schema.
    for ((i = 2; i <= REPOKIT_GALERA_NODES; i++)); do
        cp -p "$node1/client.cnf" "$(_galera_node_dir "$dir" "$i")/client.cnf"
        sed -i "s|^socket=.*|socket=$(_galera_node_dir "$dir" "$i")/sock|" \
            "$(_galera_node_dir "$dir" "$i")/client.cnf"
        _galera_join_node "$dir" "$i" || return 1
    done
    local size
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        size="$(_galera_cluster_size "$(_galera_node_dir "$dir" "$i")")" || size=""
        if [[ "$size" != "$REPOKIT_GALERA_NODES" ]]; then
            _mdb_log "node $i: wsrep_cluster_size is '$size', expected $REPOKIT_GALERA_NODES"
            return 1
        fi
    done
}

galera_cluster_start() (
    set -euo pipefail
    REPOKIT_MDB_LOG_TAG=galera-cluster
    local dir node_arg="${2:-}" password rootpw name running attempt t0 i started=0
    dir="$(_mdb_abs_dir "${1:-}")"
    _mdb_check_socket_len "$dir/node$REPOKIT_GALERA_NODES"

    if [[ -n "$node_arg" ]]; then
        # One node back into a running cluster, e.g. after `kill`.
        _galera_check_node_arg "$node_arg"
        [[ -f "$dir/ports" ]] || _mdb_die "no cluster in $dir (start it first)"
        if _mdb_node_pid "$(_galera_node_dir "$dir" "$node_arg")" >/dev/null; then
            _mdb_log "node $node_arg already running"
            return 0
        fi
        (($(_galera_running_count "$dir") > 0)) ||
            _mdb_die "no node of $dir is running; start the whole cluster"
        if ! _galera_join_node "$dir" "$node_arg"; then
            tail -n 40 "$(_galera_node_dir "$dir" "$node_arg")/server.log" >&2 || true
            _mdb_stop_node "$(_galera_node_dir "$dir" "$node_arg")"
            _mdb_die "node $node_arg failed to rejoin"
        fi
        return 0
    fi

    running="$(_galera_running_count "$dir")"
    if ((running == REPOKIT_GALERA_NODES)); then
        _mdb_log "already running in $dir"
        [[ -f "$dir/env" ]] || _mdb_die "running cluster in $dir has no env file"
        _galera_masked_url "$dir"
        return 0
    elif ((running > 0)); then
        _mdb_die "only $running node(s) running in $dir; start single nodes or stop first"
    fi

    _mdb_prepare_dir "$dir"
    password="$(_mdb_password "$dir")"
    rootpw="$(_mdb_gen_password)"
    # A unique name keeps this cluster from ever merging with another one.
    name="repokit-$(_mdb_gen_password | head -c 8)"
    t0=$SECONDS
    # Retries are for port races; each attempt can take a while.
    for ((attempt = 1; attempt <= 2; attempt++)); do
        _mdb_log "starting 3-node cluster (attempt $attempt)"
        if _galera_try_start "$dir" "$password" "$rootpw" "$name"; then
            started=1
            break
        fi
        for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
            [[ -s "$(_galera_node_dir "$dir" "$i")/server.log" ]] || continue
            _mdb_log "tail of node $i server.log:"
            tail -n 15 "$(_galera_node_dir "$dir" "$i")/server.log" >&2 || true
        done
        # A half-made fresh cluster is rebuilt from nothing on the next try.
        _galera_stop_all "$dir"
    done
    ((started)) || _mdb_die "cluster failed to start"
    _galera_urls_env "$dir"
    _mdb_log "cluster of $REPOKIT_GALERA_NODES up in $((SECONDS - t0))s; env written to $dir/env"
    _galera_masked_url "$dir"
)

galera_cluster_stop() (
    set -euo pipefail
    REPOKIT_MDB_LOG_TAG=galera-cluster
    local dir node_arg="${2:-}"
    dir="$(_mdb_abs_dir "${1:-}")"
    if [[ -n "$node_arg" ]]; then
        _galera_check_node_arg "$node_arg"
        _mdb_stop_node "$(_galera_node_dir "$dir" "$node_arg")"
        _mdb_log "stopped node $node_arg"
        return 0
    fi
    if [[ ! -f "$dir/ports" ]]; then
        _mdb_log "no cluster in $dir"
        return 0
    fi
    _galera_stop_all "$dir"
    _mdb_log "stopped $dir"
)

galera_cluster_kill() (
    set -euo pipefail
    REPOKIT_MDB_LOG_TAG=galera-cluster
    local dir node_arg="${2:-}"
    dir="$(_mdb_abs_dir "${1:-}")"
    [[ -n "$node_arg" ]] || _mdb_die "kill needs a node number"
    _galera_check_node_arg "$node_arg"
    _mdb_kill_node "$(_galera_node_dir "$dir" "$node_arg")"
    _mdb_log "killed node $node_arg"
)

# Exit status: 0 all nodes running, 3 some or none running, 4 no cluster.
# With NODE: 0 when that node runs, 3 when not.
galera_cluster_status() (
    set -euo pipefail
    local dir node_arg="${2:-}" i node running=0 state size
    dir="$(_mdb_abs_dir "${1:-}")"
    if [[ ! -f "$dir/ports" ]]; then
        echo "no cluster in $dir"
        exit 4
    fi
    for ((i = 1; i <= REPOKIT_GALERA_NODES; i++)); do
        [[ -z "$node_arg" || "$node_arg" == "$i" ]] || continue
        node="$(_galera_node_dir "$dir" "$i")"
        if _mdb_node_pid "$node" >/dev/null; then
            running=$((running + 1))
            state="$(_galera_state "$node")" || state="unreachable"
            size="$(_galera_cluster_size "$node")" || size="?"
            echo "node $i: running on 127.0.0.1:$(head -n 1 "$node/port") ($state, cluster size $size)"
        else
            echo "node $i: stopped"
        fi
    done
    if [[ -n "$node_arg" ]]; then
        ((running == 1)) && exit 0
        exit 3
    fi
    ((running == REPOKIT_GALERA_NODES)) && exit 0
    exit 3
)
