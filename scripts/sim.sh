#!/usr/bin/env bash
# Runs the lock's deterministic simulation far beyond `make test`'s range (10,000 schedules from seed 0,
# and 5,000 over slow links): by default 200,000 schedules and 50,000 over slow links, from a first
# seed that changes every day, so that a daily job covers new schedules each time. Its three bugs so
# far showed only beyond the usual range (docs/model/README.md). A failure prints the command that
# replays its schedule; add the seed to `schedules_that_once_failed_keep_every_rule` with the fix.
#   SOLO_SIM_FIRST_SEED=N    start there instead (a failing day's range, again)
#   SOLO_SIM_SCHEDULES=N     schedules of the usual test
#   SOLO_SIM_SLOW_SCHEDULES=N  schedules over slow links
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-tools.sh

export SOLO_SIM_FIRST_SEED=${SOLO_SIM_FIRST_SEED:-$(( $(date -u +%s) / 86400 * 1000000 ))}
export SOLO_SIM_SCHEDULES=${SOLO_SIM_SCHEDULES:-200000}
export SOLO_SIM_SLOW_SCHEDULES=${SOLO_SIM_SLOW_SCHEDULES:-50000}
echo "sim: $SOLO_SIM_SCHEDULES schedules and $SOLO_SIM_SLOW_SCHEDULES over slow links, from seed $SOLO_SIM_FIRST_SEED" >&2
cargo test -q --release -p solo-core --test lock_simulation -- every_schedule --nocapture
