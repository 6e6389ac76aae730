#!/usr/bin/env python3
"""Privileged test of the Debian package (packaging/): build it with cpack, check what it holds,
install it on this machine with dpkg, start sluiced exactly as the systemd unit's ExecStart line
says, under the unit's capability bounding set, check `sluicectl status` and /readyz answer,
stop it; then leave a pinned enforcing policy behind (SIGKILL) and check that removing the
package releases it - loudly - and that purge removes everything.

Runs only where no `sluice` package is installed already; removes what it installed even when
it fails. Exit codes: 0 pass, 1 fail, 77 skipped (not root) unless SLUICE_REQUIRE_PRIVILEGED=1.
"""

import argparse
import glob
import os
import shlex
import signal
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (run, read_text, sluice_programs, sluice_programs_after_release,  # noqa: E402
                     run_privileged_suite)

ARGS = None
UNIT = "/usr/lib/systemd/system/sluiced.service"


def unit_values(key):
    with open(UNIT) as f:
        return [l.split("=", 1)[1].strip() for l in f if l.startswith(key + "=")]


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if run(["dpkg-query", "-W", "sluice"], check=False).returncode == 0:
            raise unittest.SkipTest("a sluice package is installed on this host already")
        for old in glob.glob(os.path.join(ARGS.build_dir, "sluice_*.deb")):
            os.remove(old)
        r = run(["cpack", "-G", "DEB"], check=False, cwd=ARGS.build_dir, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("cpack failed:\n" + r.stdout + r.stderr)
        debs = glob.glob(os.path.join(ARGS.build_dir, "sluice_*_amd64.deb"))
        if len(debs) != 1:
            raise RuntimeError("expected one .deb, got %s" % debs)
        cls.deb = debs[0]

    def tearDown(self):
        subprocess.run(["pkill", "-KILL", "-f", "^/usr/sbin/sluiced "], capture_output=True)
        if run(["dpkg-query", "-W", "sluice"], check=False).returncode == 0:
            run(["dpkg", "-P", "sluice"], check=False)
        subprocess.run(["rm", "-rf", "/sys/fs/bpf/sluice", "/run/sluice"])

    def test_contents_and_metadata(self):
        info = run(["dpkg-deb", "-f", self.deb, "Package", "Version", "Depends", "Section"]).stdout
        self.assertIn("Package: sluice", info)
        self.assertIn("Section: admin", info)
        for dep in ("libbpf1", "libgrpc++1.51", "libssl3", "libcurl4"):
            self.assertIn(dep, info)
        files = run(["dpkg-deb", "-c", self.deb]).stdout
        for path in ("./usr/sbin/sluiced", "./usr/bin/sluicectl", "." + UNIT,
                     "./etc/sluice/rules.d/default.yaml", "./etc/sluice/sluiced.yaml",
                     "./usr/share/doc/sluice/docs/rules.md"):
            self.assertIn(path, files)
        control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", self.deb], capture_output=True)
        listing = subprocess.run(["tar", "-t"], input=control.stdout, capture_output=True).stdout
        for name in (b"./conffiles", b"./postinst", b"./prerm", b"./postrm"):
            self.assertIn(name, listing)

    def start_from_unit(self, extra=()):
        """sluiced as ExecStart says, with the directories systemd would make, and only the
        capabilities the unit's bounding set grants."""
        argv = shlex.split(unit_values("ExecStart")[0]) + list(extra)
        caps = unit_values("CapabilityBoundingSet")[0].split()
        bounding = "-all," + ",".join("+" + c.lower()[4:] for c in caps)
        for d in ("/var/lib/sluice", "/var/log/sluice", "/run/sluice"):
            os.makedirs(d, exist_ok=True)
        log = open("/var/log/sluice/test-stderr.log", "w")
        p = subprocess.Popen(["setpriv", "--bounding-set", bounding, "--inh-caps", "-all", "--"] +
                             argv, stdout=subprocess.DEVNULL, stderr=log)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), log.close()))
        deadline = time.time() + 60
        while time.time() < deadline:
            text = read_text(log.name)
            if "sluiced: ready" in text:
                return p, log.name
            if p.poll() is not None:
                break
            time.sleep(0.1)
        self.fail("sluiced from the unit did not start:\n" + read_text(log.name))

    def test_install_start_from_unit_stop_remove_purge(self):
        r = run(["dpkg", "-i", self.deb], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.access("/usr/sbin/sluiced", os.X_OK))
        self.assertEqual(run(["/usr/bin/sluicectl", "rules", "check", "/etc/sluice/rules.d"],
                             check=False).returncode, 0)
        p, log = self.start_from_unit()
        st = run(["/usr/bin/sluicectl", "status"], check=False)
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertIn("mode:    monitor", st.stdout)
        with urllib.request.urlopen("http://127.0.0.1:9464/readyz", timeout=5) as resp:
            self.assertEqual(resp.status, 200)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0, read_text(log))
        self.assertEqual(sluice_programs(), [], "monitor mode leaves nothing attached")
        r = run(["dpkg", "-r", "sluice"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists("/usr/sbin/sluiced"))
        self.assertTrue(os.path.exists("/etc/sluice/sluiced.yaml"), "conffiles stay until purge")
        r = run(["dpkg", "-P", "sluice"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for path in ("/etc/sluice/sluiced.yaml", "/var/lib/sluice", "/var/log/sluice"):
            self.assertFalse(os.path.exists(path), path)

    def test_removal_releases_a_pinned_policy_loudly(self):
        r = run(["dpkg", "-i", self.deb], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        p, _ = self.start_from_unit()
        p.kill()  # the policy stays pinned with nobody running
        p.wait()
        self.assertTrue(os.path.isdir("/sys/fs/bpf/sluice"))
        self.assertNotEqual(sluice_programs(), [])
        r = run(["dpkg", "-r", "sluice"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("releasing the policy sluiced left pinned under /sys/fs/bpf/sluice",
                      r.stderr)
        self.assertFalse(os.path.exists("/sys/fs/bpf/sluice"))
        self.assertEqual(sluice_programs_after_release(), [])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", required=True)
    ARGS, rest = p.parse_known_args()
    return run_privileged_suite(rest)


if __name__ == "__main__":
    sys.exit(main())
