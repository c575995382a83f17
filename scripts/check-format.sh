#!/usr/bin/env bash
# Fails, listing the files, when a C++ source of the repository is not formatted as
# .clang-format says. `scripts/check-format.sh --fix` formats them instead.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
cd "$ROOT"
# One version for everyone: another clang-format may break the same lines differently.
FORMAT="${REPOKIT_CLANG_FORMAT:-clang-format-16}"
command -v "$FORMAT" >/dev/null ||
  { echo "check-format: $FORMAT not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp')
else  # an unpacked source archive: every source outside the build trees
  mapfile -t sources < <(find . -path './build*' -prune -o -type f \( -name '*.cpp' -o -name '*.hpp' \) -print | sort)
fi
if [[ "${1:-}" == --fix ]]; then
  "$FORMAT" -i "${sources[@]}"
  exit 0
fi
unformatted=()
for file in "${sources[@]}"; do
  "$FORMAT" --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done
if ((${#unformatted[@]} > 0)); then
  echo "check-format: ${#unformatted[@]} file(s) differ from .clang-format:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "check-format: run scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#sources[@]} files formatted"
