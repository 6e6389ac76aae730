#!/usr/bin/env python3
"""The agent's metrics endpoint checked by the real Prometheus tools: `promtool check metrics`
on what /metrics serves, and a real Prometheus server scraping it (then queried over its HTTP
API). The endpoint is served by a test driver that runs the agent's own MetricsServer and
StatusMetrics on a fixed status snapshot, so no privileges are needed; the privileged sensor test
scrapes a live sluiced the same way. Everything runs on loopback and is torn down."""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-metrics-")
        cls.server = subprocess.Popen([ARGS.server], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        line = cls.server.stdout.readline().split()
        if len(line) != 2 or line[0] != "LISTENING":
            cls.tearDownClass()
            raise RuntimeError("metrics driver did not start: %r" % line)
        cls.port = int(line[1])

    @classmethod
    def tearDownClass(cls):
        if cls.server.poll() is None:
            cls.server.stdin.close()
            try:
                cls.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.server.kill()
                cls.server.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_promtool_accepts_the_exposition(self):
        status, text = get("http://127.0.0.1:%d/metrics" % self.port)
        self.assertEqual(status, 200)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "", "promtool lint findings")
        for family in ("sluice_events_total", "sluice_events_lost_total", "sluice_alerts_total",
                       "sluice_blocks_total", "sluice_sink_delivered_total", "sluice_spool_bytes",
                       "sluice_flows_active", "sluice_probe_attached",
                       "sluice_sink_delivery_seconds"):
            self.assertIn("# TYPE %s " % family, text)

    def test_health_and_readiness(self):
        self.assertEqual(get("http://127.0.0.1:%d/healthz" % self.port), (200, "ok\n"))
        self.assertEqual(get("http://127.0.0.1:%d/readyz" % self.port), (200, "ready\n"))

    def test_a_real_prometheus_scrapes_it(self):
        data = os.path.join(self.tmp, "prom-data")
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.port)
        web = free_port()
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(["prometheus", "--config.file=" + config,
                                 "--storage.tsdb.path=" + data,
                                 "--web.listen-address=127.0.0.1:%d" % web],
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
        self.addCleanup(stop)
        query = ("http://127.0.0.1:%d/api/v1/query?query=" % web +
                 "sluice_events_lost_total%7Btype%3D%22flow%22%7D")
        deadline = time.time() + 60
        result = None
        while time.time() < deadline:
            try:
                _, body = get(query)
                result = json.loads(body)["data"]["result"]
                if result:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        with open(os.path.join(self.tmp, "prometheus.log")) as f:
            prom_log = f.read()
        self.assertTrue(result, "Prometheus never scraped the endpoint:\n" + prom_log[-3000:])
        self.assertEqual(result[0]["value"][1], "3")
        self.assertEqual(result[0]["metric"]["job"], "sluice")
        _, body = get("http://127.0.0.1:%d/api/v1/targets" % web)
        targets = json.loads(body)["data"]["activeTargets"]
        self.assertEqual([t["health"] for t in targets], ["up"])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    ARGS, rest = p.parse_known_args()
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            print("%s not installed (Debian package prometheus)" % tool)
            return 1
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
