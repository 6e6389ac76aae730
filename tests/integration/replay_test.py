#!/usr/bin/env python3
"""Replays the synthetic streams of tests/testdata/streams through `sluicectl replay` and compares
the alerts with each stream's golden file (DESIGN §2: the live engine and replay are one engine).

For every SCENARIO.events.txt (one sluice.v1.Event per line, protobuf text format) the test
builds SCENARIO.events with make_recording, replays it with streams/rules.yaml, and compares a
projection of every OCSF alert line -- detector, workload, severity, disposition, destination,
count -- with SCENARIO.expected (JSON lines; empty for streams that must raise nothing). Uids and
times are left out: they differ from run to run. `--update` rewrites the golden files.

Also checked: a recording cut in the middle of a record replays what precedes the cut and says
so; a file that is not a recording and a rule set with errors exit 2 with a clear message.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile


def project(line):
    a = json.loads(line)
    dst = a.get("dst_endpoint", {})
    return {
        "detector": a["finding_info"]["analytic"]["name"],
        "workload": a.get("actor", {}).get("app_name", ""),
        "severity_id": a["severity_id"],
        "disposition": a["disposition"],
        "dst": "%s:%s" % (dst.get("ip", ""), dst.get("port", "")) if dst else "",
        "dst_name": dst.get("hostname", ""),
        "count": a.get("count", 1),
    }


def replay(args, recording, rules):
    return subprocess.run([args.sluicectl, "replay", recording, "--rules", rules],
                          capture_output=True, text=True, timeout=60)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--make-recording", required=True)
    p.add_argument("--streams", required=True, help="tests/testdata/streams")
    p.add_argument("--update", action="store_true", help="rewrite the .expected files")
    args = p.parse_args()

    rules = os.path.join(args.streams, "rules.yaml")
    scenarios = sorted(glob.glob(os.path.join(args.streams, "*.events.txt")))
    if not scenarios:
        print("no scenarios under %s" % args.streams)
        return 1
    failures = []
    tmp = tempfile.mkdtemp(prefix="sluice-replay-test-")
    try:
        detectors_seen = set()
        for scenario in scenarios:
            name = os.path.basename(scenario)[: -len(".events.txt")]
            recording = os.path.join(tmp, name + ".events")
            made = subprocess.run([args.make_recording, scenario, recording],
                                  capture_output=True, text=True)
            if made.returncode != 0:
                failures.append("%s: make_recording failed: %s" % (name, made.stderr.strip()))
                continue
            r = replay(args, recording, rules)
            if r.returncode != 0:
                failures.append("%s: replay exit %d: %s" % (name, r.returncode, r.stderr.strip()))
                continue
            got = [project(l) for l in r.stdout.splitlines() if l.strip()]
            detectors_seen.update(a["detector"] for a in got)
            golden = os.path.join(args.streams, name + ".expected")
            if args.update:
                with open(golden, "w") as f:
                    for a in got:
                        f.write(json.dumps(a, sort_keys=True) + "\n")
                print("updated %s (%d alert(s))" % (golden, len(got)))
                continue
            with open(golden) as f:
                want = [json.loads(l) for l in f if l.strip()]
            if got != want:
                failures.append("%s: alerts differ\n  want: %s\n  got:  %s\n  stderr: %s" % (
                    name, want, got, r.stderr.strip()))
            else:
                print("ok %s: %d alert(s); %s" % (name, len(got), r.stderr.strip()))
            # Every stream named after a detector must raise that detector.
            if name != "normal_sync" and not args.update and name not in [a["detector"] for a in got]:
                failures.append("%s: the stream does not raise its own detector" % name)

        # A recording cut inside its last record: what precedes the cut is replayed.
        src = os.path.join(tmp, "cache_dump.events")
        if os.path.exists(src):
            data = open(src, "rb").read()
            cut = os.path.join(tmp, "cut.events")
            with open(cut, "wb") as f:
                f.write(data[:-7])
            r = replay(args, cut, rules)
            if r.returncode != 0 or "cut short" not in r.stderr:
                failures.append("cut recording: exit %d, stderr %r" % (r.returncode, r.stderr))
            else:
                print("ok cut recording: %s" % r.stderr.strip())

        garbage = os.path.join(tmp, "garbage.events")
        with open(garbage, "wb") as f:
            f.write(b"this is not a recording\n" * 10)
        r = replay(args, garbage, rules)
        if r.returncode != 2 or "not a sluice recording" not in r.stderr:
            failures.append("garbage file: exit %d, stderr %r" % (r.returncode, r.stderr))
        else:
            print("ok garbage file rejected: %s" % r.stderr.strip())

        bad_rules = os.path.join(tmp, "bad.yaml")
        with open(bad_rules, "w") as f:
            f.write("version: 1\nworkloads:\n  - name: x\n    selectr: {cgroup: /x}\n")
        r = replay(args, os.path.join(tmp, "normal_sync.events"), bad_rules)
        if r.returncode != 2 or "bad.yaml:4:5" not in r.stderr:
            failures.append("bad rules: exit %d, stderr %r" % (r.returncode, r.stderr))
        else:
            print("ok bad rules rejected")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
