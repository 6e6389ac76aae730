#!/usr/bin/env bash
# The README's "see it catch something" command, for a second terminal while demo.sh runs.
# Starts a process in the demo workload's cgroup (/sluice-demo, see rules/default.yaml, where only
# loopback is allowed) and has it connect to a documentation address (TCP 192.0.2.10:443) inside a
# throwaway network namespace, so nothing leaves this machine. sluiced reports unexpected_egress.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "demo-trigger.sh: run as root (it creates a cgroup and a network namespace)" >&2
  exit 1
fi
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$root" ]; then
  echo "demo-trigger.sh: no cgroup v2 mount; start sluiced first (it mounts one)" >&2
  exit 1
fi
ns=sluice-demo-$$
cg="$root/sluice-demo"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rmdir "$cg" 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p "$cg"
sleep 0.2  # sluiced learns of a new cgroup from the cgroup_mkdir probe
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add 192.0.2.10/32 dev lo
echo "demo: connecting from cgroup /sluice-demo to 192.0.2.10:443 (inside netns $ns)"
sh -c "echo \$\$ > '$cg/cgroup.procs' && exec ip netns exec '$ns' \
  python3 -c 'import socket; s=socket.socket(); s.settimeout(2)
try:
    s.connect((\"192.0.2.10\", 443)); print(\"demo: connected\")
except OSError as e:
    print(\"demo: connect failed:\", e)'"
