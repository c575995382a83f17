#!/usr/bin/env bash
# Configure and build repokit.
#   build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to $BUILD_DIR or <repo>/build; more cmake arguments can
# come from $REPOKIT_CMAKE_ARGS (space separated).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"

build_dir="${BUILD_DIR:-$ROOT/build}"
if (($# > 0)); then
    build_dir="$1"
    shift
fi

extra=()
if [[ -n "${REPOKIT_CMAKE_ARGS:-}" ]]; then
    read -r -a extra <<<"$REPOKIT_CMAKE_ARGS"
fi

cmake -S "$ROOT" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    -DREPOKIT_WARNINGS_AS_ERRORS=ON \
    "${extra[@]}" "$@"
cmake --build "$build_dir" -j "${REPOKIT_BUILD_JOBS:-2}"
