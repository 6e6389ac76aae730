#!/bin/bash
# title: normal traffic: CRM sync to the vector store, inference with retrieval, an admin query
# expect-monitor: none
# expect-enforce: none
# block: none
# target: vectors
source "$(dirname "$0")/../lib.sh"
set -e
# The sync service pulls 200 contacts from the CRM (TLS, bearer token) into the vector store.
in_cgroup crm-sync $PY "$LAB_DIR/bin/crm_sync.py"
# A client asks the inference server (accepted flow) which reads its KV cache and retrieves
# context from the vector store.
on_host curl -sS -XPOST -d '{"prompt":"renewal risk for Acme?"}' http://$HOST_IP:8000/v1/completions
echo
# An admin queries the CRM with the admin's own token.
in_cgroup admin sh -c "sleep 0.5; exec curl -sS -o /dev/null -w 'admin query: HTTP %{http_code}\n' \
  --cacert $DATA/ca.pem -H 'Authorization: Bearer admin-$(hostname)-token-0001' \
  https://login.salesforce.com/services/data/v59.0/limits"
