#!/usr/bin/env bash
# Proves that a newcomer's first run puts the sandbox where the Makefile says: with an empty launcher
# cache (Go's own caches may be warm), `testenv.sh up --dir .sandbox` run from a directory writes
# that directory's .sandbox/kubeconfig, exactly as a run with a cached launcher does.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
cache=$tmp/cache
work=$tmp/clone
mkdir -p "$cache" "$work"
cleanup() {
  bin=$(ls "$cache"/testenv-* 2>/dev/null | head -n1 || true)
  if [ -n "$bin" ]; then
    (cd "$work" && "$bin" down --dir .sandbox >/dev/null 2>&1) || true
    # Where the bug put it: stop that too, so a failing run leaves nothing behind.
    [ -e "$repo/testenv/.sandbox" ] && { "$bin" down --dir "$repo/testenv/.sandbox" >/dev/null 2>&1 || true; }
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$(date +%s)
(cd "$work" && SOLO_TESTENV_CACHE=$cache bash "$repo/testenv/testenv.sh" up --dir .sandbox --clusters 1) \
  || fail "testenv.sh up with an empty launcher cache exited non-zero"
echo "testenv first run (empty launcher cache): $(( $(date +%s) - start ))s"

[ -n "$(ls "$cache"/testenv-* 2>/dev/null)" ] || fail "the launcher was not built into the empty cache $cache"
[ -f "$work/.sandbox/kubeconfig" ] || fail "no kubeconfig at the caller's .sandbox/kubeconfig"
[ ! -e "$repo/testenv/.sandbox" ] || fail "the sandbox landed in testenv/.sandbox instead of the caller's directory"
kubectl --kubeconfig "$work/.sandbox/kubeconfig" --context cluster-1 get namespace default >/dev/null \
  || fail "context cluster-1 of .sandbox/kubeconfig does not answer"

# The second run, now with the launcher cached, must address the same directory.
(cd "$work" && SOLO_TESTENV_CACHE=$cache bash "$repo/testenv/testenv.sh" status --dir .sandbox >/dev/null) \
  || fail "testenv.sh status with a cached launcher does not find the sandbox of the first run"
echo "testenv first run: the sandbox is where the caller asked, cached or not"
