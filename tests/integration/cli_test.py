#!/usr/bin/env python3
"""CLI contract tests (DESIGN §7): `sluicectl rules check` and sluiced's handling of bad input.

No root needed for most cases; the missing-capabilities case drops privileges with setpriv when
it runs as root and is skipped otherwise (an unprivileged run already is that case).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


class RulesCheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_default_pack_is_valid(self):
        r = run([ARGS.sluicectl, "rules", "check", os.path.join(ARGS.source_dir, "rules")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok:", r.stdout)

    def test_errors_have_file_line_col_and_exit_2(self):
        bad = self.write("bad.yaml", """version: 1
workloads:
  - name: a
    selector:
      cgroup: "/x"
    egress:
      allow:
        - cidr: 10.0.0.300/8
          ports: [0]
  - name: b
    selektor: {}
""")
        r = run([ARGS.sluicectl, "rules", "check", bad])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.startswith(bad + ":")]
        self.assertGreaterEqual(len(lines), 3, r.stderr)
        self.assertTrue(any(l.startswith(bad + ":8:") for l in lines), r.stderr)   # cidr
        self.assertTrue(any(l.startswith(bad + ":9:") for l in lines), r.stderr)   # port 0
        self.assertTrue(any(l.startswith(bad + ":11:") for l in lines), r.stderr)  # unknown key

    def test_invalid_yaml(self):
        bad = self.write("syntax.yaml", "version: 1\nworkloads: [\n  - name: x\n")
        r = run([ARGS.sluicectl, "rules", "check", bad])
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"syntax\.yaml:\d+:\d+: ")

    def test_missing_path(self):
        r = run([ARGS.sluicectl, "rules", "check", os.path.join(self.tmp, "nope.yaml")])
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.yaml", r.stderr)

    def test_sluiced_rejects_bad_rules_before_touching_the_kernel(self):
        bad = self.write("bad.yaml", "version: 1\nworkloads:\n  - name: a\n    selector: {}\n")
        r = run([ARGS.sluiced, "--rules", bad, "--mode", "monitor", "--alerts", "-"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, bad.replace(".", r"\.") + r":4:\d+: ")
        self.assertIn("nothing loaded", r.stderr)

    def test_sluiced_enforce_refuses_a_sink_it_could_block(self):
        rules = self.write("sink.yaml", """version: 1
sinks:
  - name: siem
    host: siem.corp.example
    ports: [6514]
workloads:
  - name: exporter
    mode: enforce
    selector: {unit: exporter.service}
""")
        r = run([ARGS.sluiced, "--rules", rules, "--mode", "enforce", "--alerts", "-"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(rules + ":3:5: sink \"siem\" is named by host \"siem.corp.example\" only",
                      r.stderr)
        self.assertIn("give the sink a cidr", r.stderr)

    def test_sluiced_refuses_a_malformed_enforcement_state(self):
        state = os.path.join(self.tmp, "state")
        os.makedirs(state)
        self.write("state/enforcement.json", '{"version": 1, "quarantined": [{"reason": 1}]}')
        r = run([ARGS.sluiced, "--rules", os.path.join(ARGS.source_dir, "rules"),
                 "--state-dir", state, "--alerts", "-"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("enforcement.json: quarantined[0] needs a \"workload\" name", r.stderr)
        self.assertIn("it holds the quarantines and the disarm switch", r.stderr)

    def test_sluiced_network_sinks_need_a_state_dir(self):
        config = self.write("c.yaml", "sinks:\n  - {name: hook, type: webhook, "
                                      "url: \"http://127.0.0.1:9/in\"}\n")
        r = run([ARGS.sluiced, "--rules", os.path.join(ARGS.source_dir, "rules"),
                 "--config", config, "--alerts", "-"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("network sinks deliver from a disk spool: give --state-dir", r.stderr)

    def test_sluiced_bad_config_is_refused_with_locations(self):
        config = self.write("c.yaml", "sinks:\n  - {name: x, type: pigeon}\nspool: []\n")
        r = run([ARGS.sluiced, "--rules", os.path.join(ARGS.source_dir, "rules"),
                 "--config", config, "--alerts", "-"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(config + ":2:21: invalid sink type \"pigeon\"", r.stderr)
        self.assertIn(config + ":3:8: spool must be a map", r.stderr)
        self.assertIn("2 error(s) in " + config + ", nothing started", r.stderr)

    def test_sluiced_bad_mode(self):
        r = run([ARGS.sluiced, "--rules", os.path.join(ARGS.source_dir, "rules"),
                 "--mode", "block-everything"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--mode", r.stderr)

    def test_sluiced_names_missing_capabilities(self):
        rules = os.path.join(ARGS.source_dir, "rules")
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                self.skipTest("setpriv not installed")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   "--inh-caps=-all", "--bounding-set=-all", ARGS.sluiced, "--rules", rules]
        else:
            cmd = [ARGS.sluiced, "--rules", rules]
        r = run(cmd)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("missing capabilities: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN", lines[0])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--sluiced", required=True)
    p.add_argument("--source-dir", required=True)
    ARGS, rest = p.parse_known_args()
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
