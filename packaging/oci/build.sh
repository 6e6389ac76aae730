#!/usr/bin/env bash
# Builds the sluice OCI image with buildah (no Docker daemon), distroless-style: from scratch,
# holding only sluiced, sluicectl, the shared libraries they load, the CA bundle for the HTTPS
# and syslog sinks, and the default rules and configuration. No shell, no package manager.
#
#   packaging/oci/build.sh --sluiced PATH --sluicectl PATH [--tag sluice:VERSION]
#                          [--archive FILE.tar]   (also write an OCI archive)
#
# Needs root (buildah with the vfs storage driver, which works inside containers too).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
sluiced="" sluicectl="" tag="sluice:$version" archive=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sluiced) sluiced="$2"; shift 2 ;;
    --sluicectl) sluicectl="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$sluiced" ] && [ -x "$sluicectl" ] || { echo "build.sh: --sluiced and --sluicectl are required" >&2; exit 2; }
export STORAGE_DRIVER=vfs
staging="$(mktemp -d)"
container=""
cleanup() {
  [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$staging"
}
trap cleanup EXIT

# The binaries, stripped, and every library they load at the path the loader looks for it.
install -D -m 0755 "$sluiced" "$staging/usr/sbin/sluiced"
install -D -m 0755 "$sluicectl" "$staging/usr/bin/sluicectl"
strip --strip-unneeded "$staging/usr/sbin/sluiced" "$staging/usr/bin/sluicectl"
for bin in "$sluiced" "$sluicectl"; do
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$staging$lib"
done
install -D -m 0644 "$root/rules/default.yaml" "$staging/etc/sluice/rules.d/default.yaml"
install -D -m 0644 "$root/packaging/etc/sluiced.yaml" "$staging/etc/sluice/sluiced.yaml"
[ -f /etc/ssl/certs/ca-certificates.crt ] &&
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$staging/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/nonexistent\n' > "$staging/etc/passwd"
printf 'root:x:0:\n' > "$staging/etc/group"
mkdir -p "$staging/tmp" "$staging/var/lib/sluice" "$staging/var/log/sluice" "$staging/run/sluice"
chmod 1777 "$staging/tmp"

container="$(buildah from scratch)"
buildah copy "$container" "$staging/" / >/dev/null
buildah config \
  --entrypoint '["/usr/sbin/sluiced"]' \
  --cmd '--rules=/etc/sluice/rules.d --mode=monitor --alerts=/var/log/sluice/alerts.jsonl --state-dir=/var/lib/sluice --config=/etc/sluice/sluiced.yaml --metrics-listen=0.0.0.0:9464' \
  --port 9464/tcp \
  --user 0:0 \
  --workingdir / \
  --env PATH=/usr/sbin:/usr/bin \
  --label org.opencontainers.image.title=sluice \
  --label org.opencontainers.image.description="eBPF exfiltration sensor for hosts where CRM data meets self-hosted LLMs" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.licenses="GPL-2.0-only (BPF programs)" \
  --label org.opencontainers.image.source="packaging/oci/build.sh" \
  "$container"
buildah commit --quiet --rm "$container" "$tag" >/dev/null
container=""
if [ -n "$archive" ]; then
  rm -f "$archive"
  buildah push --quiet "$tag" "oci-archive:$archive:$tag" >/dev/null
fi
echo "built $tag"
