#!/usr/bin/env bash
# Build repokit and run its demo on the embedded SQLite default, in the current directory.
#   demo.sh [repokit demo options...], e.g. demo.sh --chaos 0.05
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$BUILD_DIR"

repokit="$BUILD_DIR/tools/cli/repokit"
if [[ ! -x "$repokit" ]]; then
    echo "demo.sh: $repokit not found (was the build complete?)" >&2
    exit 1
fi
exec "$repokit" demo "$@"
