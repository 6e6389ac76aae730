#!/usr/bin/env python3
"""The OCI image (packaging/oci/build.sh, buildah, no Docker daemon): built under a test tag,
its configuration checked (entrypoint, default arguments, metrics port, OCI labels), its
filesystem checked to be distroless (the two binaries, their libraries, rules, no shell), and
the binaries run from inside it (chroot) to prove every library they need is there. The image
and every buildah container are removed afterwards. Needs root (buildah's storage); skips
otherwise (exit 77)."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import unittest

ARGS = None
ENV = dict(os.environ, STORAGE_DRIVER="vfs")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, **kw)


class OciTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tag = "localhost/sluice-test:%d" % os.getpid()
        r = run([os.path.join(ARGS.source_dir, "packaging/oci/build.sh"), "--sluiced",
                 ARGS.sluiced, "--sluicectl", ARGS.sluicectl, "--tag", cls.tag])
        if r.returncode != 0:
            raise RuntimeError("build.sh failed:\n" + r.stdout + r.stderr)
        cls.container = run(["buildah", "from", cls.tag]).stdout.strip()
        cls.mnt = run(["buildah", "mount", cls.container]).stdout.strip()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "container", ""):
            run(["buildah", "umount", cls.container])
            run(["buildah", "rm", cls.container])
        run(["buildah", "rmi", "-f", cls.tag])

    def test_config(self):
        info = json.loads(run(["buildah", "inspect", "--type", "image", self.tag]).stdout)
        cfg = info["OCIv1"]["config"]
        self.assertEqual(cfg["Entrypoint"], ["/usr/sbin/sluiced"])
        self.assertIn("--mode=monitor", " ".join(cfg["Cmd"]))
        self.assertIn("--metrics-listen=0.0.0.0:9464", " ".join(cfg["Cmd"]))
        self.assertIn("9464/tcp", cfg["ExposedPorts"])
        labels = cfg["Labels"]
        self.assertEqual(labels["org.opencontainers.image.title"], "sluice")
        self.assertRegex(labels["org.opencontainers.image.version"], r"^\d+\.\d+\.\d+$")

    def test_distroless_filesystem(self):
        for path in ("usr/sbin/sluiced", "usr/bin/sluicectl", "etc/sluice/rules.d/default.yaml",
                     "etc/sluice/sluiced.yaml"):
            self.assertTrue(os.path.isfile(os.path.join(self.mnt, path)), path)
        for absent in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt", "usr/bin/dpkg"):
            self.assertFalse(os.path.exists(os.path.join(self.mnt, absent)), absent)
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, files in os.walk(self.mnt) for f in files)
        self.assertLess(size, 120 << 20, "image filesystem %d bytes" % size)

    def test_binaries_run_inside(self):
        r = run(["chroot", self.mnt, "/usr/bin/sluicectl", "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("sluicectl "), r.stdout)
        r = run(["chroot", self.mnt, "/usr/bin/sluicectl", "rules", "check",
                 "/etc/sluice/rules.d"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run(["chroot", self.mnt, "/usr/sbin/sluiced", "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--keep-pinned-on-exit", r.stdout)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--source-dir", required=True)
    p.add_argument("--sluiced", required=True)
    p.add_argument("--sluicectl", required=True)
    ARGS, rest = p.parse_known_args()
    if os.geteuid() != 0 or shutil.which("buildah") is None:
        print("OCI image test needs root and buildah")
        return 1 if os.environ.get("SLUICE_REQUIRE_PRIVILEGED") == "1" else 77
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
