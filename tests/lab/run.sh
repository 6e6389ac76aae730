#!/bin/bash
# Runs the attack lab end to end: lab up, sluiced in each mode, every scenario, the table, lab
# down (also on failure and Ctrl-C).
#   run.sh [--mode monitor|enforce|both] [--sluiced PATH] [--sluicectl PATH] [--only NN,NN]
#          [--keep-logs DIR]
# Exit 0 when every scenario detected (and, in enforce mode, blocked) what it declares and the
# normal traffic raised nothing; 1 on any miss or false positive; 77 when not root.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec /usr/bin/python3 "$here/bin/runner.py" "$@"
