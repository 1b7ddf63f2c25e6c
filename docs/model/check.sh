#!/usr/bin/env bash
# Checks the lock model (docs/model/lock.pml: 3 contenders, 2 Leases, one crash or pause) with spin,
# exhaustively: mutual exclusion, fencing, FIFO and epochs (assertions), no deadlock (invalid end
# states), then no livelock under weak fairness (non-progress cycles). Then each sabotaged rule of
# the model must FAIL, or the check fails. Installs spin (Debian package `spin`) when it is missing.
# About 3 minutes and 2.6 GB on 2 busy cores (docs/model/README.md has the state counts).
#
# Usage: docs/model/check.sh [--quick|--cached]
#   --quick   the sabotages only (under a minute);
#   --cached  skip when this very model and script were already checked green here (make test: the
#             full check runs once per change of docs/model/, e.g. on CI's fresh checkout).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
quick=${1:-}
stamp=$here/../../target/model-checked-$(cat "$here/lock.pml" "$here/check.sh" | sha256sum | cut -c1-16)
if [ "$quick" = --cached ] && [ -e "$stamp" ]; then
  echo "model: unchanged since its last green check ($(basename "$stamp")); skipped"
  exit 0
fi

if ! command -v spin >/dev/null; then
  echo "model: installing spin (apt-get install spin)" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq spin >/dev/null ||
    { echo "model: could not install spin; install the Debian package spin and run again" >&2; exit 1; }
fi
command -v gcc >/dev/null || { echo "model: gcc is needed to compile spin's verifier" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/lock.pml" "$work"
cd "$work"

# verifier NAME DEFINES...: a verifier compiled from the model with extra -D flags.
verifier() {
  local name=$1; shift
  mkdir -p "$name" && (cd "$name" && spin -a "$@" ../lock.pml >/dev/null)
}
# summary OUT: the lines that matter of a verifier's output.
summary() { grep -E "errors:|states, stored|elapsed time|assertion violated|invalid end state|non-progress" "$1" | sed 's/^/  /'; }
errors() { sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1"; }

status=0
if [ "$quick" != --quick ]; then
  echo "model: safety (mutual exclusion, fencing, FIFO, epochs, no deadlock), exhaustive"
  verifier safety
  (cd safety && gcc -O2 -DSAFETY -DCOLLAPSE -w -o pan pan.c && ./pan -m2000000 >out 2>&1) || true
  summary safety/out
  [ "$(errors safety/out)" = 0 ] || { echo "model: FAILED: safety"; status=1; }

  # With 3 contenders and a crash the liveness search does not fit a few minutes; it runs with 3
  # contenders and no crash, and with 2 contenders and one crash.
  for config in "3 0" "2 1"; do
    read -r n crashes <<<"$config"
    echo "model: liveness (no livelock under weak fairness), $n contenders, $crashes crash, exhaustive"
    verifier "liveness-$n" -DN="$n" -DMAXCRASH="$crashes"
    (cd "liveness-$n" && gcc -O2 -DNP -DCOLLAPSE -w -o pan pan.c && ./pan -l -f -m2000000 >out 2>&1) || true
    summary "liveness-$n/out"
    [ "$(errors "liveness-$n/out")" = 0 ] || { echo "model: FAILED: liveness, $n contenders"; status=1; }
  done
fi

# Each sabotage breaks one rule; the checker must find the error (and stops at the first one).
for sabotage in SABOTAGE_LATE_WATCH SABOTAGE_HOLDER_ONLY SABOTAGE_NO_STAMP; do
  echo "model: $sabotage must fail"
  verifier "$sabotage" -D"$sabotage"
  (cd "$sabotage" && gcc -O2 -DSAFETY -DCOLLAPSE -w -o pan pan.c && ./pan -m2000000 >out 2>&1) || true
  summary "$sabotage/out"
  caught=$(errors "$sabotage/out")
  [ "${caught:-0}" -ge 1 ] || { echo "model: FAILED: $sabotage was not caught"; status=1; }
done
if [ "$status" = 0 ]; then
  echo "model: ok"
  if [ "$quick" != --quick ]; then mkdir -p "$(dirname "$stamp")" && touch "$stamp"; fi
else
  echo "model: FAILED"
fi
exit "$status"
