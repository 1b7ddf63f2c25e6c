#!/usr/bin/env bash
# Builds the testenv launcher (real kube-apiserver + embedded etcd, from upstream Go modules) once per
# source version, then runs it with the given arguments. `testenv.sh --print-path` only builds and prints
# the binary's path.
#
# The binary is cached in $SOLO_TESTENV_CACHE (default ~/.cache/solo-testenv) under a hash of the
# sources, and Go keeps its module and build caches (GOMODCACHE, GOCACHE) between runs, so only the first
# build is slow (several minutes on 2 cores); later runs start at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SOLO_TESTENV_CACHE:-$HOME/.cache/solo-testenv}
mkdir -p "$cache"

command -v go >/dev/null || { echo "testenv: Go is needed to build kube-apiserver (install Go 1.25 or newer)" >&2; exit 1; }
hash=$(cd "$here" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)
bin="$cache/testenv-$hash"

# The build runs in a subshell that changes into testenv/, so that the launcher always runs in the
# caller's directory and a relative --dir means the same whether or not the binary was cached.
if [ ! -x "$bin" ]; then (
  k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")
  minor=$(echo "$k8s" | cut -d. -f2)
  ldflags="-s -w"
  for kv in "gitVersion=$k8s" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
            "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    ldflags="$ldflags -X k8s.io/component-base/version.$kv"
  done
  cd "$here"
  total=$(go list -deps . 2>/dev/null | wc -l)
  echo "testenv: building kube-apiserver $k8s and etcd from Go modules ($total packages; the first build takes several minutes, later ones are cached)" >&2
  start=$(date +%s)
  # go build -v names each package as it compiles it: turn that into a progress line.
  go build -v -trimpath -ldflags "$ldflags" -o "$bin.tmp" . 2>&1 | awk -v total="$total" '
    /^#|error|cannot|undefined/ { print > "/dev/stderr"; fflush(); next }
    { n++; if (n % 100 == 0) { printf "testenv: compiled %d of at most %d packages\n", n, total > "/dev/stderr"; fflush() } }'
  [ "${PIPESTATUS[0]}" -eq 0 ] && [ -x "$bin.tmp" ] || { echo "testenv: build failed" >&2; exit 1; }
  mv "$bin.tmp" "$bin"
  echo "testenv: built $bin in $(( $(date +%s) - start ))s" >&2
) fi

if [ "${1:-}" = "--print-path" ]; then
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
