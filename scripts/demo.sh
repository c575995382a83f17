#!/usr/bin/env bash
# Build the library and the repokit command (nothing else: no tests, no benchmarks) and run
# the demo on the embedded SQLite default, in the current directory.
#   demo.sh [repokit demo options...], e.g. demo.sh --chaos 0.05
# The build goes to $BUILD_DIR, default <repo>/build-demo; REPOKIT_BUILD_JOBS sets its
# parallelism (default: the number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-demo}"

"$ROOT/scripts/install-deps.sh" --demo

# Warnings stay warnings here: a newer compiler's new warning must not stop a demo. CI builds
# with REPOKIT_WARNINGS_AS_ERRORS=ON (scripts/build.sh).
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DREPOKIT_BUILD_TESTS=OFF -DREPOKIT_BUILD_EXAMPLES=OFF -DREPOKIT_BUILD_BENCHMARKS=OFF \
    -DREPOKIT_BUILD_FUZZERS=OFF -DREPOKIT_BUILD_TOOLS=ON -DREPOKIT_WARNINGS_AS_ERRORS=OFF \
    -DREPOKIT_PROMETHEUS=OFF \
    "${launcher[@]}" >/dev/null
cmake --build "$BUILD_DIR" --target repokit_cli -j "${REPOKIT_BUILD_JOBS:-$(nproc)}"

repokit="$BUILD_DIR/tools/cli/repokit"
if [[ ! -x "$repokit" ]]; then
    echo "demo.sh: $repokit not found (was the build complete?)" >&2
    exit 1
fi
exec "$repokit" demo "$@"
