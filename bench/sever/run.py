#!/usr/bin/env python3
"""bench/sever: how long after a conviction the kernel drops the first packet of the flow.

Needs root. Starts sluiced --mode enforce with one enforce-mode workload whose byte budget to a
local sink is small, then runs ROUNDS uploads from that workload's cgroup in a network namespace;
each crosses the budget, volume_anomaly convicts the flow, and sluiced severs it. sluiced logs
the time between its decision and the first packet cgroup_skb dropped; this prints the
distribution, the ratio to a 1 ms budget (DESIGN §6: "within milliseconds"), and how much of each
upload still reached the sink. A measurement, never a pass/fail.

  sudo bench/sever/run.py [--build build] [--rounds 10]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "privileged"))
from harness import run, read_text, cgroup2_root, Sluiced, remove_cgroup_tree  # noqa: E402

SINK_NET = "192.0.2."  # TEST-NET-1, only on the namespace's loopback: one address per round
PORT = 9099
UPLOAD = 8 * 1024 * 1024
BUDGET = "256KiB"

SINK = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("LISTENING", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    n = 0
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
    except OSError:
        pass
    print("RECEIVED %d" % n, flush=True)
    c.close()
"""

# Sends UPLOAD bytes over ~3 s: long enough for the agent's once-a-second read of the flow totals.
UPLOADER = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
total, sent, chunk = int(sys.argv[3]), 0, b"y" * 32768
try:
    while sent < total:
        s.sendall(chunk)
        sent += len(chunk)
        time.sleep(0.012)
    print("COMPLETED %d" % sent)
except OSError as e:
    print("CUT %d %s" % (sent, type(e).__name__))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sever needs root")
    sluiced = os.path.join(args.build, "agent", "cmd", "sluiced", "sluiced")
    if not os.path.exists(sluiced):
        sys.exit("%s not found: build the tree first (README)" % sluiced)
    tag = "sluicesev%d" % os.getpid()
    root = cgroup2_root()
    cgroup_rel = "/" + tag
    tmp = tempfile.mkdtemp(prefix="sluice-sever-")
    sink = agent = None
    try:
        run(["ip", "netns", "add", tag])
        ns = ["ip", "netns", "exec", tag]
        run(ns + ["ip", "link", "set", "lo", "up"])
        addrs = [SINK_NET + str(i + 1) for i in range(args.rounds)]
        for a in addrs:
            run(ns + ["ip", "addr", "add", a + "/32", "dev", "lo"])
        os.makedirs(root + cgroup_rel)
        log = os.path.join(tmp, "sink.log")
        with open(log, "w") as out:
            sink = subprocess.Popen(ns + [sys.executable, "-c", SINK, "0.0.0.0", str(PORT)],
                                    stdout=out, stderr=subprocess.STDOUT)
        while "LISTENING" not in read_text(log):
            time.sleep(0.05)
        # A budget per address: every round crosses a budget of its own (a budget reports its
        # crossing once per window).
        budgets = ", ".join("{to: %s/32, bytes: %s, window: 1h}" % (a, BUDGET) for a in addrs)
        rules = """version: 1
alerts: {{aggregate_window: 0}}
workloads:
  - name: exporter
    mode: enforce
    selector: {{cgroup: "{cg}"}}
    egress: {{allow: [{{cidr: {net}0/24, ports: [{port}]}}]}}
    budgets: [{budgets}]
""".format(cg=cgroup_rel, net=SINK_NET, port=PORT, budgets=budgets)
        agent = Sluiced(sluiced, tmp, rules, "enforce")
        outcomes = []
        for i in range(args.rounds):
            inner = "echo $$ > %s/cgroup.procs && exec %s %s -c '%s' %s %d %d" % (
                root + cgroup_rel, " ".join(ns), sys.executable, UPLOADER, addrs[i], PORT,
                UPLOAD)
            outcomes.append(run(["sh", "-c", inner], timeout=60).stdout.strip())
            time.sleep(0.3)
        deadline = time.time() + 5
        while time.time() < deadline:
            lat = [float(m) for m in re.findall(r"first packet dropped ([0-9.]+) ms",
                                                agent.log())]
            if len(lat) >= args.rounds:
                break
            time.sleep(0.2)
        received = [int(l.split()[1]) for l in read_text(log).splitlines()
                    if l.startswith("RECEIVED")]
        cut = sum(1 for o in outcomes if o.startswith("CUT"))
        print("sever: %d upload(s) of %d MiB over a %s budget; %d cut, %d completed"
              % (args.rounds, UPLOAD >> 20, BUDGET, cut, len(outcomes) - cut))
        if lat:
            med = statistics.median(lat)
            print("sever: decision -> first dropped packet: min %.3f ms, median %.3f ms, "
                  "max %.3f ms over %d flow(s) (median / 1 ms budget: %.2fx)"
                  % (min(lat), med, max(lat), len(lat), med / 1.0))
        else:
            print("sever: no drop was reported; the agent's log and alerts:")
            for line in agent.log().splitlines():
                if "sever" in line:
                    print("  " + line)
            for a in agent.alerts_now():
                print("  %s %s %s" % (a["finding_info"]["analytic"]["name"], a["disposition"],
                                      a["finding_info"]["title"]))
        if received:
            print("sever: the sink received median %.1f%% of each upload"
                  % (100.0 * statistics.median(received) / UPLOAD))
    finally:
        if agent:
            agent.stop()
        if sink:
            sink.kill()
            sink.wait()
        remove_cgroup_tree(root + cgroup_rel)
        run(["ip", "netns", "del", tag], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
