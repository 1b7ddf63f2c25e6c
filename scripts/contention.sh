#!/usr/bin/env bash
# The lock under contention, measured from outside: N processes each run `solo exec --wait -- true`
# SECTIONS times in a row on one deployment over 2 clusters, and the Lease API requests are counted
# from the apiservers' own `apiserver_request_total` (resource=leases, all verbs; and code=409),
# read from each apiserver's /metrics before and after (with the Lease watch events they sent to
# every watcher), and the CPU a section cost (the machine's,
# split into the test environment's processes and the rest: solo's) with how busy the machine was.
# Prints one row per N, the goals of issue 13 (met / NOT met) and machine-readable lines
# `<metric> <subject> <value>` for BENCHMARKS.md.
#
# Then the lease storm case: STORM contenders (default 32) with 3 s leases (SOLO_LOCK_LEASE_SECONDS=3).
#
# Every row runs at least TOTAL sections (default 96: 16 processes of 6), each process more than
# SECTIONS when there are few of them: the single contender's rate, the baseline of the goals, is
# then measured over seconds, not over the few tenths of a second that 6 sections take alone.
#
# Usage: scripts/contention.sh [--contenders "1 4 8 16 32"] [--storm 32|0] [--sections 3] [--total 96] [--solo PATH]
# With SOLO_TESTENV_DIR set it uses those clusters (at least 2); otherwise it starts 2 of its own in
# target/testenv-contention and stops them afterwards. The machine is shared: start small.
set -euo pipefail
cd "$(dirname "$0")/.."

contenders="1 4 8 16 32"
sections=3
total=96
storm=32
solo=
while [ $# -gt 0 ]; do
  case $1 in
    --contenders) contenders=$2; shift 2 ;;
    --sections) sections=$2; shift 2 ;;
    --total) total=$2; shift 2 ;;
    --storm) storm=$2; shift 2 ;;
    --solo) solo=$2; shift 2 ;;
    *) echo "contention: unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$solo" ]; then
  cargo build -q -p solo
  solo=${CARGO_TARGET_DIR:-target}/debug/solo
fi

launcher=$(bash testenv/testenv.sh --print-path)
work=$(mktemp -d)
own_env=
if [ -z "${SOLO_TESTENV_DIR:-}" ]; then
  export SOLO_TESTENV_DIR=$PWD/target/testenv-contention
  own_env=1
  "$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null
  "$launcher" up --dir "$SOLO_TESTENV_DIR" --clusters 2 >&2
fi
cleanup() {
  rm -rf "$work"
  if [ -n "$own_env" ]; then "$launcher" down --dir "$SOLO_TESTENV_DIR" >/dev/null || true; fi
}
trap cleanup EXIT
export KUBECONFIG=$SOLO_TESTENV_DIR/kubeconfig
clusters=(cluster-1 cluster-2)

# lease_requests: "<all Lease requests> <409s> <Lease watch events sent>" summed over every
# apiserver. PUTs are left out: they are the apiservers' own identity Leases (kube-system, renewed
# every 10 s), which solo never writes so (it writes Leases by PATCH: a PUT re-creates a deleted
# Lease). Each watch event counts once per watcher it is sent to.
lease_requests() {
  for c in "${clusters[@]}"; do kubectl --context "$c" get --raw /metrics; done |
    awk '/^apiserver_request_total\{/ && /resource="leases"/ && !/verb="PUT"/ {
           total += $NF; if ($0 ~ /code="409"/) conflicts += $NF }
         /^apiserver_watch_events_total\{/ && /resource="leases"/ { events += $NF }
         END { printf "%d %d %d\n", total, conflicts, events }'
}

ns=contention-$(date +%H%M%S)-$$
for c in "${clusters[@]}"; do
  kubectl --context "$c" create namespace "$ns" >/dev/null
  kubectl --context "$c" create namespace solo-system >/dev/null 2>&1 || true
done
home=$work/home
export SOLO_USER_EMAIL=bench@example.com
setup() { "$@" >"$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; exit 1; }; }
for c in "${clusters[@]}"; do setup env SOLO_HOME="$home" "$solo" cluster-ref connect "$c" --context "$c"; done
net=contention-$$
setup env SOLO_HOME="$home" "$solo" deployment create "$net" --namespace "$ns" --cluster-ref cluster-1 --cluster-ref cluster-2 --yes

# contender I K: its own SOLO_HOME (a copy of the connected one, as on a machine of its own: without
# what the setup's machine remembers of the clusters), K sections in a row.
contender() {
  local h=$work/c$1
  rm -rf "$h"; cp -r "$home" "$h"; rm -rf "$h/solo-state-cache"
  for _ in $(seq 1 "$2"); do
    SOLO_HOME=$h SOLO_USER_EMAIL="c$1@example.com" "$solo" exec "$net" --wait=10m -- true >/dev/null 2>"$h.err" ||
      { echo "contention: contender $1 failed: $(cat "$h.err")" >&2; return 1; }
  done
}

# cpu_ticks: "<CPU ticks the machine spent busy> <ticks of the test environment's own processes>"
# (etcd, the apiservers and the links, by the pids of its env.json), from /proc. Every row is
# bounded by the machine's cores as much as by the lock: what a section costs in CPU says which.
cpu_ticks() {
  local busy env=0 pid
  busy=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat)
  for pid in $(grep -o '"pid": *[0-9]*' "$SOLO_TESTENV_DIR/env.json" | grep -o '[0-9]*$'); do
    [ -r "/proc/$pid/stat" ] && env=$((env + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$busy $env"
}
hz=$(getconf CLK_TCK)
cores=$(nproc)

echo "lock contention: solo exec --wait -- true, $sections sections per process (at least $total per row), 1 deployment over ${#clusters[@]} clusters"
printf '%-24s %10s %12s %26s %16s %20s %22s %14s\n' contenders seconds sections/s "Lease API requests/section" "409s/section" \
  "watch events/section" "CPU ms/section (env+solo)" "machine busy"
declare -A rate requests conflicts cpu
# row SUBJECT N: runs N contenders and prints the row and its machine-readable lines.
row() {
  local subject=$1 n=$2 before_total before_409 after_total after_409 start end secs failed p pids=()
  local busy0 env0 busy1 env1 cpu_env cpu_rest busy_pct before_events after_events events
  local k=$(( (total + n - 1) / n ))
  [ "$k" -ge "$sections" ] || k=$sections
  read -r before_total before_409 before_events < <(lease_requests)
  read -r busy0 env0 < <(cpu_ticks)
  start=$(date +%s.%N)
  for i in $(seq 1 "$n"); do contender "$i" "$k" & pids+=($!); done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || { echo "contention: a contender failed ($subject)" >&2; exit 1; }
  end=$(date +%s.%N)
  read -r busy1 env1 < <(cpu_ticks)
  read -r after_total after_409 after_events < <(lease_requests)
  read -r secs rate[$subject] requests[$subject] conflicts[$subject] < <(awk -v s="$start" -v e="$end" -v n="$n" -v k="$k" \
    -v t=$((after_total - before_total)) -v c=$((after_409 - before_409)) \
    'BEGIN { d = e - s; m = n * k; printf "%.2f %.2f %.1f %.2f\n", d, m / d, t / m, c / m }')
  read -r cpu[$subject] cpu_env cpu_rest busy_pct < <(awk -v b=$((busy1 - busy0)) -v e=$((env1 - env0)) -v hz="$hz" \
    -v m=$((n * k)) -v d="$secs" -v c="$cores" \
    'BEGIN { printf "%.0f %.0f %.0f %.0f\n", b * 1000 / hz / m, e * 1000 / hz / m, (b - e) * 1000 / hz / m, 100 * b / hz / (d * c) }')
  events=$(awk -v e=$((after_events - before_events)) -v m=$((n * k)) 'BEGIN { printf "%.0f", e / m }')
  printf '%-24s %10s %12s %26s %16s %20s %22s %14s\n' "$3" "$secs" "${rate[$subject]}" "${requests[$subject]}" "${conflicts[$subject]}" \
    "$events" "${cpu[$subject]} ($cpu_env+$cpu_rest)" "$busy_pct% of $cores"
  echo "contention_watch_events_per_section $subject $events"
  echo "contention_cpu_env_ms_per_section $subject $cpu_env"
  echo "contention_sections_per_s $subject ${rate[$subject]}"
  echo "contention_cpu_ms_per_section $subject ${cpu[$subject]}"
  echo "contention_machine_busy_pct $subject $busy_pct"
  echo "contention_requests_per_section $subject ${requests[$subject]}"
  echo "contention_409_per_section $subject ${conflicts[$subject]}"
}
for n in $contenders; do row "contenders-$n" "$n" "$n"; done
if [ "$storm" -gt 0 ]; then
  export SOLO_LOCK_LEASE_SECONDS=3
  row "storm-$storm" "$storm" "$storm, 3 s leases"
  unset SOLO_LOCK_LEASE_SECONDS
fi

# The goals of issue 13 that these rows decide (a goal whose rows were not run says so).
goal() { echo "goal: $1: $2"; }
one=contenders-1 sixteen=contenders-16
if [ -n "${requests[$one]:-}" ] && [ -n "${requests[$sixteen]:-}" ]; then
  goal "Lease API requests per section at 16 contenders at most 2x one contender's (${requests[$sixteen]} vs ${requests[$one]})" \
    "$(awk -v a="${requests[$sixteen]}" -v b="${requests[$one]}" 'BEGIN { print (a <= 2 * b) ? "met" : "NOT met" }')"
  goal "sections per second at 16 contenders at least 80% of one contender's (${rate[$sixteen]} vs ${rate[$one]}; CPU per section ${cpu[$sixteen]} vs ${cpu[$one]} ms)" \
    "$(awk -v a="${rate[$sixteen]}" -v b="${rate[$one]}" 'BEGIN { print (a >= 0.8 * b) ? "met" : "NOT met" }')"
else
  goal "Lease API requests and sections per second at 16 contenders against 1" "not run"
fi
if [ -n "${conflicts[$sixteen]:-}" ]; then
  goal "409s per section at 16 contenders below 0.5 (${conflicts[$sixteen]})" \
    "$(awk -v a="${conflicts[$sixteen]}" 'BEGIN { print (a < 0.5) ? "met" : "NOT met" }')"
else
  goal "409s per section at 16 contenders below 0.5" "not run"
fi
if [ "$storm" -gt 0 ]; then
  goal "$storm contenders with 3 s leases finish with no storm (${requests[storm-$storm]} requests, ${conflicts[storm-$storm]} 409s per section; no storm: 409s per section below 0.5)" \
    "$(awk -v a="${conflicts[storm-$storm]}" 'BEGIN { print (a < 0.5) ? "met" : "NOT met" }')"
fi
