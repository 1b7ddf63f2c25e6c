#!/usr/bin/env bash
# Builds the client-go leader-election peer (bench/main.go) once per source version, then runs it with
# the given arguments. `clientgo.sh --print-path` only builds and prints the binary's path.
#
# Like testenv/testenv.sh: the binary is cached in $SOLO_TESTENV_CACHE (default ~/.cache/solo-testenv)
# under a hash of the sources, and Go's module and build caches (the same GOMODCACHE and GOCACHE as
# testenv's) are kept between runs, so only the first build is slow.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SOLO_TESTENV_CACHE:-$HOME/.cache/solo-testenv}
mkdir -p "$cache"

command -v go >/dev/null || { echo "clientgo-bench: Go is needed to build the client-go peer (install Go 1.25 or newer)" >&2; exit 1; }
hash=$(cd "$here" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)
bin="$cache/clientgo-bench-$hash"

if [ ! -x "$bin" ]; then
  echo "clientgo-bench: building the client-go peer (the first build takes a minute or two, later ones are cached)" >&2
  start=$(date +%s)
  (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .) || { echo "clientgo-bench: build failed" >&2; exit 1; }
  mv "$bin.tmp" "$bin"
  echo "clientgo-bench: built $bin in $(( $(date +%s) - start ))s" >&2
fi

if [ "${1:-}" = "--print-path" ]; then
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
