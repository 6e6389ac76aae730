#!/usr/bin/env bash
# The overhead benchmark (DESIGN §9: a watched syscall-heavy workload runs at <= 1.03x with sluice,
# and slower under auditd and bpftrace watching the same things). Runs the workload
# (bench/overhead/workload.c) in a cgroup made for the run under each mode, rotating the order of
# the modes in every round so that machine drift hits all of them alike, and prints the median
# time of each mode, its ratio to no sensor and the min/max spread. A measurement, not a test: it
# exits 0 when a target is missed and prints a "TARGET MISSED" line for it.
#
#   bench/overhead/run.sh [--build DIR] [--iterations N] [--rounds R] [--cpu N|none]
#                         [--modes "none sluice ..."] [--workload mixed|files]
#
# Workloads: mixed (the default: per iteration a loopback TCP connect+close, an open+read+close of
# a watched file, a write to /dev/null) and files (the same without the connect: the file and
# write syscalls alone, without the loopback handshake's noise and its second thread).
#
# Modes: none (nothing watching), sluice (sluiced watching the cgroup and the data directory),
# unwatched (sluiced running, watching another cgroup: what every other process pays), auditd
# (equivalent audit rules; installs auditd with apt-get when missing), bpftrace (tracepoint
# probes recording the same facts as sluice, counting into maps; installs bpftrace when missing),
# bpftrace-min (a subset: connect, sensitive opens, bytes read; for comparison only).
# Needs root. Builds nothing: configure with -DSLUICE_BUILD_BENCH=ON and build first.
set -euo pipefail

usage() {
  echo "usage: $0 [--build DIR] [--iterations N] [--rounds R] [--cpu N|none]" \
    "[--modes \"none sluice unwatched auditd bpftrace bpftrace-min\"] [--workload mixed|files]" >&2
  exit 2
}
build=build iterations=20000 rounds=5 cpu=0 modes="none sluice unwatched auditd bpftrace bpftrace-min"
workload_kind=mixed
while [ $# -gt 0 ]; do
  case "$1" in
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --iterations) [ $# -ge 2 ] || usage; iterations=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
    --cpu) [ $# -ge 2 ] || usage; cpu=$2; shift 2 ;;
    --modes) [ $# -ge 2 ] || usage; modes=$2; shift 2 ;;
    --workload) [ $# -ge 2 ] || usage; workload_kind=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$iterations" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --iterations must be a positive integer" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds must be a positive integer" >&2; exit 2; }
case "$workload_kind" in
  mixed|files) ;;
  *) echo "run.sh: --workload must be 'mixed' or 'files'" >&2; exit 2 ;;
esac
if [ "$cpu" != none ]; then
  [[ "$cpu" =~ ^[0-9]+$ ]] || { echo "run.sh: --cpu must be a CPU number or 'none'" >&2; exit 2; }
  taskset -c "$cpu" true 2>/dev/null || { echo "run.sh: cannot pin to CPU $cpu (taskset -c $cpu)" >&2; exit 2; }
fi
for m in $modes; do
  case "$m" in
    none|sluice|unwatched|auditd|bpftrace|bpftrace-min) ;;
    *) echo "run.sh: unknown mode '$m'" >&2; exit 2 ;;
  esac
done
case " $modes " in *" none "*) ;; *) modes="none $modes" ;; esac  # the baseline of every ratio
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (BPF, cgroups, audit rules)" >&2; exit 1; }

sluiced=$build/agent/cmd/sluiced/sluiced
workload=$build/bench/overhead/sluice_bench_workload
for f in "$sluiced" "$workload"; do
  if [ ! -x "$f" ]; then
    echo "run.sh: $f not found; configure with -DSLUICE_BUILD_BENCH=ON and build:" >&2
    echo "  cmake -S . -B $build -G Ninja -DSLUICE_BUILD_BENCH=ON && cmake --build $build" >&2
    exit 1
  fi
done
sluiced=$(realpath "$sluiced") workload=$(realpath "$workload")

cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || { echo "run.sh: no cgroup v2 mount in /proc/mounts" >&2; exit 1; }
tag=sluice-bench-$$
cg=$cgroot/$tag
port=$((20000 + $$ % 20000))
[ "$workload_kind" = mixed ] || port=0  # the workload's signal to leave the connect out

# Everything the script starts or changes is recorded here and undone by cleanup().
tmp="" cg_made=0 agent_pid="" tracer_pid="" auditd_pid="" audit_rules=0
audit_backlog_orig="" audit_enabled_orig=""

# True while PID exists and is not a zombie (kill -0 succeeds on an unreaped child).
alive() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# Signals PID, waits up to SECS for it to go, then SIGKILLs it. Reaps it when it is our child.
stop_pid() {
  local pid=$1 sig=$2 secs=$3 i
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "run.sh: pid $pid did not exit on SIG$sig within ${secs}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

audit_status() { auditctl -s 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }

cleanup() {
  trap - EXIT INT TERM
  set +e
  [ -n "$agent_pid" ] && stop_pid "$agent_pid" TERM 30
  [ -n "$tracer_pid" ] && stop_pid "$tracer_pid" TERM 30
  [ "$audit_rules" = 1 ] && auditctl -D -k sluicebench >/dev/null 2>&1
  [ -n "$audit_backlog_orig" ] && auditctl -b "$audit_backlog_orig" >/dev/null 2>&1
  [ -n "$audit_enabled_orig" ] && auditctl -e "$audit_enabled_orig" >/dev/null 2>&1
  [ -n "$auditd_pid" ] && stop_pid "$auditd_pid" TERM 30
  if [ "$cg_made" = 1 ] && [ -d "$cg" ]; then
    # A workload interrupted mid-run may still be in the cgroup.
    if [ -e "$cg/cgroup.kill" ]; then
      echo 1 > "$cg/cgroup.kill" 2>/dev/null
    else
      while read -r p; do kill -KILL "$p" 2>/dev/null; done < "$cg/cgroup.procs"
    fi
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
    [ -d "$cg" ] && echo "run.sh: could not remove $cg" >&2
  fi
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
data=$tmp/data
mkdir "$data"
mkdir "$cg"
cg_made=1

# Runs the workload inside the bench cgroup, pinned to --cpu (its two threads share that CPU:
# cross-CPU wakeups between them were the largest source of noise measured; the watchers'
# consumers run on the other CPUs in every mode alike); prints its JSON line.
run_workload() {
  local pin=()
  [ "$cpu" = none ] || pin=(taskset -c "$cpu")
  "${pin[@]}" sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
    "$workload" "$iterations" "$data" "$port"
}

# ---- modes sluice and unwatched ----
# unwatched: the same agent and rules, but the workload selector names a cgroup the workload is
# not in: the cost sluice puts on every process it does not watch (DESIGN §9: nothing measurable).
start_unwatched() { start_sluice "/$tag-elsewhere"; }
stop_unwatched() { stop_sluice; }
start_sluice() {
  local selected=${1:-/$tag}
  cat > "$tmp/rules.yaml" <<RULES
# The bench workload: every connect, sensitive open and read of the bench cgroup is watched;
# loopback is allowed, so the run raises no alert.
version: 1
files:
  - class: inference-cache
    paths: ["$data/"]
workloads:
  - name: bench
    mode: monitor
    selector:
      cgroup: "$selected"
    egress:
      allow:
        - cidr: 127.0.0.0/8
          comment: "the workload's own listener"
RULES
  "$sluiced" --rules "$tmp/rules.yaml" --mode monitor --alerts /dev/null --api-socket none \
    2> "$tmp/sluiced.log" &
  agent_pid=$!
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "sluiced: ready" "$tmp/sluiced.log" && return 0
    alive "$agent_pid" || break
    sleep 0.1
  done
  echo "sluiced did not become ready: $(tail -n 3 "$tmp/sluiced.log" | tr '\n' ' ')"
  stop_pid "$agent_pid" TERM 30
  agent_pid=""
  return 1
}
stop_sluice() {
  [ -n "$agent_pid" ] || return 0
  local rc=0
  kill -TERM "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" || rc=$?
  agent_pid=""
  [ "$rc" = 0 ] || echo "run.sh: sluiced exited with $rc: $(tail -n 3 "$tmp/sluiced.log" | tr '\n' ' ')" >&2
  sluiced_last=$(tail -n 1 "$tmp/sluiced.log")
  seen=$sluiced_last
}

# ---- mode auditd ----
start_auditd() {
  if ! command -v auditctl >/dev/null || ! command -v auditd >/dev/null; then
    echo "run.sh: installing auditd (a benchmark-only dependency)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null 2>&1 ||
      { echo "apt-get install auditd failed"; return 1; }
  fi
  local enabled pid i
  enabled=$(audit_status enabled)
  [ -n "$enabled" ] || { echo "the kernel has no audit support (auditctl -s failed)"; return 1; }
  [ "$enabled" != 2 ] || { echo "audit configuration is locked (enabled 2)"; return 1; }
  pid=$(audit_status pid)
  if [ -z "$pid" ] || [ "$pid" = 0 ] || ! alive "$pid"; then
    # Our own auditd, logging into the temp dir; -s nochange leaves the kernel's enabled flag
    # alone (by default auditd clears it when it stops).
    mkdir -p "$tmp/audit"
    sed -e "s|^log_file *=.*|log_file = $tmp/audit/audit.log|" \
        -e "s|^max_log_file_action *=.*|max_log_file_action = ROTATE|" \
        -e "s|^\(space_left\|admin_space_left\|disk_full\|disk_error\)_action *=.*|\1_action = SYSLOG|" \
        /etc/audit/auditd.conf > "$tmp/audit/auditd.conf"
    chmod 0640 "$tmp/audit/auditd.conf"
    auditd -n -s nochange -c "$tmp/audit" > "$tmp/auditd.log" 2>&1 &
    auditd_pid=$!
    for ((i = 0; i < 100; i++)); do
      [ "$(audit_status pid)" = "$auditd_pid" ] && break
      alive "$auditd_pid" || break
      sleep 0.1
    done
    if [ "$(audit_status pid)" != "$auditd_pid" ]; then
      echo "auditd did not register with the kernel: $(tr '\n' ' ' < "$tmp/auditd.log")"
      stop_pid "$auditd_pid" TERM 10
      auditd_pid=""
      return 1
    fi
  fi
  if [ "$enabled" = 0 ]; then audit_enabled_orig=0; auditctl -e 1 >/dev/null; fi
  # A backlog large enough for the burst (Debian's default rules use 8192): with the kernel's
  # default of 64 the workload would mostly measure backlog_wait_time sleeps.
  local backlog
  backlog=$(audit_status backlog_limit)
  if [ -n "$backlog" ] && [ "$backlog" -lt 8192 ]; then
    [ -n "$audit_backlog_orig" ] || audit_backlog_orig=$backlog
    auditctl -b 8192 >/dev/null
  fi
  audit_rules=1
  auditctl -a always,exit -F arch=b64 -S connect,accept,accept4 -k sluicebench >/dev/null &&
    auditctl -a always,exit -F arch=b64 -S openat,read -F dir="$data" -k sluicebench >/dev/null ||
    { echo "auditctl refused the rules"; return 1; }
}
stop_auditd() {
  auditctl -D -k sluicebench >/dev/null 2>&1 || true
  audit_rules=0
  if [ -n "$auditd_pid" ]; then
    # Let auditd drain the kernel's queue first: records still queued when it exits are never
    # written. (The workload's time does not include this: auditd writes asynchronously.)
    local b prev="" same=0 i
    for ((i = 0; i < 300 && same < 5; i++)); do
      b=$(audit_status backlog)
      [ "$b" != 0 ] || break
      if [ "$b" = "$prev" ]; then same=$((same + 1)); else same=0; fi
      prev=$b
      sleep 0.1
    done
    stop_pid "$auditd_pid" TERM 30
    auditd_pid=""
  fi
  if [ -f "$tmp/audit/audit.log" ]; then
    seen="$(cat "$tmp"/audit/audit.log* | grep -c 'key="sluicebench"' || true) audit events"
    rm -f "$tmp"/audit/audit.log*
  fi
}

# ---- mode bpftrace ----
start_bpftrace() {
  if ! command -v bpftrace >/dev/null; then
    echo "run.sh: installing bpftrace (a benchmark-only dependency)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null 2>&1 ||
      { echo "apt-get install bpftrace failed"; return 1; }
  fi
  local prefix="$data/"
  # Both probe sets: connect attempt and result (an enter/exit pair through a per-thread map) and
  # the sensitive open's path copied and prefix-matched on enter; all filtered by the bench
  # cgroup first, counted in maps, never printed per event.
  cat > "$tmp/probes.bt" <<BT
BEGIN { printf("ATTACHED\n"); }
tracepoint:syscalls:sys_enter_connect /cgroup == cgroupid("$cg")/ { @connecting[tid] = args->fd; }
tracepoint:syscalls:sys_exit_connect /cgroup == cgroupid("$cg")/ {
  @connect[pid, args->ret] = count();
  delete(@connecting[tid]);
}
tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("$cg")/ {
  if (strncmp(str(args->filename), "$prefix", ${#prefix}) == 0) { @opening[tid] = 1; }
}
BT
  if [ "${1:-full}" = min ]; then
    # bpftrace-min: besides, only the result of sensitive opens and the bytes of every read of
    # the cgroup (any fd), i.e. less than sluice records; kept to compare with earlier runs.
    cat >> "$tmp/probes.bt" <<BT
tracepoint:syscalls:sys_exit_openat /cgroup == cgroupid("$cg")/ {
  if (@opening[tid]) { @sensitive_open[pid, args->ret >= 0] = count(); delete(@opening[tid]); }
}
tracepoint:syscalls:sys_exit_read /cgroup == cgroupid("$cg") && args->ret > 0/ {
  @read_bytes[pid] = sum(args->ret);
}
END { clear(@connecting); clear(@opening); }
BT
  else
    # The rest of the facts sluice records for this workload, on the hooks sluice uses on a
    # kernel without kprobes/fentry: accepted connections, each TCP flow's exact byte totals at
    # CLOSE (the tcp_sock counters), the fd of each sensitive open, bytes read through those fds
    # (a per-fd lookup for every read, as sluice's), and close dropping the fd. Not done
    # (bpftrace cannot, or sluice does it besides): per-packet byte counting at cgroup_skb, the
    # cgroup/connect policy decision, DNS answers, TLS call correlation.
    cat >> "$tmp/probes.bt" <<BT
tracepoint:syscalls:sys_exit_accept4 /cgroup == cgroupid("$cg") && args->ret >= 0/ {
  @accepted[pid] = count();
}
tracepoint:syscalls:sys_exit_accept /cgroup == cgroupid("$cg") && args->ret >= 0/ {
  @accepted[pid] = count();
}
tracepoint:sock:inet_sock_set_state /cgroup == cgroupid("$cg") && args->protocol == 6 && args->newstate == 7/ {
  \$tp = (struct tcp_sock *)args->skaddr;
  @flows_closed = count();
  @flow_bytes_out = sum(\$tp->bytes_acked);
  @flow_bytes_in = sum(\$tp->bytes_received);
}
tracepoint:syscalls:sys_exit_openat /cgroup == cgroupid("$cg")/ {
  if (@opening[tid]) {
    @sensitive_open[pid, args->ret >= 0] = count();
    if (args->ret >= 0) { @sensitive_fd[pid, args->ret] = 1; }
    delete(@opening[tid]);
  }
}
tracepoint:syscalls:sys_enter_read /@sensitive_fd[pid, args->fd]/ { @reading[tid] = 1; }
tracepoint:syscalls:sys_exit_read /@reading[tid]/ {
  if (args->ret > 0) { @read_bytes[pid] = sum(args->ret); }
  delete(@reading[tid]);
}
tracepoint:syscalls:sys_enter_close /cgroup == cgroupid("$cg")/ { delete(@sensitive_fd[pid, args->fd]); }
END { clear(@connecting); clear(@opening); clear(@reading); clear(@sensitive_fd); }
BT
  fi
  bpftrace "$tmp/probes.bt" > "$tmp/bpftrace.log" 2>&1 &
  tracer_pid=$!
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q ATTACHED "$tmp/bpftrace.log" && return 0
    alive "$tracer_pid" || break
    sleep 0.1
  done
  echo "bpftrace did not attach: $(tail -n 3 "$tmp/bpftrace.log" | tr '\n' ' ')"
  stop_pid "$tracer_pid" TERM 10
  tracer_pid=""
  return 1
}
stop_bpftrace() {
  [ -n "$tracer_pid" ] || return 0
  stop_pid "$tracer_pid" TERM 30  # prints its maps into bpftrace.log on the way out
  tracer_pid=""
  seen=$(awk -F': ' '/^@connect\[/ { c += $2 } /^@sensitive_open\[/ { o += $2 }
    /^@read_bytes\[/ { b += $2 } /^@accepted\[/ { a += $2 } /^@flows_closed:/ { f += $2 }
    END { printf "%d connects, %d accepts, %d TCP flows closed, %d sensitive opens, %d bytes read", c, a, f, o, b }' \
    "$tmp/bpftrace.log")
}
start_bpftrace-min() { start_bpftrace min; }
stop_bpftrace-min() { stop_bpftrace; }

start_mode() { [ "$1" = none ] || "start_$1"; }
stop_mode() { [ "$1" = none ] || "stop_$1"; }

# ---- the rounds ----
declare -A times ops unavailable
sluiced_last=""
mode_list=($modes)
n=${#mode_list[@]}
echo "run.sh: $rounds round(s) x ${n} mode(s), $iterations iterations each, cgroup $cg" >&2
run_workload > /dev/null &  # warm-up, not counted: page cache, binary, socket paths
wait $!
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < n; k++)); do
    m=${mode_list[$(((r + k) % n))]}
    [ -z "${unavailable[$m]:-}" ] || continue
    if ! start_mode "$m" > "$tmp/start.log" 2>&1; then
      unavailable[$m]=$(tr '\n' ' ' < "$tmp/start.log")
      stop_mode "$m" > /dev/null 2>&1 || true
      echo "run.sh: mode $m unavailable: ${unavailable[$m]}" >&2
      continue
    fi
    sleep 1  # let a sensor's start-up work (program loads, /proc walk) settle before timing
    seen=""
    # In the background and waited for, so that a signal to the script is handled at once.
    run_workload > "$tmp/out.json" &
    wait $! || { echo "run.sh: the workload failed in mode $m" >&2; exit 1; }
    out=$(cat "$tmp/out.json")
    stop_mode "$m"
    ns=$(sed -n 's/.*"elapsed_ns":\([0-9]*\).*/\1/p' <<< "$out")
    rate=$(sed -n 's/.*"ops_per_s":\([0-9.]*\).*/\1/p' <<< "$out")
    [ -n "$ns" ] || { echo "run.sh: workload printed no result: $out" >&2; exit 1; }
    times[$m]="${times[$m]:-} $ns"
    ops[$m]="${ops[$m]:-} $rate"
    printf 'run.sh: round %d/%d %-8s %8.1f ms%s\n' $((r + 1)) "$rounds" "$m" \
      "$(awk -v n="$ns" 'BEGIN { print n / 1e6 }')" "${seen:+ (seen: $seen)}" >&2
  done
done

# ---- the table ----
median() {
  printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
minof() { printf '%s\n' $1 | sort -g | head -n 1; }
maxof() { printf '%s\n' $1 | sort -g | tail -n 1; }

base=$(median "${times[none]}")
base_min=$(minof "${times[none]}")
echo
if [ "$workload_kind" = mixed ]; then
  echo "overhead: $iterations iterations x $rounds round(s); per iteration a loopback connect+close," \
    "an open+4KiB read+close of a watched file, a 64 B write to /dev/null"
else
  echo "overhead (files): $iterations iterations x $rounds round(s); per iteration an open+4KiB" \
    "read+close of a watched file, a 64 B write to /dev/null"
fi
printf '%-12s %11s %8s %11s %11s %8s %9s %13s\n' mode median_ms ratio min_ms max_ms spread min_ratio \
  events/s
for m in "${mode_list[@]}"; do
  if [ -n "${unavailable[$m]:-}" ]; then
    printf '%-12s unavailable: %s\n' "$m" "${unavailable[$m]}"
    continue
  fi
  med=$(median "${times[$m]}")
  awk -v m="$m" -v med="$med" -v base="$base" -v lo="$(minof "${times[$m]}")" \
      -v hi="$(maxof "${times[$m]}")" -v rate="$(median "${ops[$m]}")" -v bmin="$base_min" 'BEGIN {
        printf "%-12s %11.1f %7.3fx %11.1f %11.1f %7.1f%% %8.3fx %13.0f\n", m, med / 1e6,
               med / base, lo / 1e6, hi / 1e6, 100 * (hi - lo) / med, lo / bmin, rate }'
done
echo "(ratio: median / median of none; spread: (max - min) / median over the rounds;" \
  "min_ratio: fastest run / fastest run of none, the steadier reading when noise only adds" \
  "time; events/s: the workload's own ops/s at its median run, 3 watched operations per" \
  "iteration, 2 in the files workload)"
[ -z "$sluiced_last" ] || echo "sluiced (last run): $sluiced_last"

awk -v lo="$(minof "${times[none]}")" -v hi="$(maxof "${times[none]}")" -v b="$base" 'BEGIN {
  s = (hi - lo) / b
  if (s > 0.03) printf "NOISE: none alone spreads %.1f%% between rounds; differences below that are not significant\n", 100 * s }'
if [ -n "${times[sluice]:-}" ]; then
  s=$(median "${times[sluice]}")
  awk -v s="$s" -v b="$base" 'BEGIN {
    if (s / b > 1.03) printf "TARGET MISSED: sluice %.3fx > 1.03x\n", s / b }'
  if [ -n "${times[unwatched]:-}" ]; then
    u=$(median "${times[unwatched]}")
    awk -v u="$u" -v b="$base" 'BEGIN {
      if (u / b > 1.03) printf "TARGET MISSED: unwatched %.3fx > 1.03x (nothing measurable)\n", u / b }'
  fi
  for peer in auditd bpftrace; do
    [ -n "${times[$peer]:-}" ] || continue
    p=$(median "${times[$peer]}")
    awk -v s="$s" -v p="$p" -v n="$peer" 'BEGIN {
      if (s >= p) printf "TARGET MISSED: sluice (%.1f ms) not below %s (%.1f ms)\n", s / 1e6, n, p / 1e6 }'
  done
fi
exit 0
