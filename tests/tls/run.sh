#!/usr/bin/env bash
# TLS against real servers. Makes a CA, a second CA, a server certificate (127.0.0.1 and
# localhost) and a client certificate (CN repokit_cert) with openssl; starts PostgreSQL and MariaDB
# with TLS on free ports under a temp dir, each with an account that must show the client
# certificate; runs the TLS test program; stops both servers and removes everything.
#   run.sh TEST_PROGRAM [Catch2 arguments...]
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd -P)"
SCRIPTS="$ROOT/scripts"
(($# >= 1)) || {
    echo "usage: $(basename "$0") TEST_PROGRAM [Catch2 arguments...]" >&2
    exit 2
}
program="$1"
shift

WORK="$(mktemp -d)"
# The servers run as users postgres and mysql, which must enter this dir.
chmod 755 "$WORK"
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    "$SCRIPTS/mariadb-server.sh" stop "$WORK/mariadb" >/dev/null 2>&1 || true
    "$SCRIPTS/pg-server.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
    return "$rc"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

CERTS="$WORK/certs"
mkdir -p "$CERTS"
chmod 755 "$CERTS"
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# A self-signed CA: NAME.key and NAME.crt.
make_ca() {
    new_key "$CERTS/$1.key"
    openssl req -x509 -new -key "$CERTS/$1.key" -subj "/CN=$2" -days 2 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -out "$CERTS/$1.crt"
}
# A certificate signed by the test CA: NAME.key and NAME.crt, with EXTENSIONS.
make_signed() {
    local name="$1" subject="$2" extensions="$3"
    new_key "$CERTS/$name.key"
    openssl req -new -key "$CERTS/$name.key" -subj "/CN=$subject" -out "$CERTS/$name.csr"
    openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
        -CAcreateserial -days 2 -extfile <(printf '%s\n' "$extensions") \
        -out "$CERTS/$name.crt" 2>/dev/null
}
make_ca ca "repokit test CA"
make_ca other-ca "another CA"
make_signed server 127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost"
make_signed client repokit_cert "extendedKeyUsage=clientAuth"
chmod 644 "$CERTS"/*.crt
chmod 600 "$CERTS"/*.key

# Each server reads its own copy of the server key, owned by the user it runs as.
server_key() {
    local user="$1" copy="$WORK/$1-server.key"
    install -m 600 "$CERTS/server.key" "$copy"
    if ((EUID == 0)); then chown "$user:" "$copy"; fi
    printf '%s\n' "$copy"
}

REPOKIT_PG_EXTRA_OPTS="-c ssl=on -c ssl_cert_file=$CERTS/server.crt"
REPOKIT_PG_EXTRA_OPTS+=" -c ssl_key_file=$(server_key postgres) -c ssl_ca_file=$CERTS/ca.crt"
export REPOKIT_PG_EXTRA_OPTS
"$SCRIPTS/pg-server.sh" start "$WORK/pg" >/dev/null
# shellcheck disable=SC1091
. "$WORK/pg/env"
# repokit_cert logs in with its certificate only: the first line of pg_hba.conf says so.
hba="$WORK/pg/data/pg_hba.conf"
{
    echo "hostssl all repokit_cert 127.0.0.1/32 cert"
    cat "$hba"
} >"$WORK/pg_hba.conf"
cat "$WORK/pg_hba.conf" >"$hba"  # keeps the file's owner
psql -X -q -v ON_ERROR_STOP=1 "$REPOKIT_TEST_POSTGRES_URL" \
    -c "CREATE ROLE repokit_cert LOGIN" -c "SELECT pg_reload_conf()" >/dev/null

REPOKIT_MDB_EXTRA_CNF="ssl_ca=$CERTS/ca.crt"$'\n'"ssl_cert=$CERTS/server.crt"
REPOKIT_MDB_EXTRA_CNF+=$'\n'"ssl_key=$(server_key mysql)"
export REPOKIT_MDB_EXTRA_CNF
"$SCRIPTS/mariadb-server.sh" start "$WORK/mariadb" >/dev/null
# shellcheck disable=SC1091
. "$WORK/mariadb/env"
mariadb --defaults-file="$WORK/mariadb/client.cnf" -e "
    CREATE USER 'repokit_cert'@'%' REQUIRE X509;
    GRANT ALL ON repokit_test.* TO 'repokit_cert'@'%';"

pg_port="$(head -n 1 "$WORK/pg/port")"
mariadb_port="$(head -n 1 "$WORK/mariadb/port")"
export REPOKIT_TLS_CERTS="$CERTS"
export REPOKIT_TLS_POSTGRES_CERT_URL="postgresql://repokit_cert@127.0.0.1:$pg_port/repokit_test"
export REPOKIT_TLS_MYSQL_CERT_URL="mysql://repokit_cert@127.0.0.1:$mariadb_port/repokit_test"
"$program" "$@"
