#!/usr/bin/env bash
# Runs every benchmark against real local clusters and writes BENCHMARKS.md (figures, machine, date).
set -euo pipefail
cd "$(dirname "$0")/.."

launcher=$(bash testenv/testenv.sh --print-path)
export SOLO_TESTENV_BIN=$launcher
export SOLO_TESTENV_DIR=$PWD/target/testenv-bench
"$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null
trap '"$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null || true' EXIT
"$launcher" up --dir "$SOLO_TESTENV_DIR" --clusters 3

out=$(mktemp)
run() { echo "== $*" >&2; "$@" 2>/dev/null | grep -vE '^\s*$' | tee -a "$out"; }
cargo build --release --benches -p solo-core -p solo-kube
{
  echo '```'
} >"$out"
run cargo bench -q -p solo-core --bench state_parse
run cargo bench -q -p solo-kube --bench lock
echo '```' >>"$out"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` on $(date -u +%Y-%m-%d) at $(date -u +%H:%MZ)."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB;"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Clusters: 3 local kube-apiservers $(awk '$1 == "k8s.io/kubernetes" { print $2 }' testenv/go.mod) (testenv/), one embedded etcd with fsync."
  echo
  cat "$out"
} >BENCHMARKS.md
rm -f "$out"
echo "wrote BENCHMARKS.md"
