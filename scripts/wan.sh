#!/usr/bin/env bash
# Puts a region profile on the links of a running testenv environment: cluster-1 gets the first added
# round trip, cluster-2 the second, and so on (clusters beyond the profile keep a plain link).
#
#   scripts/wan.sh DIR            the default profile: 10ms 60ms 150ms
#   scripts/wan.sh DIR 80ms 30ms  a profile of your own
#   scripts/wan.sh DIR off        plain links again
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
profile=("$@")
[ ${#profile[@]} -gt 0 ] || profile=(10ms 60ms 150ms)
clusters=$(grep -c '"directServer"' "$dir/env.json" || true)
[ "$clusters" -gt 0 ] || { echo "wan: $dir was made before links; run \`make sandbox-stop\` and \`make sandbox\` first" >&2; exit 1; }
for ((i = 1; i <= clusters; i++)); do
  if [ "${profile[0]}" = off ]; then
    bash testenv/testenv.sh link --dir "$dir" --cluster "$i" --clear
  elif [ "$i" -le ${#profile[@]} ]; then
    rtt=${profile[$((i - 1))]}
    bash testenv/testenv.sh link --dir "$dir" --cluster "$i" --clear --latency "$rtt" --jitter "$(( ${rtt%ms} / 10 ))ms"
    echo "wan: cluster-$i is $rtt away (± $(( ${rtt%ms} / 10 )) ms)"
  fi
done
