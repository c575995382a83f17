#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds the consumer project against it
# (find_package), or builds the consumer with repokit's source tree added as a subdirectory.
#   package_test.sh find_package|add_subdirectory SOURCE_DIR BUILD_DIR
set -euo pipefail
mode="$1"
source_dir="$2"
build_dir="$3"
work="$(mktemp -d "${REPOKIT_TEST_TMPDIR:-/tmp}/repokit-package.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

args=(-DREPOKIT_CONSUME="$mode" -DCMAKE_BUILD_TYPE=Release)
if [[ "$mode" == find_package ]]; then
  cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
  [[ -x "$work/prefix/bin/repokit" ]] || { echo "the repokit command was not installed" >&2; exit 1; }
  "$work/prefix/bin/repokit" --version
  args+=(-DCMAKE_PREFIX_PATH="$work/prefix")
else
  args+=(-DREPOKIT_SOURCE_DIR="$source_dir")
fi
cmake -S "$source_dir/tests/packaging/consumer" -B "$work/build" "${args[@]}" > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2 > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; exit 1; }
"$work/build/consumer"
