#!/bin/bash
# title: the sync service's bearer token replayed by another process (admin cgroup) to the CRM
# expect-monitor: token_misuse
# expect-enforce: token_misuse
# block: severed
# target: crm
# Needs 01-normal-sync first in the same sluiced run: the sync service is the token's first user.
source "$(dirname "$0")/../lib.sh"
head -c 2097152 /dev/urandom > /tmp/sluice-lab-upload.bin
echo ATTEMPT=2097152
in_cgroup admin sh -c "sleep 0.5; echo T0=\$(date +%s%3N); exec curl -sS --max-time 30 \
  --limit-rate 256k --cacert $DATA/ca.pem -o /dev/null -w 'HTTP %{http_code}, sent %{size_upload} B\n' \
  -H \"Authorization: Bearer \$(cat $DATA/secrets/crm-token)\" -T /tmp/sluice-lab-upload.bin \
  https://acme.my.salesforce.com/services/data/v59.0/sobjects/Contact/bulk"
echo "curl exit $?"
# A severed flow never ends at the server (its packets are dropped both ways): the CRM server
# logs the bytes it got when its 4 s read timeout fires.
sleep 5
rm -f /tmp/sluice-lab-upload.bin
