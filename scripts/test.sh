#!/usr/bin/env bash
# Runs every test of the workspace against real clusters: starts 3 kube-apiservers (testenv/) for the
# run, names them in SOLO_TESTENV_DIR, and stops them afterwards whatever happens. Fails (never skips)
# when the clusters cannot start. Then checks the lock model with spin (`make model`: 4 to 9 minutes on 2 cores,
# skipped when docs/model/ is unchanged since its last green check on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-tools.sh

launcher=$(bash testenv/testenv.sh --print-path)
export SOLO_TESTENV_BIN=$launcher
export SOLO_TESTENV_DIR=$PWD/target/testenv-run
mkdir -p target
"$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null
trap '"$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null || true; rm -rf target/testenv-private' EXIT
"$launcher" up --dir "$SOLO_TESTENV_DIR" --clusters 3

echo "== testenv first run with an empty launcher cache"
bash scripts/test_testenv_first_run.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo test"
cargo test --workspace --locked
echo "== make model"
bash docs/model/check.sh --cached
