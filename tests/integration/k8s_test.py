#!/usr/bin/env python3
"""Checks of the Kubernetes packaging (packaging/kubernetes/sluice.yaml and the Helm chart
packaging/helm/sluice) without a cluster: the manifest parses, the DaemonSet runs in the host's
PID and network namespaces with the kernel filesystems mounted, exactly the capabilities the
systemd unit bounds sluiced to (no privileged container), probes on the metrics port sluiced
serves, and the rules and configuration wired to the paths its arguments name; the rules it
ships pass `sluicectl rules check`. The chart's templates may only use values values.yaml
defines. (`kubectl apply --dry-run=client` needs an API server for discovery even in client
mode, so it is not used: there is none offline.)"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

ARGS = None


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = docs(os.path.join(ARGS.source_dir, "packaging/kubernetes/sluice.yaml"))
        cls.by_kind = {}
        for o in cls.objs:
            cls.by_kind.setdefault(o["kind"], []).append(o)
        cls.ds = cls.by_kind["DaemonSet"][0]
        cls.pod = cls.ds["spec"]["template"]["spec"]
        cls.c = cls.pod["containers"][0]
        cls.args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in cls.c["args"])

    def test_objects(self):
        self.assertEqual(sorted(self.by_kind),
                         ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceAccount"])
        for o in self.objs:
            if o["kind"] != "Namespace":
                self.assertEqual(o["metadata"]["namespace"], "sluice", o["metadata"]["name"])

    def test_host_namespaces_and_every_node(self):
        self.assertTrue(self.pod["hostPID"])
        self.assertTrue(self.pod["hostNetwork"])
        self.assertEqual(self.pod["tolerations"], [{"operator": "Exists"}])
        self.assertEqual(self.ds["spec"]["template"]["metadata"]["labels"],
                         self.ds["spec"]["selector"]["matchLabels"])

    def test_capabilities_are_the_units(self):
        with open(os.path.join(ARGS.source_dir, "packaging/systemd/sluiced.service")) as f:
            unit = [l.split("=", 1)[1].split() for l in f
                    if l.startswith("CapabilityBoundingSet=")][0]
        sc = self.c["securityContext"]
        self.assertFalse(sc["privileged"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(sorted("CAP_" + c for c in sc["capabilities"]["add"]), sorted(unit))

    def test_kernel_filesystems_are_mounted(self):
        mounts = {m["mountPath"]: m for m in self.c["volumeMounts"]}
        vols = {v["name"]: v for v in self.pod["volumes"]}
        for path in ("/sys/fs/bpf", "/sys/kernel/tracing", "/sys/fs/cgroup",
                     "/sys/kernel/security"):
            self.assertIn(path, mounts)
            self.assertEqual(vols[mounts[path]["name"]]["hostPath"]["path"], path)
        self.assertTrue(mounts["/sys/kernel/security"]["readOnly"])
        # Pins made in the container must be seen by the host (and the next pod).
        self.assertEqual(mounts["/sys/fs/bpf"]["mountPropagation"], "Bidirectional")
        for path in ("/var/lib/sluice", "/var/log/sluice", "/run/sluice"):
            self.assertEqual(vols[mounts[path]["name"]]["hostPath"]["path"], path)

    def test_probes_hit_the_metrics_server(self):
        port = self.args["metrics-listen"].rsplit(":", 1)[1]
        self.assertEqual(str(self.c["ports"][0]["containerPort"]), port)
        self.assertEqual(self.c["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(self.c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(self.c["livenessProbe"]["httpGet"]["port"], self.c["ports"][0]["name"])
        svc = self.by_kind["Service"][0]
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "metrics")

    def test_image_rules_and_config_wiring(self):
        self.assertRegex(self.c["image"], r"^sluice:\d+\.\d+\.\d+$")
        self.assertIn(self.args["mode"], ("monitor", "enforce"))
        self.assertIn("keep-pinned-on-exit", self.args)
        mounts = {m["mountPath"]: m for m in self.c["volumeMounts"]}
        vols = {v["name"]: v for v in self.pod["volumes"]}
        cms = {m["metadata"]["name"]: m for m in self.by_kind["ConfigMap"]}
        rules_vol = vols[mounts[self.args["rules"]]["name"]]
        rules_cm = cms[rules_vol["configMap"]["name"]]
        config = mounts[self.args["config"]]
        config_cm = cms[vols[config["name"]]["configMap"]["name"]]
        self.assertIn(config["subPath"], config_cm["data"])
        # The shipped rules are valid as sluiced will read them.
        with tempfile.TemporaryDirectory() as d:
            for name, text in rules_cm["data"].items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            r = subprocess.run([ARGS.sluicectl, "rules", "check", d], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class ChartTest(unittest.TestCase):
    def setUp(self):
        self.chart = os.path.join(ARGS.source_dir, "packaging/helm/sluice")

    def test_chart_and_values_parse(self):
        chart = docs(os.path.join(self.chart, "Chart.yaml"))[0]
        self.assertEqual((chart["apiVersion"], chart["name"]), ("v2", "sluice"))
        values = docs(os.path.join(self.chart, "values.yaml"))[0]
        self.assertIn(values["mode"], ("monitor", "enforce"))
        self.assertEqual(values["tolerations"], [{"operator": "Exists"}])

    def test_templates_use_only_defined_values(self):
        values = docs(os.path.join(self.chart, "values.yaml"))[0]
        tdir = os.path.join(self.chart, "templates")
        used = set()
        for name in os.listdir(tdir):
            with open(os.path.join(tdir, name)) as f:
                used |= set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", f.read()))
        self.assertTrue(used)
        for path in used:
            node = values
            for key in path.strip(".").split("."):
                self.assertIsInstance(node, dict, path)
                self.assertIn(key, node, "templates use .Values%s, values.yaml lacks it" % path)
                node = node[key]

    def test_daemonset_template_keeps_the_manifests_shape(self):
        with open(os.path.join(self.chart, "templates/daemonset.yaml")) as f:
            text = f.read()
        for needle in ("hostPID: true", "hostNetwork: true", "mountPropagation: Bidirectional",
                       "path: /healthz", "path: /readyz", "drop: [ALL]", "privileged: false"):
            self.assertIn(needle, text)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--source-dir", required=True)
    p.add_argument("--sluicectl", required=True)
    ARGS, rest = p.parse_known_args()
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
