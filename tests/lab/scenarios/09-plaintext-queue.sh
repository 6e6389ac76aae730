#!/bin/bash
# title: sync service writes the records to the queue in plaintext (Kafka Produce, no TLS)
# expect-monitor: plaintext_sync
# expect-enforce: plaintext_sync
# block: none
# target: queue
source "$(dirname "$0")/../lib.sh"
in_cgroup crm-sync $PY "$LAB_DIR/bin/crm_sync.py" --queue queue.lab.internal:9092
