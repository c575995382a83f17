#!/usr/bin/env bash
# Install the system packages repokit needs on Debian bookworm. Safe to run
# repeatedly: does nothing when all packages are present.
#   install-deps.sh          everything: build, tests, servers, sanitizers (scripts/test.sh)
#   install-deps.sh --demo   only what the library and the repokit command need (scripts/demo.sh)
set -euo pipefail

# What the library and the repokit command build with: a compiler, CMake, SOCI with the
# client libraries of its three backends, Boost (Outcome), spdlog, and nlohmann-json for the
# command's JSON output.
DEMO_PACKAGES=(
    g++
    make
    cmake
    libsoci-dev
    libsqlite3-dev
    libpq-dev
    libmariadb-dev
    libboost-dev
    libspdlog-dev
    nlohmann-json3-dev
)
# Everything else the tests, benchmarks and tooling need; append new ones here.
PACKAGES=(
    "${DEMO_PACKAGES[@]}"
    build-essential
    git
    pkg-config
    ca-certificates
    openssl         # certificates for the TLS tests
    catch2
    libtrompeloeil-cpp-dev
    libbenchmark-dev
    prometheus-cpp-dev  # the optional repokit::prometheus component and its scrape test
    postgresql      # server binaries, tests start throwaway clusters
    sqlite3         # CLI, handy for inspecting test databases
    mariadb-server  # server binaries, tests start throwaway servers
    mariadb-client  # mariadb, mariadb-admin for the server scripts
    galera-4        # wsrep provider for the 3-node test cluster
    rsync           # Galera state transfer (wsrep_sst_method=rsync)
    gnuplot-nox     # benchmark plots
    clang-16        # sanitizer and libFuzzer builds (the tests use C++20 that clang 14 lacks)
    libclang-rt-16-dev  # its sanitizer and fuzzer runtimes
    llvm-16         # llvm-symbolizer: sanitizer reports with function names and lines
    clang-format-16 # the format check (scripts/check-format.sh)
    procps
    iproute2
)

# How long apt may wait for another apt/dpkg process to release its locks.
LOCK_TIMEOUT="${REPOKIT_APT_LOCK_TIMEOUT:-600}"

log() { printf 'install-deps: %s\n' "$*" >&2; }

if [[ "${1:-}" == --demo ]]; then
    PACKAGES=("${DEMO_PACKAGES[@]}")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if ((EUID != 0)); then
    # The one line to run, nothing else: it can be copied as it stands.
    echo "sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o "DPkg::Lock::Timeout=${LOCK_TIMEOUT}")

# Retry until the deadline: the lists lock may be held by a concurrent
# apt run, and mirrors occasionally fail transiently.
retry_until_deadline() {
    local deadline=$((SECONDS + LOCK_TIMEOUT)) delay=5
    until "$@"; do
        if ((SECONDS >= deadline)); then
            log "giving up on: $*"
            return 1
        fi
        log "retrying in ${delay}s: $*"
        sleep "$delay"
    done
}

retry_until_deadline apt-get "${apt_opts[@]}" update

# Server packages (postgresql, mariadb-server) would start a system service
# on the default port; tests start their own, so forbid service starts for
# this install. Only our own policy file is removed afterwards.
POLICY_RC=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY_RC" ]]; then
    printf '#!/bin/sh\n# Temporary, from repokit install-deps.sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    trap 'rm -f "$POLICY_RC"' EXIT
fi

install_cmd=(apt-get "${apt_opts[@]}" install -y --no-upgrade --no-install-recommends "${missing[@]}")
if ! "${install_cmd[@]}"; then
    # An earlier interrupted dpkg run blocks every install until configured.
    log "install failed; repairing dpkg state and retrying once"
    dpkg --configure -a || true
    "${install_cmd[@]}"
fi
log "done"
