#!/usr/bin/env bash
# `make demo`: two engineers, one network over two real clusters, one lock.
# Starts the local sandbox (2 kube-apiservers), builds solo, then plays a scripted session and
# prints each command before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-tools.sh

bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'
if [ -n "${NO_COLOR:-}" ] || [ ! -t 1 ]; then bold=; dim=; reset=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }
# run AS CMD...: prints the command as that user types it, then runs it with that user's identity.
run() {
  local who=$1; shift
  show "$who: solo $*"
  SOLO_HOME="$work/$who" SOLO_USER_EMAIL="$who@example.com" "$solo" "$@"
}

make --no-print-directory sandbox
export KUBECONFIG=$PWD/.sandbox/kubeconfig
cargo build -q -p solo
solo=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/solo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ns=demo-$(date +%H%M%S)
network=my-network-$(date +%H%M%S)
step "The network's namespace exists in both clusters (an admin's job; solo makes its own state namespace)"
for c in cluster-1 cluster-2; do
  show "kubectl --context $c create namespace $ns"
  kubectl --context "$c" create namespace "$ns" >/dev/null
done

step "1. alice maps the clusters to her kube contexts and creates a deployment over both"
run alice cluster-ref connect cluster-1 --context cluster-1
run alice cluster-ref connect cluster-2 --context cluster-2
run alice deployment create "$network" --namespace "$ns" --cluster-ref cluster-1 --cluster-ref cluster-2 --yes
run alice state show "$network" -o yaml
run alice deployment show "$network"

step "2. alice holds the lock while her change runs (8 seconds)"
show "alice: solo exec $network -- sleep 8 &"
SOLO_HOME="$work/alice" SOLO_USER_EMAIL=alice@example.com "$solo" exec "$network" -- sleep 8 &
alice_pid=$!
for _ in $(seq 1 100); do
  SOLO_HOME="$work/alice" "$solo" lease status "$network" -o json 2>/dev/null | grep -q '"alice@example.com"' && break
  sleep 0.1
done
run alice lease status "$network"

step "3. bob, on the same network, is told who holds it and until when"
run bob cluster-ref connect cluster-1 --context cluster-1
run bob cluster-ref connect cluster-2 --context cluster-2
set +e
run bob exec "$network" --state-namespace solo-system -- echo "bob's change" 2>&1
code=$?
set -e
echo "(exit code $code: 3 means the lock is held by someone else)"

step "4. bob waits for the lock and gets it as soon as alice releases it"
run bob exec "$network" --wait=1m -- echo "bob's change ran under the lock"
wait "$alice_pid"

step "5. the history shows both changes, who ran them and how they ended; the lock is free again"
run bob history "$network"
run bob lease status "$network"
step "6. the network's endpoints over both clusters, and its address book"
run alice component add "$network" consensus node1 --cluster-ref cluster-1
run alice component add "$network" consensus node2 --cluster-ref cluster-2
for pair in "node1 cluster-1 198.51.100.1" "node2 cluster-2 198.51.100.2"; do
  set -- $pair
  show "kubectl --context $2 -n $ns create service loadbalancer network-$1-svc --tcp=50111,50211,50212"
  kubectl --context "$2" -n "$ns" create service loadbalancer "network-$1-svc" --tcp=50111,50211,50212 >/dev/null
  show "(a load balancer controller gives it the address $3)"
  kubectl --context "$2" -n "$ns" patch service "network-$1-svc" --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$3\"}]}}}" >/dev/null
done
run alice network endpoints "$network" --record
run alice network address-book "$network" --format json
run alice network address-book "$network" --format config-txt --release-tag v0.58.5

printf '\n%sDone.%s The sandbox keeps running (make sandbox-stop stops it); kubectl --kubeconfig .sandbox/kubeconfig shows what solo wrote:\n' "$bold" "$reset"
echo "  kubectl --context cluster-1 -n $ns get leases; kubectl --context cluster-2 -n solo-system get secrets -l app.kubernetes.io/managed-by=solo"
