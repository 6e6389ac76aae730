#!/bin/busybox sh
# /init of the test VM (busybox sh; no python in the guest). Mounts what sluiced needs, starts
# sluiced in enforce mode with a cgroup-selected workload, runs the connect client inside and
# outside that cgroup, checks the alerts, reads a sensitive file through every read path; then
# starts sluiced again with --hooks fallback and reads the file the same ways (the preferred
# hooks and the fallbacks must count the same bytes), prints one machine-readable result block on the console
# between SLUICE-VM-RESULT-BEGIN and SLUICE-VM-RESULT-END (key=value lines), and powers off.
# Copied into the initramfs by vmtests/run.sh.

/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /tmp /run /etc
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

ALLOWED=192.0.2.1   # TEST-NET-1 on lo: not loopback for sluice (docs/rules.md)
DENIED=192.0.2.2
PORT=8080
CG=/sys/fs/cgroup/sluicevm
W=/tmp/vm
mkdir -p $W/state
T0=$(cut -d' ' -f1 /proc/uptime)

R=$W/result
res() { echo "$1=$2" >> $R; }
: > $R

res kernel "$(uname -r)"
res boot ok
res lsm "$(cat /sys/kernel/security/lsm 2>/dev/null || echo unknown)"
[ -e /sys/kernel/btf/vmlinux ] && res btf yes || res btf no
grep -q ' /sys/kernel/tracing ' /proc/mounts && res tracefs yes || res tracefs no

ip link set lo up
ip addr add $ALLOWED/32 dev lo
ip addr add $DENIED/32 dev lo
echo "nameserver 192.0.2.53" > /etc/resolv.conf
mkdir -p $CG
# A sensitive file: 100000 bytes under the watched prefix.
mkdir -p $W/cache
dd if=/dev/urandom of=$W/cache/kv.bin bs=1000 count=100 2>/dev/null
# A persistent TCP server on every address (busybox nc: -ll with -e).
nc -ll -p $PORT -e /bin/cat >/dev/null 2>&1 &
NCPID=$!

cat > $W/rules.yaml <<EOF
version: 1
files:
  - class: inference-cache
    paths: ["$W/cache"]
alerts:
  aggregate_window: 0
workloads:
  - name: vm-cgroup
    mode: enforce
    selector:
      cgroup: "/sluicevm"
    egress:
      allow:
        - cidr: $ALLOWED/32
          ports: [$PORT]
EOF

in_cg() { # FAMILY ADDR: the client inside the workload's cgroup
	sh -c "echo \$\$ > $CG/cgroup.procs && exec /bin/sluice_test_connect $1 $2 $PORT" 2>&1 | tr '\n' ' ' | sed 's/ *$//'
}
outside() {
	/bin/sluice_test_connect $1 $2 $PORT 2>&1 | tr '\n' ' ' | sed 's/ *$//'
}

# Baseline before sluiced: both addresses reachable from the cgroup.
res pre_allowed "$(in_cg inet $ALLOWED)"
res pre_denied "$(in_cg inet $DENIED)"

/bin/sluiced --rules $W/rules.yaml --mode enforce --alerts $W/alerts.jsonl \
	--api-socket $W/api.sock --pin-dir /sys/fs/bpf/sluice-vm --state-dir $W/state \
	--events $W/events.jsonl >/dev/null 2>$W/sluiced.log &
SPID=$!
wait_ready() { # LOG PID: "yes" once sluiced is ready, else "no"
	i=0
	while [ $i -lt 1200 ]; do   # up to 120 s (TCG is slow)
		if grep -q 'sluiced: ready' $1; then echo yes; return; fi
		kill -0 $2 2>/dev/null || break
		usleep 100000
		i=$((i + 1))
	done
	echo no
}
stop_sluiced() { # PID KEY: SIGTERM, wait, record the exit status under KEY
	kill -TERM $1
	i=0
	while kill -0 $1 2>/dev/null && [ $i -lt 300 ]; do usleep 100000; i=$((i + 1)); done
	if kill -0 $1 2>/dev/null; then res $2 hung; kill -KILL $1; else
		wait $1; res $2 $?; fi
}
# Reads the sensitive file through each path from inside the workload's cgroup, waits for the
# totals sluiced reports for each reader (after it exits), records them as
# file_TAG_MODE=read:N,mapped:M,class:C (or "missing").
file_checks() { # TAG EVENTS
	pids=""
	for mode in read pread readv preadv2 mmap sendfile uring-read uring-open uring-fixed uring-splice; do
		out="$(sh -c "echo \$\$ > $CG/cgroup.procs && exec /bin/sluice_test_fileread $mode $W/cache/kv.bin" 2>&1)"
		pid="$(echo "$out" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')"
		pids="$pids $mode:${pid:-0}"
	done
	i=0
	while [ $i -lt 300 ]; do   # up to 30 s: totals are reaped after the readers exit
		n=0
		for mp in $pids; do
			grep '"type":"file_read"' $2 2>/dev/null | grep -q "\"pid\":${mp#*:}," && n=$((n + 1))
		done
		[ $n -eq 10 ] && break
		usleep 100000
		i=$((i + 1))
	done
	for mp in $pids; do
		line="$(grep '"type":"file_read"' $2 2>/dev/null | grep "\"pid\":${mp#*:}," | head -1)"
		if [ -z "$line" ]; then res file_$1_${mp%%:*} missing; continue; fi
		r="$(echo "$line" | sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p')"
		m="$(echo "$line" | sed -n 's/.*"bytes_mapped":\([0-9]*\).*/\1/p')"
		c="$(echo "$line" | sed -n 's/.*"class":"\([^"]*\)".*/\1/p')"
		res file_$1_${mp%%:*} "read:$r,mapped:$m,class:$c"
	done
}
# A server in the workload's cgroup accepting through an io_uring (multishot: its completions
# name no request), a client outside connecting to it: records uring_accept_TAG=ok when the
# agent reported the server's accepted flow, else missing.
uring_accept_check() { # TAG EVENTS PORT
	sh -c "echo \$\$ > $CG/cgroup.procs && exec /bin/sluice_test_uring_server multishot 127.0.0.1 $3 100 1" > $W/uring-$1.out 2>&1 &
	upid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q LISTENING $W/uring-$1.out; do usleep 100000; i=$((i + 1)); done
	/bin/sluice_test_connect inet 127.0.0.1 $3 > /dev/null 2>&1
	got=missing
	i=0
	while [ $i -lt 100 ]; do   # up to 10 s
		if grep '"kind":"accepted"' $2 2>/dev/null | grep -q "\"pid\":$upid,"; then got=ok; break; fi
		usleep 100000
		i=$((i + 1))
	done
	kill $upid 2>/dev/null
	res uring_accept_$1 $got
}
ready=$(wait_ready $W/sluiced.log $SPID)
T1=$(cut -d' ' -f1 /proc/uptime)
res sluiced_ready $ready
res sluiced_start_s "$(awk -v a=$T0 -v b=$T1 'BEGIN{printf "%.1f", b-a}')"
res probe_line "$(grep 'sluiced: feature probe:' $W/sluiced.log | head -1)"
res optional_missing "$(grep 'sluiced: optional hooks not available:' $W/sluiced.log | head -1)"
res probes "$(grep 'sluiced: cgroup v2 at' $W/sluiced.log | head -1)"

if [ $ready = yes ]; then
	res allowed "$(in_cg inet $ALLOWED)"
	res denied "$(in_cg inet $DENIED)"
	res denied_v4mapped "$(in_cg inet6 $DENIED)"
	res denied_udp "$(in_cg udp $DENIED)"
	res outside_denied "$(outside inet $DENIED)"
	# Three blocked attempts (inet, inet6 v4-mapped, udp): wait for their alerts.
	i=0
	while [ $i -lt 100 ]; do
		n=$(grep -c '"Blocked"' $W/alerts.jsonl 2>/dev/null)
		[ "${n:-0}" -ge 3 ] && break
		usleep 100000
		i=$((i + 1))
	done
	res alerts_total "$(grep -c . $W/alerts.jsonl 2>/dev/null || echo 0)"
	res alerts_blocked_egress "$(grep '"Blocked"' $W/alerts.jsonl 2>/dev/null | grep -c 'unexpected_egress')"
	res alert_allowed_dst "$(grep -c "\"$ALLOWED\"" $W/alerts.jsonl 2>/dev/null)"
	res status "$(/bin/sluicectl --socket $W/api.sock status 2>&1 | head -3 | tr '\n' ' ')"
	file_checks auto $W/events.jsonl
	uring_accept_check auto $W/events.jsonl 9500
	stop_sluiced $SPID sluiced_exit
	res pins_left "$(ls /sys/fs/bpf/sluice-vm 2>/dev/null | tr '\n' ' ')"
	res post_denied "$(in_cg inet $DENIED)"

	# The same file checks on the tracepoint fallbacks of this kernel.
	/bin/sluiced --rules $W/rules.yaml --mode monitor --alerts $W/alerts-fb.jsonl \
		--api-socket $W/api-fb.sock --pin-dir none --hooks fallback \
		--events $W/events-fb.jsonl >/dev/null 2>$W/sluiced-fb.log &
	FPID=$!
	res fallback_ready "$(wait_ready $W/sluiced-fb.log $FPID)"
	res fallback_probe_line "$(grep 'sluiced: feature probe:' $W/sluiced-fb.log | head -1)"
	file_checks fallback $W/events-fb.jsonl
	uring_accept_check fallback $W/events-fb.jsonl 9501
	stop_sluiced $FPID fallback_exit
else
	kill -KILL $SPID 2>/dev/null
	# Diagnosis: sluiced keeps only the first 4 KiB of libbpf's verifier log. bpftool (when
	# run.sh found one) loads the same object and prints the whole log; keep its reason lines.
	if [ -x /bin/bpftool ] && [ -e /sluice_sensor.bpf.o ]; then
		mkdir -p /sys/fs/bpf/diag
		bpftool -d prog loadall /sluice_sensor.bpf.o /sys/fs/bpf/diag > $W/bpftool.log 2>&1
		res bpftool_rc $?
		res verifier_prog "$(grep -o "prog '[a-z_0-9]*': failed to load[^\n]*" $W/bpftool.log | head -1)"
		# The verifier's reason is the last log line before "processed N insns" / END marker.
		# The verifier's reason: the lines just before "verification time" in the log block
		# of the program that failed (the last block before "failed to load").
		res verifier_reason "$(awk '/-- BEGIN PROG LOAD LOG --/{n=0; next} /verification time/{stop=1} !stop && n<100000 {l[n++]=$0} /-- END PROG LOAD LOG --/{stop=0; last=""; for(i=(n>3?n-3:0);i<n;i++) if (l[i] !~ /^(stack depth|processed|-- END)/) last=last l[i] " // "} /failed to load/{print last; exit}' $W/bpftool.log)"
		rm -rf /sys/fs/bpf/diag
	fi
fi
T2=$(cut -d' ' -f1 /proc/uptime)
res guest_s "$(awk -v b=$T2 'BEGIN{printf "%.1f", b}')"
kill $NCPID 2>/dev/null

echo
echo SLUICE-VM-RESULT-BEGIN
cat $R
echo SLUICE-VM-RESULT-END
echo SLUICE-VM-LOG-BEGIN
sed 's/^/sluiced| /' $W/sluiced.log
[ -e $W/sluiced-fb.log ] && sed 's/^/sluiced-fb| /' $W/sluiced-fb.log
sed 's/^/alert| /' $W/alerts.jsonl 2>/dev/null
[ -e $W/bpftool.log ] && grep -v -E '^(libbpf: )?(CO-RE|sec |elf:|map |prog .*: relo|.*relocating)' $W/bpftool.log | tail -60 | sed 's/^/bpftool| /'
echo SLUICE-VM-LOG-END
sync
poweroff -f
