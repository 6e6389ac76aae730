#!/bin/bash
# The sluice attack lab: a CRM -> LLM stack in two network namespaces.
#   lab.sh up     build it (fails if any part of it already exists: run `down` first)
#   lab.sh down   tear down everything `up` (and run.sh) made; idempotent, safe to re-run
#   lab.sh status what is up
# Namespaces: slab-host (the "LLM host": workloads in cgroups /sluice-lab/*), slab-net (the
# services), joined by one veth pair on 10.77.0.0/24. Nothing touches the host's interfaces.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

names() {  # name -> address, served by dnsmasq
  cat <<NAMES
acme.my.salesforce.com $CRM_IP
login.salesforce.com $CRM_IP
vectors.internal $VEC_IP
s3.lab.internal $S3_IP
queue.lab.internal $QUEUE_IP
paste.evil.test $EVIL_IP
drop.evil.test $DROP_IP
acme-my-salesforce.evil.test $ROGUE_IP
NAMES
}

start_bg() {  # start_bg NAME CMD...: background process, pid in $STATE/pids/NAME
  local name=$1; shift
  "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name"
}

wait_tcp() {  # wait_tcp ADDR PORT: until something listens (from the host namespace)
  for _ in $(seq 100); do
    if on_host $PY -c "import socket,sys; socket.create_connection(('$1', $2), 0.5)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "lab: nothing listens on $1:$2" >&2; return 1
}

make_pki() {
  local d=$STATE/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=sluice lab CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  local san
  san=$(names | awk '{printf "%sDNS:%s", (NR > 1 ? "," : ""), $1}')
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=sluice lab" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$san" >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
  cp "$d/ca.pem" "$DATA/ca.pem"
}

make_data() {
  mkdir -p "$DATA"/{cache,logs,vectors,secrets}
  for i in 0 1 2 3; do head -c 1048576 /dev/urandom >"$DATA/cache/kv-000$i.bin"; done
  head -c 3145728 /dev/urandom >"$DATA/vectors/index-crm.bin"
  $PY - "$DATA/logs/inference.log" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write("2026-11-29T10:%02d:%02dZ completion user=contact%d@customer%d.example prompt_tokens=%d "
                "prompt=\"summarise account 0015g0000%06dAAA renewal risk\"\n" % (i // 60 % 60, i % 60, i, i % 7, 100 + i, i))
PYEOF
  echo "00D5g000004Cc1E!AQ0AQH7eLx2sLABtokenLAB$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    >"$DATA/secrets/crm-token"
  chmod 600 "$DATA/secrets/crm-token"
}

up() {
  if [ -z "$CG_ROOT" ]; then echo "lab: no cgroup v2 mount" >&2; exit 1; fi
  if ip netns list | grep -qw "$NS_HOST" || [ -e "$STATE" ] || [ -e "$CG_LAB" ]; then
    echo "lab: already (partly) up; run '$0 down' first" >&2; exit 1
  fi
  for t in ip dnsmasq openssl curl tar $PY; do
    command -v "$t" >/dev/null || { echo "lab: $t is not installed" >&2; exit 1; }
  done
  trap 'echo "lab: up failed, tearing down" >&2; down' ERR
  mkdir -p "$STATE"/{pids,logs,servers,run} "$DATA"
  make_data
  make_pki
  # Namespaces and the veth pair, created directly inside them.
  ip netns add "$NS_HOST"
  ip netns add "$NS_NET"
  ip link add slab-h0 netns "$NS_HOST" type veth peer name slab-n0 netns "$NS_NET"
  ip -n "$NS_HOST" link set lo up
  ip -n "$NS_NET" link set lo up
  ip -n "$NS_HOST" addr add "$HOST_IP/24" dev slab-h0
  ip -n "$NS_NET" addr add 10.77.0.1/24 dev slab-n0
  for a in $CRM_IP $VEC_IP $S3_IP $QUEUE_IP $DNS_IP $EVIL_IP $DROP_IP $ROGUE_IP; do
    ip -n "$NS_NET" addr add "$a/32" dev slab-n0
  done
  ip -n "$NS_HOST" link set slab-h0 up
  ip -n "$NS_NET" link set slab-n0 up
  # The host namespace's resolver: `ip netns exec` bind-mounts this over /etc/resolv.conf.
  mkdir -p "/etc/netns/$NS_HOST"
  echo "nameserver $DNS_IP" >"/etc/netns/$NS_HOST/resolv.conf"
  cp "/etc/netns/$NS_HOST/resolv.conf" "$STATE/resolv.conf"   # for sluiced --resolv-conf
  # DNS.
  local args=()
  while read -r n a; do args+=("--host-record=$n,$a"); done < <(names)
  args+=("--address=/tunnel.evil.test/$EVIL_IP")   # every name under it: the DNS tunnel's zone
  start_bg dnsmasq ip netns exec "$NS_NET" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
    --user=root --pid-file= --bind-interfaces --listen-address=$DNS_IP --port=53 \
    --log-queries --log-facility=- "${args[@]}"
  # Services (in slab-net, no watched cgroup).
  local pki=$STATE/pki srv="$PY $LAB_DIR/bin/lab_server.py"
  start_bg crm     ip netns exec "$NS_NET" $srv https crm $CRM_IP 443 "$pki/server.pem" "$pki/server.key" "$STATE"
  start_bg vectors ip netns exec "$NS_NET" $srv https vectors $VEC_IP 6333 "$pki/server.pem" "$pki/server.key" "$STATE"
  start_bg s3      ip netns exec "$NS_NET" $srv https s3 $S3_IP 443 "$pki/server.pem" "$pki/server.key" "$STATE"
  start_bg paste   ip netns exec "$NS_NET" $srv https paste $EVIL_IP 443 "$pki/server.pem" "$pki/server.key" "$STATE"
  start_bg rogue   ip netns exec "$NS_NET" $srv https rogue $ROGUE_IP 443 "$pki/server.pem" "$pki/server.key" "$STATE"
  start_bg queue   ip netns exec "$NS_NET" $srv tcp queue $QUEUE_IP 9092 "$STATE"
  start_bg drop    ip netns exec "$NS_NET" $srv tcp drop $DROP_IP 9000 "$STATE"
  # Workload cgroups, and the long-lived inference server in its own.
  mkdir -p "$CG_LAB"/{crm-sync,inference,vector-db,admin}
  start_bg inference in_cgroup inference $PY "$LAB_DIR/bin/inference_server.py" $HOST_IP
  wait_tcp $CRM_IP 443; wait_tcp $VEC_IP 6333; wait_tcp $S3_IP 443; wait_tcp $EVIL_IP 443
  wait_tcp $ROGUE_IP 443; wait_tcp $QUEUE_IP 9092; wait_tcp $DROP_IP 9000; wait_tcp $HOST_IP 8000
  # Reset the byte logs: the readiness probes above are not traffic.
  for f in "$STATE"/servers/*.log; do : >"$f"; done
  on_host $PY -c "import socket; print('lab: dns ok:', socket.gethostbyname('acme.my.salesforce.com'))"
  trap - ERR
  echo "lab: up (state $STATE, data $DATA, cgroups $CG_LAB, namespaces $NS_HOST $NS_NET)"
}

alive() {  # a zombie is dead (its parent may be a pid 1 that never reaps)
  [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

kill_pidfile() {
  local f=$1 pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  [ -n "$pid" ] || return 0
  # `ip netns exec` execs its command: the pid is the program itself. Children first.
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

down() {
  set +e
  # sluiced first (run.sh writes its pid here), so that its probes detach cleanly.
  [ -f "$STATE/pids/sluiced" ] && kill_pidfile "$STATE/pids/sluiced"
  for f in "$STATE"/pids/*; do [ -e "$f" ] && kill_pidfile "$f"; done
  # Everything still in a lab cgroup (workload children, scenario leftovers).
  if [ -d "$CG_LAB" ]; then
    for d in $(find "$CG_LAB" -depth -type d); do
      for _ in $(seq 50); do
        pids=$(cat "$d/cgroup.procs" 2>/dev/null)
        [ -z "$pids" ] && break
        kill -KILL $pids 2>/dev/null; sleep 0.1
      done
      rmdir "$d" 2>/dev/null
    done
  fi
  # Processes left in the namespaces (none if the pid files were complete).
  for ns in "$NS_HOST" "$NS_NET"; do
    if ip netns list | grep -qw "$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
      ip netns del "$ns"   # takes the veth pair with it
    fi
  done
  rm -rf "/etc/netns/$NS_HOST"
  # A pin dir left by a killed sluiced keeps its policy in force: release it.
  rm -rf "$PIN_DIR"
  rm -rf "$STATE" "$DATA" /tmp/sluice-lab-*
  [ -d "$CG_LAB" ] && echo "lab: warning: $CG_LAB could not be removed" >&2
  echo "lab: down"
  return 0
}

status() {
  ip netns list | grep -E "$NS_HOST|$NS_NET" || echo "no lab namespaces"
  [ -d "$CG_LAB" ] && find "$CG_LAB" -name cgroup.procs -exec sh -c 'echo "$1: $(cat "$1" | tr "\n" " ")"' _ {} \;
  ls "$STATE/pids" 2>/dev/null
}

case "${1:-}" in
  up) [ "$(id -u)" = 0 ] || { echo "lab: needs root" >&2; exit 77; }; up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
