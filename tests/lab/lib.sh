# Shared constants and helpers of the sluice attack lab (sourced by lab.sh, run.sh, scenarios).
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3                 # Debian's python3: system libssl, which sluice's TLS uprobes see
NS_HOST=slab-host                   # the workloads' namespace (the "LLM host")
NS_NET=slab-net                     # the services' namespace (CRM, storage, attacker, DNS, queue)
STATE=${SLUICE_LAB_STATE:-/run/sluice-lab}
DATA=/srv/sluice-lab                # the workloads' data: cache, logs, vector index, secrets
PIN_DIR=/sys/fs/bpf/sluice-lab
HOST_IP=10.77.0.2
CRM_IP=10.77.0.10; VEC_IP=10.77.0.20; S3_IP=10.77.0.30; QUEUE_IP=10.77.0.40
DNS_IP=10.77.0.53; EVIL_IP=10.77.0.66; DROP_IP=10.77.0.67; ROGUE_IP=10.77.0.99
CG_ROOT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
CG_LAB=$CG_ROOT/sluice-lab

# in_cgroup NAME CMD...: runs CMD in the lab host namespace inside cgroup /sluice-lab/NAME.
# The cgroup is joined before `ip netns exec`, which remounts /sys.
in_cgroup() {
  local cg=$1; shift
  sh -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec '"$NS_HOST"' "$@"' "$CG_LAB/$cg" "$@"
}
# on_host CMD...: in the lab host namespace, in no watched cgroup (the attacker's foothold).
on_host() { ip netns exec "$NS_HOST" "$@"; }
now_ms() { date +%s%3N; }
# server_bytes NAME: total bytes the lab server NAME received so far (all connections).
server_bytes() {
  awk '$1 == "RECV" {s += $3} END {print s + 0}' "$STATE/servers/$1.log" 2>/dev/null || echo 0
}
