#!/usr/bin/env bash
# Build repokit and run the quickstart example in the current directory.
#   demo.sh [quickstart args...]
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$BUILD_DIR"

quickstart="$BUILD_DIR/examples/quickstart"
if [[ ! -x "$quickstart" ]]; then
    echo "demo.sh: $quickstart not found (was the example built?)" >&2
    exit 1
fi
exec "$quickstart" "$@"
