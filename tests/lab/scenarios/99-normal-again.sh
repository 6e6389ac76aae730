#!/bin/bash
# title: normal traffic again, after every attack: still no alert
# expect-monitor: none
# expect-enforce: none
# block: none
# target: vectors
# The same traffic as 01: its script, so the two cannot drift apart.
exec bash "$(dirname "$0")/01-normal-sync.sh"
