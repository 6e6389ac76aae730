#!/usr/bin/env bash
# The overhead benchmark (DESIGN §9: sluice <= 1.03x and below auditd and bpftrace watching the
# same things). Runs bench/overhead/workload.c in a cgroup, alternating modes round by round so
# that machine drift hits every mode alike, and prints the median time of each mode and its ratio
# to no sensor. A measurement, not a test: it exits 0 when a target is missed and says so.
#
#   bench/overhead/run.sh [--build DIR] [--iterations N] [--rounds R] [--modes "none sluice ..."]
#
# Modes: none, sluice (sluiced watching the cgroup and the files), auditd (equivalent audit
# rules; installs auditd with apt-get when missing), bpftrace (equivalent tracepoint probes
# counting into maps; installs bpftrace when missing). Needs root; configure the build with
# -DSLUICE_BUILD_BENCH=ON.
set -euo pipefail
build=build iterations=20000 rounds=5 modes="none sluice auditd bpftrace"
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--iterations N] [--rounds R] [--modes LIST]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
sluiced=$build/agent/cmd/sluiced/sluiced
workload=$build/bench/overhead/sluice_bench_workload
for f in "$sluiced" "$workload"; do
  [ -x "$f" ] || { echo "run.sh: $f missing: cmake -DSLUICE_BUILD_BENCH=ON and build" >&2; exit 1; }
done

root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$root" ] || { echo "run.sh: no cgroup v2 mount" >&2; exit 1; }
tag=sluice-bench-$$
cg=$root/$tag
tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
data=$tmp/data
mkdir -p "$cg" "$data"
agent_pid="" tracer_pid="" audit_rules=0 started_auditd=0
cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$tracer_pid" ] && kill -INT "$tracer_pid" 2>/dev/null && wait "$tracer_pid" 2>/dev/null || true
  if [ "$audit_rules" = 1 ]; then auditctl -D -k sluicebench >/dev/null 2>&1 || true; fi
  if [ "$started_auditd" = 1 ]; then auditctl --signal TERM >/dev/null 2>&1 || pkill -x auditd || true; fi
  rmdir "$cg" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$((20000 + $$ % 20000))
run_workload() {
  sh -c "echo \$\$ > '$cg/cgroup.procs' && exec '$workload' $iterations '$data' $port"
}

start_mode() {
  case "$1" in
    none) ;;
    sluice)
      cat > "$tmp/rules.yaml" <<RULES
version: 1
files:
  - class: inference-cache
    paths: ["$data"]
workloads:
  - name: bench
    mode: monitor
    selector:
      cgroup: "/$tag"
    egress:
      allow:
        - cidr: 127.0.0.0/8
RULES
      "$sluiced" --rules "$tmp/rules.yaml" --alerts /dev/null --api-socket none \
        2> "$tmp/sluiced.log" &
      agent_pid=$!
      for _ in $(seq 200); do grep -q "sluiced: ready" "$tmp/sluiced.log" && return 0; sleep 0.1; done
      echo "sluiced did not start:"; cat "$tmp/sluiced.log"; return 1 ;;
    auditd)
      command -v auditctl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null
      if ! auditctl -s >/dev/null 2>&1; then echo "auditd: kernel audit unavailable"; return 1; fi
      if ! pgrep -x auditd >/dev/null; then auditd && started_auditd=1; sleep 1; fi
      auditctl -a always,exit -F arch=b64 -S connect -k sluicebench >/dev/null
      auditctl -a always,exit -F arch=b64 -S openat,read -F dir="$data" -k sluicebench >/dev/null
      audit_rules=1 ;;
    bpftrace)
      command -v bpftrace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null
      cat > "$tmp/probes.bt" <<BT
tracepoint:syscalls:sys_enter_connect /cgroup == cgroupid("$cg")/ { @connect[pid] = count(); }
tracepoint:syscalls:sys_exit_connect /cgroup == cgroupid("$cg")/ { @connect_ret[args->ret] = count(); }
tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("$cg")/ { @open[pid] = count(); }
tracepoint:syscalls:sys_exit_read /cgroup == cgroupid("$cg") && args->ret > 0/ { @bytes[pid] = sum(args->ret); }
BEGIN { printf("ATTACHED\n"); }
BT
      bpftrace "$tmp/probes.bt" > "$tmp/bpftrace.log" 2>&1 &
      tracer_pid=$!
      for _ in $(seq 300); do grep -q ATTACHED "$tmp/bpftrace.log" && return 0; sleep 0.1; done
      echo "bpftrace did not attach:"; cat "$tmp/bpftrace.log"; return 1 ;;
  esac
}

stop_mode() {
  case "$1" in
    sluice) kill -TERM "$agent_pid"; wait "$agent_pid" || true; agent_pid="" ;;
    auditd) auditctl -D -k sluicebench >/dev/null; audit_rules=0 ;;
    bpftrace) kill -INT "$tracer_pid"; wait "$tracer_pid" || true; tracer_pid="" ;;
  esac
}

declare -A times unavailable
for r in $(seq "$rounds"); do
  for m in $modes; do
    [ -n "${unavailable[$m]:-}" ] && continue
    if ! start_mode "$m" > "$tmp/start.log" 2>&1; then
      unavailable[$m]=$(tr '\n' ' ' < "$tmp/start.log")
      continue
    fi
    out=$(run_workload)
    stop_mode "$m"
    ns=$(echo "$out" | sed 's/.*"elapsed_ns":\([0-9]*\).*/\1/')
    times[$m]="${times[$m]:-} $ns"
  done
done

median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minof() { printf '%s\n' $1 | sort -n | head -1; }
maxof() { printf '%s\n' $1 | sort -n | tail -1; }
base=$(median "${times[none]}")
printf '%-10s %12s %8s %12s %12s %14s\n' mode median_ms ratio min_ms max_ms ops_per_s
for m in $modes; do
  if [ -n "${unavailable[$m]:-}" ]; then printf '%-10s unavailable: %s\n' "$m" "${unavailable[$m]}"; continue; fi
  med=$(median "${times[$m]}")
  awk -v m="$m" -v med="$med" -v base="$base" -v lo="$(minof "${times[$m]}")" \
      -v hi="$(maxof "${times[$m]}")" -v it="$iterations" 'BEGIN {
        printf "%-10s %12.1f %8.3f %12.1f %12.1f %14.0f\n", m, med/1e6, med/base, lo/1e6, hi/1e6,
               3*it*1e9/med }'
done
if [ -n "${times[sluice]:-}" ]; then
  s=$(median "${times[sluice]}")
  awk -v s="$s" -v b="$base" 'BEGIN { if (s/b > 1.03) print "TARGET MISSED: sluice " s/b "x > 1.03x" }'
  for peer in auditd bpftrace; do
    [ -n "${times[$peer]:-}" ] || continue
    p=$(median "${times[$peer]}")
    awk -v s="$s" -v p="$p" -v n="$peer" 'BEGIN { if (s >= p) print "TARGET MISSED: sluice not below " n }'
  done
  echo "sluiced: $(tail -1 "$tmp/sluiced.log")"
fi
