#!/bin/bash
# title: CRM records sent over TLS to a host that is neither the CRM nor allowed
# expect-monitor: unexpected_egress pii_egress
# expect-enforce: unexpected_egress
# block: zero
# target: s3
source "$(dirname "$0")/../lib.sh"
in_cgroup crm-sync $PY "$LAB_DIR/bin/crm_sync.py" --vectors s3.lab.internal:443 2>&1 | grep -v "^  "
