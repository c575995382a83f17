#!/usr/bin/env bash
# Runs a test that needs root's powers: tmpfs mounts (a read-only or a full disk) and, with
# --chattr, an immutable file (chattr +i).
#   requires_root.sh [--chattr] -- COMMAND...
# Where those powers are missing (not root; root in a container that may not mount) the test
# cannot run: exit 77, which ctest reports as skipped (SKIP_RETURN_CODE 77), never as passed.
# CI runs as root and sets REPOKIT_TEST_REQUIRE_ROOT=1: there a missing power fails the test.
set -euo pipefail
need_chattr=0
while (($# > 0)); do
  case "$1" in
    --chattr) need_chattr=1; shift ;;
    --) shift; break ;;
    *) echo "usage: requires_root.sh [--chattr] -- COMMAND..." >&2; exit 2 ;;
  esac
done
(($# > 0)) || { echo "usage: requires_root.sh [--chattr] -- COMMAND..." >&2; exit 2; }

cannot_run() {
  if [[ "${REPOKIT_TEST_REQUIRE_ROOT:-0}" == 1 ]]; then
    echo "FAILED: $* (REPOKIT_TEST_REQUIRE_ROOT=1: this test must run here)" >&2
    exit 1
  fi
  echo "SKIPPED: $*" >&2
  exit 77
}

((EUID == 0)) || cannot_run "needs root (tmpfs mounts, chattr +i)"
# The probe lives where the tests make their scratch directories.
probe="$(mktemp -d "${REPOKIT_TEST_TMPDIR:-${TMPDIR:-/tmp}}/repokit-root-probe.XXXXXX")"
mounted=0
release() {
  ((mounted == 0)) || umount -l "$probe/mnt" 2>/dev/null || true
  [[ ! -e "$probe/file" ]] || chattr -i "$probe/file" 2>/dev/null || true
  rm -rf -- "$probe"
}
trap release EXIT
mkdir "$probe/mnt"
mount -t tmpfs -o size=64k tmpfs "$probe/mnt" 2>/dev/null || cannot_run "mount -t tmpfs is refused here"
mounted=1
if ((need_chattr)); then
  touch "$probe/file"
  chattr +i "$probe/file" 2>/dev/null ||
    cannot_run "chattr +i is not supported on the file system of $(dirname "$probe")"
fi
release
trap - EXIT
exec "$@"
