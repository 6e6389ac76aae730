#!/usr/bin/env python3
"""bench/syscalls: what sluice adds to one system call, by kind, for a process it watches and
for one it does not (DESIGN §9: unwatched processes 1.00x, nothing measurable).

Needs root. Runs bench/syscalls/percall.c (getppid, a 1-byte read of /dev/zero, a 1-byte pread
of a sensitive file through a held fd, an open+close of that file, a 64-byte write to /dev/null)
pinned to one CPU in a cgroup made for the run, under three modes, alternating:
  none       nothing running;
  unwatched  sluiced watching another cgroup (the file is still under a sensitive prefix);
  watched    sluiced watching the run's cgroup.
Prints the fastest ns per call of each kind and mode (noise only adds time) and the ratios to
none. A measurement, never a pass/fail: it exits 0 and prints TARGET MISSED lines.

  sudo bench/syscalls/run.py [--build build] [--calls 100000] [--rounds 15] [--repeats 3]
                             [--cpu 0]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "privileged"))
from harness import cgroup2_root, Sluiced, remove_cgroup_tree  # noqa: E402

KINDS = ["getppid", "read", "pread", "openclose", "write"]
MODES = ["none", "unwatched", "watched"]


def rules(data, selected):
    return """version: 1
files:
  - class: inference-cache
    paths: ["{data}/"]
workloads:
  - name: bench
    mode: monitor
    selector:
      cgroup: "{cg}"
""".format(data=data, cg=selected)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--calls", type=int, default=100000, help="calls per round and kind")
    p.add_argument("--rounds", type=int, default=15, help="rounds per run (the fastest counts)")
    p.add_argument("--repeats", type=int, default=3, help="runs per mode, alternating modes")
    p.add_argument("--cpu", type=int, default=0, help="the CPU the loop is pinned to")
    a = p.parse_args()
    if min(a.calls, a.rounds, a.repeats) <= 0:
        p.error("--calls, --rounds and --repeats must be > 0")
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (BPF, cgroups)")
    sluiced = os.path.abspath(os.path.join(a.build, "agent/cmd/sluiced/sluiced"))
    percall = os.path.abspath(os.path.join(a.build, "bench/syscalls/sluice_bench_percall"))
    for f in (sluiced, percall):
        if not os.access(f, os.X_OK):
            sys.exit("run.py: %s not found; configure with -DSLUICE_BUILD_BENCH=ON and build:\n"
                     "  cmake -S . -B %s -G Ninja -DSLUICE_BUILD_BENCH=ON && cmake --build %s"
                     % (f, a.build, a.build))

    tag = "sluice-percall-%d" % os.getpid()
    root = cgroup2_root()
    cgroup = root + "/" + tag
    tmp = tempfile.mkdtemp(prefix="sluice-percall-")
    data = os.path.join(tmp, "data")
    agent = None
    best = {m: {k: float("inf") for k in KINDS} for m in MODES}
    try:
        os.makedirs(data)
        os.makedirs(cgroup)
        path = os.path.join(data, "kv.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(4096))
        loop = ["taskset", "-c", str(a.cpu), "sh", "-c",
                'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "sh", cgroup,
                percall, path, str(a.calls), str(a.rounds)]
        for r in range(a.repeats):
            for m in MODES[r % len(MODES):] + MODES[:r % len(MODES)]:
                if m != "none":
                    selected = "/" + tag if m == "watched" else "/" + tag + "-elsewhere"
                    agent = Sluiced(sluiced, tmp, rules(data, selected), "monitor")
                out = subprocess.run(loop, capture_output=True, text=True, check=True).stdout
                if agent:
                    agent.stop()
                    agent = None
                got = json.loads(out)
                for k in KINDS:
                    best[m][k] = min(best[m][k], got[k])
                print("run.py: run %d/%d %-9s %s" % (r + 1, a.repeats, m, out.strip()),
                      file=sys.stderr)
    finally:
        if agent:
            agent.stop()
        remove_cgroup_tree(cgroup)
        shutil.rmtree(tmp, ignore_errors=True)

    print("syscalls: ns per call, fastest of %d run(s) x %d round(s) x %d calls, CPU %d"
          % (a.repeats, a.rounds, a.calls, a.cpu))
    print("%-10s %8s %17s %17s" % ("call", "none", "unwatched", "watched"))
    for k in KINDS:
        base = best["none"][k]
        print("%-10s %8.1f %9.1f %6.2fx %9.1f %6.2fx" % (
            k, base, best["unwatched"][k], best["unwatched"][k] / base,
            best["watched"][k], best["watched"][k] / base))
    print("(read: an fd with nothing sensitive; pread, openclose: a file under a sensitive prefix;"
          " getppid: a call no probe hooks)")
    for k in KINDS:
        ratio = best["unwatched"][k] / best["none"][k]
        if ratio > 1.03:
            print("TARGET MISSED: unwatched %s %.2fx > 1.03x (nothing measurable)" % (k, ratio))


if __name__ == "__main__":
    main()
