#!/usr/bin/env bash
# Boots the Debian kernels of vmtests/kernels.txt in qemu with a busybox initramfs holding the
# built sluiced, sluicectl, connect client, file reader and io_uring server (and every shared
# library they load),
# runs the in-VM checks of vmtests/init.sh and prints one report line per kernel.
#
# Usage: vmtests/run.sh [--kernel NAME]... [--build DIR] [--sluiced P] [--sluicectl P]
#                       [--client P] [--reader P] [--uring-server P] [--accel kvm|tcg|auto]
#                       [--timeout SECONDS] [--cache DIR]
#   --kernel NAME   only this kernel of kernels.txt (repeatable; default: all)
#   --build DIR     build tree with the five binaries (default: $SLUICE_BUILD_DIR or ../build)
#   --accel         tcg (default, or $SLUICE_VM_ACCEL), kvm, or auto (kvm when /dev/kvm is
#                   usable). On the dev host (nested KVM, -cpu host) the guest died at once:
#                   "KVM internal error. Suberror: 1 / emulation failure".
#   --timeout       per-kernel qemu wall-clock limit (default 900 s)
#   --cache DIR     downloaded .deb and extracted vmlinuz (default vmtests/.cache)
#   --bpf-obj P     sluice_sensor.bpf.o, loaded by bpftool in the guest only to print the whole
#                   verifier log when sluiced fails to load (default: BUILD/bpf/...)
#   --logdir DIR    where each kernel's console log is kept (default CACHE/logs)
# Does not need root (TCG). Needs qemu-system-x86_64 (package qemu-system-x86), apt-get,
# dpkg-deb, and busybox-static (fetched into the cache with apt-get download if not installed).
# Exit: 0 every kernel passed, 1 a check failed, 77 qemu missing (skip; a failure when
# SLUICE_REQUIRE_VM=1 or SLUICE_REQUIRE_PRIVILEGED=1).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
KERNELS=()
BUILD="${SLUICE_BUILD_DIR:-$HERE/../build}"
SLUICED="" SLUICECTL="" CLIENT="" READER="" SERVER="" BPFOBJ=""
ACCEL="${SLUICE_VM_ACCEL:-tcg}"
TIMEOUT=900
CACHE="$HERE/.cache"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) KERNELS+=("$2"); shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --sluiced) SLUICED="$2"; shift 2 ;;
    --sluicectl) SLUICECTL="$2"; shift 2 ;;
    --client) CLIENT="$2"; shift 2 ;;
    --reader) READER="$2"; shift 2 ;;
    --uring-server) SERVER="$2"; shift 2 ;;
    --accel) ACCEL="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --bpf-obj) BPFOBJ="$2"; shift 2 ;;
    --logdir) export SLUICE_VM_LOGDIR="$2"; shift 2 ;;
    -h|--help) sed -n 2,23p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SLUICED="${SLUICED:-$BUILD/agent/cmd/sluiced/sluiced}"
SLUICECTL="${SLUICECTL:-$BUILD/agent/cmd/sluicectl/sluicectl}"
CLIENT="${CLIENT:-$BUILD/tests/sluice_test_connect}"
READER="${READER:-$BUILD/tests/sluice_test_fileread}"
SERVER="${SERVER:-$BUILD/tests/sluice_test_uring_server}"
for b in "$SLUICED" "$SLUICECTL" "$CLIENT" "$READER" "$SERVER"; do
  [ -x "$b" ] || { echo "run.sh: missing binary $b (use --build DIR)" >&2; exit 2; }
done
if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "run.sh: qemu-system-x86_64 not found (apt-get install qemu-system-x86); skipping" >&2
  [ "${SLUICE_REQUIRE_VM:-${SLUICE_REQUIRE_PRIVILEGED:-0}}" = 1 ] && exit 1
  exit 77
fi
if [ "$ACCEL" = auto ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
mkdir -p "$CACHE"
WORK="$(mktemp -d /tmp/sluice-vm.XXXXXX)"
QPID=""
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# apt-get download PACKAGE into the cache (as root, apt would drop to _apt: keep it unsandboxed).
fetch_deb() {
  local pkg="$1" deb
  deb="$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | head -1 || true)"
  if [ -z "$deb" ]; then
    (cd "$CACHE" && apt-get download -o APT::Sandbox::User=root "$pkg" >&2) || return 1
    deb="$(ls "$CACHE/${pkg}"_*.deb | head -1)"
  fi
  echo "$deb"
}

# --- initramfs (the same for every kernel) --------------------------------------------------
BUSYBOX="$(command -v busybox 2>/dev/null || true)"
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  BUSYBOX="$CACHE/busybox-static/bin/busybox"
  if [ ! -x "$BUSYBOX" ]; then
    deb="$(fetch_deb busybox-static)"
    dpkg-deb -x "$deb" "$CACHE/busybox-static"
  fi
fi
ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib64,lib/x86_64-linux-gnu}
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
# Debug info off: sluiced is ~70 MB with it, and the initramfs sits in guest RAM.
objcopy --strip-debug "$SLUICED" "$ROOT/bin/sluiced"
objcopy --strip-debug "$SLUICECTL" "$ROOT/bin/sluicectl"
cp "$CLIENT" "$ROOT/bin/sluice_test_connect"
cp "$READER" "$ROOT/bin/sluice_test_fileread"
cp "$SERVER" "$ROOT/bin/sluice_test_uring_server"
for lib in $(ldd "$SLUICED" "$SLUICECTL" "$CLIENT" "$READER" "$SERVER" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | sort -u); do
  dest="$ROOT$lib"
  case "$lib" in /usr/lib/*) dest="$ROOT${lib#/usr}" ;; esac
  mkdir -p "$(dirname "$dest")"
  cp -L "$lib" "$dest"
done
[ -e "$ROOT/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/"
# For the diagnosis when sluiced fails to load: bpftool and the BPF object, when available.
BPFOBJ="${BPFOBJ:-$(dirname "$(dirname "$(dirname "$(dirname "$SLUICED")")")")/bpf/sluice_sensor.bpf.o}"
BPFTOOL="$(command -v bpftool || true)"
if [ -n "$BPFTOOL" ] && [ -e "$BPFOBJ" ]; then
  cp "$BPFTOOL" "$ROOT/bin/bpftool"
  cp "$BPFOBJ" "$ROOT/sluice_sensor.bpf.o"
  for lib in $(ldd "$BPFTOOL" | awk '/=> \//{print $3}'); do
    [ -e "$ROOT$lib" ] || { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; }
  done
fi
echo "root:x:0:0:root:/:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"
cp "$HERE/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 > "$WORK/initramfs.gz")
echo "run.sh: initramfs $(du -h "$WORK/initramfs.gz" | cut -f1), accel $ACCEL" >&2

# --- kernels ----------------------------------------------------------------------------------
declare -a NAMES PKGS EXPECT
while read -r name pkg expect _; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ ${#KERNELS[@]} -gt 0 ]; then
    keep=0; for k in "${KERNELS[@]}"; do [ "$k" = "$name" ] && keep=1; done
    [ $keep = 1 ] || continue
  fi
  NAMES+=("$name"); PKGS+=("$pkg"); EXPECT+=("${expect:-any}")
done < "$HERE/kernels.txt"
if [ ${#NAMES[@]} -eq 0 ]; then echo "run.sh: no kernel selected" >&2; exit 2; fi

# TCG single-threaded: with one host thread per vCPU (MTTCG) a guest's live code patching (a
# static key flipped by perf_event_open, a BPF trampoline attached) raced with the other vCPU
# executing the patched site, and a 6.12 guest died with "Oops: int3" in __schedule (CI, once in
# four runs). One thread running both vCPUs in turn keeps two CPUs in the guest and the patching
# coherent.
if [ "$ACCEL" = kvm ]; then QACCEL=(-accel kvm -cpu host); else QACCEL=(-accel tcg,thread=single -cpu max); fi
get() { sed -n "s/^$1=//p" "$2" | head -1; }
ROWS=()
FAIL=0
for idx in "${!NAMES[@]}"; do
  name="${NAMES[$idx]}" pkg="${PKGS[$idx]}" expect="${EXPECT[$idx]}"
  start=$(date +%s)
  kdir="$CACHE/$pkg"
  if [ ! -s "$kdir/vmlinuz" ]; then
    deb="$(fetch_deb "$pkg")" || { ROWS+=("$name|$pkg|download failed"); FAIL=1; continue; }
    mkdir -p "$kdir"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/vmlinuz-*'
    mv "$kdir"/boot/vmlinuz-* "$kdir/vmlinuz"
    rm -rf "$kdir/boot"
  fi
  log="$WORK/$name.console"
  echo "run.sh: booting $name ($pkg, $ACCEL)" >&2
  set +e
  timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${QACCEL[@]}" -m 2G -smp 2 \
    -nographic -no-reboot -kernel "$kdir/vmlinuz" -initrd "$WORK/initramfs.gz" \
    -append "console=ttyS0 lsm=lockdown,capability,bpf panic=-1" \
    -nic none -monitor none -serial stdio </dev/null >"$log" 2>&1 &
  QPID=$!
  wait $QPID; qrc=$?
  QPID=""
  set -e
  dur=$(( $(date +%s) - start ))
  mkdir -p "${SLUICE_VM_LOGDIR:-$CACHE/logs}"
  cp "$log" "${SLUICE_VM_LOGDIR:-$CACHE/logs}/$name.console"
  res="$WORK/$name.result"
  tr -d '\r' < "$log" | sed -n '/^SLUICE-VM-RESULT-BEGIN$/,/^SLUICE-VM-RESULT-END$/p' > "$res"
  boot="$(get boot "$res")"; ready="$(get sluiced_ready "$res")"
  probe="$(get probe_line "$res")"
  lsm="$(get lsm "$res")"
  # The feature probe's line: "preferred hooks in use: F: HOOK, ...; preferred hooks not usable:
  # F: HOOK (reason), ...; fallbacks in use: ..." (agent/cmd/sluiced). "preferred" = every family
  # (DESIGN §4: tp_btf, fexit, BPF-LSM) on its preferred hook.
  notusable="$(echo "$probe" | sed -n 's/.*preferred hooks not usable: \(.*\); fallbacks in use.*/\1/p')"
  inuse="$(echo "$probe" | sed -n 's/.*preferred hooks in use: \(.*\); preferred hooks not usable.*/\1/p')"
  if [ "$ready" != yes ] || [ -z "$probe" ]; then hooks="none (not loaded)"
  elif [ "$notusable" = none ]; then hooks="preferred ($(echo "$inuse" | tr ',' '\n' | sed 's/^ *//; s/^[^:]*: //' | tr '\n' ' ' | sed 's/ *$//'))"
  else hooks="fallback for: $notusable"; fi
  case "$expect" in
    preferred) case "$hooks" in preferred*) hookchk=ok ;; *) hookchk="fail (want preferred)" ;; esac ;;
    preferred-except=*)
      # Every family on its preferred hook but exactly the listed hooks, which this kernel
      # does not have (their families on the fallback, for that reason).
      want="$(echo "${expect#preferred-except=}" | tr ',' '\n' | sort)"
      got="$(echo "$notusable" | tr ',' '\n' | sed -n 's/^ *[^:]*: [a-z_]*\/\([a-z0-9_]*\) (\1 not in the kernel.s BTF)$/\1/p' | sort)"
      if [ "$(echo "$notusable" | tr ',' '\n' | grep -c .)" = "$(echo "$want" | grep -c .)" ] && [ "$got" = "$want" ]; then
        hookchk=ok
      else hookchk="fail (want fallback only for ${expect#preferred-except=})"; fi ;;
    fallback) case "$hooks" in fallback*) hookchk=ok ;; *) hookchk="fail (want fallback)" ;; esac ;;
    *) hookchk="n/a" ;;
  esac
  allowed="$(get allowed "$res")" denied="$(get denied "$res")"
  deny=fail
  [ "$allowed" = OK ] && [ "$denied" = "ERR EPERM" ] && [ "$(get denied_v4mapped "$res")" = "ERR EPERM" ] \
    && [ "$(get denied_udp "$res")" = "ERR EPERM" ] && [ "$(get outside_denied "$res")" = OK ] \
    && [ "$(get post_denied "$res")" = OK ] && deny=ok
  alert=fail
  [ "$(get alerts_blocked_egress "$res")" = 3 ] && [ "$(get alert_allowed_dst "$res")" = 0 ] && alert=ok
  stop=fail
  [ "$(get sluiced_exit "$res")" = 0 ] && [ -z "$(get pins_left "$res")" ] && stop=ok
  # File totals through every read path, on the feature probe's hooks and with --hooks fallback:
  # both exactly what the reader did (tests/privileged/file_reader.c).
  files=ok
  for want in read:read:100000,mapped:0 pread:read:5000,mapped:0 readv:read:7000,mapped:0 \
              preadv2:read:7000,mapped:0 mmap:read:0,mapped:40960 sendfile:read:100000,mapped:0 \
              uring-read:read:100000,mapped:0 uring-open:read:11000,mapped:0 \
              uring-fixed:read:3000,mapped:0 uring-splice:read:8000,mapped:0; do
    m="${want%%:*}" exp="${want#*:},class:inference-cache"
    for tag in auto fallback; do
      got="$(get file_${tag}_$m "$res")"
      [ "$got" = "$exp" ] || { files=fail; echo "run.sh: $name: $tag $m: got '$got', want '$exp'" >&2; }
    done
  done
  fbprobe="$(get fallback_probe_line "$res")"
  case "$fbprobe" in *"preferred hooks in use: none;"*) ;; *) files=fail
    echo "run.sh: $name: --hooks fallback still used a preferred hook: $fbprobe" >&2 ;; esac
  [ "$(get fallback_exit "$res")" = 0 ] || files=fail
  # A server in the workload accepting through an io_uring (multishot): its inbound flow is
  # opened, on both sides of the feature probe.
  uring=ok
  for tag in auto fallback; do
    [ "$(get uring_accept_$tag "$res")" = ok ] || uring=fail
  done
  verdict=PASS
  hookfail=0; case "$hookchk" in fail*) hookfail=1 ;; esac
  [ "$boot" = ok ] && [ "$ready" = yes ] && [ $hookfail = 0 ] && [ $deny = ok ] && [ $alert = ok ] && [ $stop = ok ] && [ $files = ok ] && [ $uring = ok ] || { verdict=FAIL; FAIL=1; }
  offers="BTF=$(get btf "$res"),LSM-bpf=$(case ",$lsm," in *,bpf,*) echo yes ;; *) echo no ;; esac)"
  ROWS+=("$name|$(get kernel "$res")|${boot:-no (qemu rc $qrc)}|$offers|${ready:-no}|$hooks|$expect: $hookchk|$deny|$alert|$files|$uring|$stop|${dur}s|$verdict")
  echo "run.sh: $name: $verdict in ${dur}s; ${probe:-no feature probe line}; lsm=$lsm btf=$(get btf "$res")" >&2
  if [ $verdict = FAIL ]; then
    echo "----- $name result block / sluiced log (console: ${SLUICE_VM_LOGDIR:-$CACHE/logs}/$name.console)" >&2
    grep -v '^probes=' "$res" >&2
    tr -d '\r' < "$log" | sed -n '/^SLUICE-VM-LOG-BEGIN$/,/^SLUICE-VM-LOG-END$/p' | tail -40 >&2
    [ -s "$res" ] || tail -30 "$log" >&2
  else
    sed 's/^/  /' "$res" | grep -E 'verifier_|probe_line|optional_missing|lsm=|sluiced_start_s|guest_s|^ *file_|uring_' >&2 || true
  fi
done

echo
echo "| kernel | uname -r | boot | kernel offers | sluiced ready | hooks (feature probe) | hooks check | deny checks | alert check | file bytes (preferred = fallback = exact) | io_uring accept | clean stop | duration | result |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "| $r |" | sed 's/|/ | /g; s/^ //; s/  */ /g'; done
exit $FAIL
