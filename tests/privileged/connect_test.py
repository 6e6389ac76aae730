#!/usr/bin/env python3
"""Privileged end-to-end test: the real sluiced, the real BPF programs, real connects.

Each case starts sluiced with a rule set written for it, runs the test client inside a child
cgroup v2 and a network namespace made here, and asserts the client's result, what the server in
the namespace accepted, and the alerts sluiced wrote. Everything made here is removed at the end,
also when a case fails: namespace, cgroups, processes, and no sluice program stays attached.

Exit codes: 0 pass, 1 fail, 77 skipped (not root) unless SLUICE_REQUIRE_PRIVILEGED=1.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import socket
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (run, read_text, cgroup2_root, sluice_programs, Sluiced,  # noqa: E402
                     sluice_programs_after_release, remove_cgroup_tree, run_privileged_suite,
                     release_pins)

ARGS = None

ALLOWED_V4 = "192.0.2.1"     # TEST-NET-1, only ever on the namespace's loopback
DENIED_V4 = "192.0.2.2"
RESOLVER_V4 = "192.0.2.53"  # a dnsmasq the name-grant case starts
ALLOWED_V6 = "2001:db8::1"   # documentation prefix, same
DENIED_V6 = "2001:db8::2"
PORT = 8080

SERVER = r"""
import socket, sys, select
socks = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, int(sys.argv[1])))
    s.listen(64)
    socks.append(s)
udp = []
for addr, port in (("0.0.0.0", int(sys.argv[1])), (sys.argv[2], 53), ("::", int(sys.argv[1]))):
    u = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    if ":" in addr:
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u.bind((addr, port))
    udp.append(u)
print("LISTENING", flush=True)
while True:
    r, _, _ = select.select(socks + udp, [], [])
    for s in r:
        if s in udp:
            data, _ = s.recvfrom(65536)
            print("DATAGRAM %d %d" % (s.getsockname()[1], len(data)), flush=True)
            continue
        c, peer = s.accept()
        local = c.getsockname()[0]
        c.settimeout(2)
        try:
            n = len(c.recv(4096))
        except OSError:
            n = 0
        print("ACCEPT %s %d" % (local, n), flush=True)
        c.close()
"""


# A TLS server that counts the bytes each connection delivered before it ended.
TLS_SINK = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[4])))
srv.listen(8)
print("LISTENING", flush=True)
while True:
    c, _ = srv.accept()
    c.settimeout(8)
    n = 0
    try:
        t = ctx.wrap_socket(c, server_side=True)
        while True:
            b = t.recv(65536)
            if not b:
                break
            n += len(b)
    except (OSError, ssl.SSLError):
        pass
    print("RECEIVED %d" % n, flush=True)
    c.close()
"""

# An export that streams CRM records (an id in every write) over TLS: 4 MiB over ~4 s.
TLS_UPLOAD = r"""
import socket, ssl, sys, time
time.sleep(0.5)  # the agent attaches the TLS uprobes when it handles this process's birth
ctx = ssl._create_unverified_context()
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5))
print("CONNECTED", flush=True)
sent = 0
chunk = (b'{"AccountId":"001A0000006Vm9rIAC","ContactId":"0035g00000ABcDeAAL"}\n' * 300)[:16384]
try:
    for _ in range(256):
        s.sendall(chunk)
        sent += len(chunk)
        time.sleep(0.015)
    print("COMPLETED %d" % sent, flush=True)
except (OSError, ssl.SSLError) as e:
    print("CUT %d %s" % (sent, type(e).__name__), flush=True)
"""
TLS_PORT = 8443
UPLOAD_TOTAL = 4 * 1024 * 1024


class Lab:
    """Namespace + server + cgroup, shared by all cases, torn down once."""

    def __init__(self):
        self.tag = "sluicet%d" % os.getpid()
        self.netns = self.tag
        self.root = cgroup2_root()
        self.cgroup_rel = "/" + self.tag
        self.cgroup = self.root + self.cgroup_rel
        self.tmp = tempfile.mkdtemp(prefix="sluice-priv-")
        self.server = None
        self.server_log = os.path.join(self.tmp, "server.log")

    def up(self):
        run(["ip", "netns", "add", self.netns])
        ns = ["ip", "netns", "exec", self.netns]
        run(ns + ["ip", "link", "set", "lo", "up"])
        for a in (ALLOWED_V4, DENIED_V4, RESOLVER_V4):
            run(ns + ["ip", "addr", "add", a + "/32", "dev", "lo"])
        for a in (ALLOWED_V6, DENIED_V6):
            run(ns + ["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"])
        os.makedirs(self.cgroup)
        with open(self.server_log, "w") as log:
            self.server = subprocess.Popen(ns + [sys.executable, "-c", SERVER, str(PORT), DENIED_V4],
                                           stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if "LISTENING" in read_text(self.server_log):
                return
            time.sleep(0.05)
        raise RuntimeError("test server did not start: " + read_text(self.server_log))

    def down(self):
        if self.server:
            self.server.kill()
            self.server.wait()
        remove_cgroup_tree(self.cgroup)
        run(["ip", "netns", "del", self.netns], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def accepted(self):
        with open(self.server_log) as f:
            return [l.split()[1:] for l in f if l.startswith("ACCEPT")]

    def client(self, family, addr, cgroup_rel=None):
        """Runs the client in the namespace, inside `cgroup_rel` when given. Joins the cgroup
        before `ip netns exec`, which remounts /sys and would hide the cgroup2 mount."""
        inner = "exec ip netns exec %s %s %s %s %d" % (self.netns, ARGS.client, family, addr, PORT)
        if cgroup_rel is not None:
            inner = "echo $$ > %s/cgroup.procs && %s" % (self.root + cgroup_rel, inner)
        out = run(["sh", "-c", inner], timeout=20)
        return out.stdout.strip()


def rules_for(lab, mode):
    # Aggregation off: these tests count one alert per blocked connect, and two of them go to
    # the same destination (AF_INET and v4-mapped AF_INET6), which a window would merge.
    return """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: test-cgroup
    mode: {mode}
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - cidr: {a4}/32
          ports: [{port}]
        - cidr: "{a6}/128"
          ports: [{port}]
  - name: test-exe
    mode: {mode}
    selector:
      exe: "{client}"
    egress:
      allow:
        - cidr: {a4}/32
          ports: [{port}]
""".format(mode=mode, cg=lab.cgroup_rel, a4=ALLOWED_V4, a6=ALLOWED_V6, port=PORT,
           client=os.path.realpath(ARGS.client))


class ConnectTest(unittest.TestCase):
    lab = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        try:
            cls.lab.up()
        except Exception:
            cls.lab.down()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def start(self, mode):
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, mode), mode)
        self.addCleanup(self.assert_clean_stop, s)
        return s

    def assert_clean_stop(self, s):
        rc = s.stop()
        self.assertEqual(rc, 0, "sluiced exit code %s\n%s" % (rc, s.log()))
        self.assertEqual(sluice_programs(), [], "programs left attached after SIGTERM")

    def accepted_since(self, before, expect=None, timeout=2.0):
        """Lines the server logged after `before`. The client's connect completes in the kernel
        before the server's accept() returns and is logged: with `expect`, wait (up to
        `timeout`) for that many lines before answering."""
        deadline = time.monotonic() + timeout
        got = self.lab.accepted()[before:]
        while expect is not None and len(got) < expect and time.monotonic() < deadline:
            time.sleep(0.05)
            got = self.lab.accepted()[before:]
        return got

    def test_allowed_connects_raise_no_alert(self):
        s = self.start("enforce")
        n0 = len(self.lab.accepted())
        for fam, addr in (("inet", ALLOWED_V4), ("inet6", ALLOWED_V6), ("inet6", ALLOWED_V4)):
            self.assertEqual(self.lab.client(fam, addr, self.lab.cgroup_rel), "OK", (fam, addr))
        self.assertEqual(len(self.accepted_since(n0, expect=3)), 3)
        # Give the agent the same 2 s it gets to report a denied connect, then expect silence.
        self.assertEqual(s.wait_alerts(1, timeout=2.0), [])

    def test_denied_connect_in_monitor_mode_alerts_would_block(self):
        s = self.start("monitor")
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, self.lab.cgroup_rel), "OK")
        alerts = s.wait_alerts(1)
        self.assertEqual(len(alerts), 1, s.log())
        a = alerts[0]
        self.assertEqual(a["class_uid"], 2004)
        self.assertEqual(a["finding_info"]["analytic"]["name"], "unexpected_egress")
        self.assertEqual(a["disposition"], "Would block")
        self.assertEqual(a["dst_endpoint"]["ip"], DENIED_V4)
        self.assertEqual(a["dst_endpoint"]["port"], PORT)
        self.assertEqual(a["actor"]["process"]["file"]["path"], os.path.realpath(ARGS.client))
        self.assertEqual(a["unmapped"]["sluice"]["workload"]["name"], "test-cgroup")
        self.assertEqual(a["unmapped"]["sluice"]["workload"]["cgroup_path"], self.lab.cgroup_rel)
        got = self.accepted_since(n0, expect=1)
        self.assertEqual(got, [[DENIED_V4, "23"]], "server must have accepted the connection")

    def test_denied_connects_in_enforce_mode_are_blocked(self):
        s = self.start("enforce")
        n0 = len(self.lab.accepted())
        cases = (("inet", DENIED_V4, DENIED_V4), ("inet6", DENIED_V6, DENIED_V6),
                 ("inet6", DENIED_V4, DENIED_V4))  # v4-mapped through an AF_INET6 socket
        for fam, addr, _ in cases:
            self.assertEqual(self.lab.client(fam, addr, self.lab.cgroup_rel), "ERR EPERM",
                             (fam, addr))
        alerts = s.wait_alerts(len(cases))
        self.assertEqual(len(alerts), len(cases), s.log())
        for a, (_, _, shown) in zip(alerts, cases):
            self.assertEqual(a["disposition"], "Blocked")
            self.assertEqual(a["dst_endpoint"]["ip"], shown)
            self.assertEqual(a["unmapped"]["sluice"]["connect_result"], -1)  # -EPERM
        self.assertEqual(self.accepted_since(n0), [], "a denied peer must see no connection")

    def test_cgroup_created_after_start_is_enforced(self):
        s = self.start("enforce")
        late = self.lab.cgroup_rel + "/late-child"
        os.makedirs(self.lab.root + late)
        time.sleep(0.5)  # the agent learns of the cgroup from the cgroup_mkdir probe
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, late), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, late), "OK")
        alerts = s.wait_alerts(1)
        self.assertEqual(len(alerts), 1, s.log())
        self.assertEqual(alerts[0]["unmapped"]["sluice"]["workload"]["cgroup_path"], late)
        self.assertEqual(len(self.accepted_since(n0, expect=1)), 1)

    def test_exe_selected_workload_outside_any_cgroup_rule(self):
        s = self.start("enforce")
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4), "OK")
        alerts = s.wait_alerts(1)
        self.assertEqual(len(alerts), 1, s.log())
        self.assertEqual(alerts[0]["unmapped"]["sluice"]["workload"]["name"], "test-exe")
        self.assertEqual(alerts[0]["disposition"], "Blocked")
        self.assertEqual(len(self.accepted_since(n0, expect=1)), 1)

    def test_child_process_of_a_workload_is_blocked_too(self):
        # A shell selected by its executable (a copy, so nothing else on the host matches) starts
        # the client: the child inherits its parent's workload at fork, whatever it runs.
        parent = os.path.join(self.lab.tmp, "parent-sh")
        shutil.copy("/bin/sh", parent)
        rules = """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: parent
    mode: enforce
    selector:
      exe: "{parent}"
""".format(parent=parent)
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules, "enforce")
        self.addCleanup(self.assert_clean_stop, s)
        n0 = len(self.lab.accepted())
        script = "%s inet %s %d; echo parent-done" % (ARGS.client, DENIED_V4, PORT)
        out = run(["ip", "netns", "exec", self.lab.netns, parent, "-c", script],
                  timeout=20).stdout.split()
        self.assertEqual(out, ["ERR", "EPERM", "parent-done"])
        alerts = s.wait_alerts(1)
        self.assertEqual(len(alerts), 1, s.log())
        self.assertEqual(alerts[0]["unmapped"]["sluice"]["workload"]["name"], "parent")
        # (The path as execve got it: the client is gone before /proc can say more.)
        self.assertTrue(alerts[0]["actor"]["process"]["file"]["path"].endswith(
            "sluice_test_connect"), alerts[0]["actor"]["process"])
        self.assertEqual(alerts[0]["disposition"], "Blocked")
        self.assertEqual(self.accepted_since(n0), [])
        # The same client started by anything else is not in the workload.
        self.assertEqual(self.lab.client("inet", DENIED_V4), "OK")

    def test_sighup_reload_swaps_the_kernel_policy_whole(self):
        s = self.start("enforce")
        cg = self.lab.cgroup_rel
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4), "OK")  # test-exe allows it
        self.assertEqual(self.lab.client("inet", DENIED_V4), "ERR EPERM")  # test-exe denies it
        # The next set swaps the peers for the cgroup workload, under a new name, and drops the
        # exe workload: its kernel ids move to the other bank.
        swapped = """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: test-cgroup-v2
    mode: enforce
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - cidr: {d4}/32
          ports: [{port}]
""".format(cg=cg, d4=DENIED_V4, port=PORT)
        self.assertEqual(s.reload(swapped), "reloaded", s.log())
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "ERR EPERM")
        # The exe workload is gone: its bits were scrubbed from the kernel's selector maps.
        self.assertEqual(self.lab.client("inet", DENIED_V4), "OK")
        self.assertEqual(len(self.accepted_since(n0, expect=2)), 2)
        alerts = s.wait_alerts(3)
        self.assertEqual(len(alerts), 3, s.log())
        # Records still in the ring at the SIGHUP were judged by the rules that decided them.
        self.assertEqual([a["unmapped"]["sluice"]["workload"]["name"] for a in alerts[:2]],
                         ["test-cgroup", "test-exe"])
        last = alerts[-1]
        self.assertEqual(last["unmapped"]["sluice"]["workload"]["name"], "test-cgroup-v2")
        self.assertEqual(last["dst_endpoint"]["ip"], ALLOWED_V4)
        self.assertEqual(last["disposition"], "Blocked")

        # A broken set is refused whole, with its location; the swapped set stays in force.
        broken = swapped + "  - name: half\n    selektor: {cgroup: /x}\n"
        self.assertEqual(s.reload(broken), "rejected", s.log())
        self.assertIn("rules.yaml:14:5: unknown key \"selektor\"", s.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "ERR EPERM")
        self.assertEqual(len(s.wait_alerts(4)), 4)

        # Back to the first set: the bank the first set used is reused cleanly.
        self.assertEqual(s.reload(rules_for(self.lab, "enforce")), "reloaded", s.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "OK")
        self.assertEqual(self.lab.client("inet", DENIED_V4), "ERR EPERM")
        alerts = s.wait_alerts(6)
        self.assertEqual(len(alerts), 6, s.log())
        self.assertEqual([a["unmapped"]["sluice"]["workload"]["name"] for a in alerts[4:]],
                         ["test-cgroup", "test-exe"])

    def test_container_selected_by_labels(self):
        # A container cgroup as the Docker runtime names it, with the labels Docker would keep
        # for it in config.v2.json (under a root the agent is pointed at for the test).
        meta = os.path.join(self.lab.tmp, "runtime")
        ids = ["%064x" % (0xc0ffee + i) for i in range(3)]
        for cid, app in zip(ids, ("crm-sync", "crm-sync", "llm")):
            os.makedirs(os.path.join(meta, "docker", cid), exist_ok=True)
            with open(os.path.join(meta, "docker", cid, "config.v2.json"), "w") as f:
                json.dump({"ID": cid, "Config": {"Labels": {"app": app, "team": "crm"}}}, f)
        scope = lambda cid: "%s/docker-%s.scope" % (self.lab.cgroup_rel, cid)
        os.makedirs(self.lab.root + scope(ids[0]))  # before the agent: seeded at start
        rules = """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: labelled-sync
    mode: enforce
    selector:
      container: {{labels: {{app: crm-sync, team: crm}}}}
    egress:
      allow:
        - cidr: {a4}/32
          ports: [{port}]
""".format(a4=ALLOWED_V4, port=PORT)
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules, "enforce",
                    extra=["--test-container-root", meta])
        self.addCleanup(self.assert_clean_stop, s)
        for cid in ids[1:]:
            os.makedirs(self.lab.root + scope(cid))  # after: learned at the cgroup_mkdir
        time.sleep(0.5)
        self.assertEqual(self.lab.client("inet", DENIED_V4, scope(ids[0])), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", DENIED_V4, scope(ids[1])), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, scope(ids[1])), "OK")
        # Another app's container, and the parent cgroup that is no container: not selected.
        self.assertEqual(self.lab.client("inet", DENIED_V4, scope(ids[2])), "OK")
        self.assertEqual(self.lab.client("inet", DENIED_V4, self.lab.cgroup_rel), "OK")
        alerts = s.wait_alerts(2)
        self.assertEqual(len(alerts), 2, s.log())
        self.assertEqual([a["unmapped"]["sluice"]["workload"]["cgroup_path"] for a in alerts],
                         [scope(ids[0]), scope(ids[1])])
        self.assertEqual({a["unmapped"]["sluice"]["workload"]["name"] for a in alerts},
                         {"labelled-sync"})

    def tls_sink(self):
        cert = os.path.join(self.lab.tmp, "cert.pem")
        key = os.path.join(self.lab.tmp, "key.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=upload.test", "-keyout", key, "-out", cert])
        log = os.path.join(self.lab.tmp, "tls-sink.log")
        with open(log, "w") as out:
            p = subprocess.Popen(["ip", "netns", "exec", self.lab.netns, sys.executable, "-c",
                                  TLS_SINK, ALLOWED_V4, cert, key, str(TLS_PORT)],
                                 stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        deadline = time.time() + 10
        while "LISTENING" not in read_text(log):
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("TLS sink did not start: " + read_text(log))
            time.sleep(0.05)
        return log

    def start_upload(self):
        inner = "echo $$ > %s/cgroup.procs && exec ip netns exec %s %s -c '%s' %s %d" % (
            self.lab.cgroup, self.lab.netns, sys.executable, TLS_UPLOAD.replace("'", "'\\''"),
            ALLOWED_V4, TLS_PORT)
        p = subprocess.Popen(["sh", "-c", inner], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        self.assertEqual(p.stdout.readline().strip(), "CONNECTED")
        return p

    def received(self, log, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = [l for l in read_text(log).splitlines() if l.startswith("RECEIVED")]
            if lines:
                return int(lines[-1].split()[1])
            time.sleep(0.1)
        raise AssertionError("the TLS sink never reported: " + read_text(log))

    def sever_rules(self, peer):
        """The uploader may reach `peer` on the TLS port; CRM records may go to the CRM only."""
        return """version: 1
alerts:
  aggregate_window: 0
crm:
  hosts: ["*.my.salesforce.com"]
workloads:
  - name: uploader
    mode: enforce
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - cidr: {peer}/32
          ports: [{tls}]
""".format(cg=self.lab.cgroup_rel, peer=peer, tls=TLS_PORT)

    def upload_then_tighten(self, mode):
        """An export to an allowed peer is under way when the rules stop allowing that peer: its
        next writes carry CRM records to a peer that is neither the CRM nor allowed."""
        log = self.tls_sink()
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.sever_rules(ALLOWED_V4), mode)
        self.addCleanup(self.assert_clean_stop, s)
        p = self.start_upload()
        time.sleep(1.0)
        self.assertEqual(s.reload(self.sever_rules(DENIED_V4)), "reloaded", s.log())
        out = p.communicate(timeout=60)[0].strip()
        alerts = s.wait_alerts(1, timeout=5)
        pii = [a for a in alerts if a["finding_info"]["analytic"]["name"] == "pii_egress"]
        self.assertEqual(len(pii), 1, s.log())
        return s, out, self.received(log), pii[0]

    def test_live_tls_upload_is_severed_after_pii_egress(self):
        s, out, got, pii = self.upload_then_tighten("enforce")
        self.assertTrue(out.startswith("CUT "), out)  # the application saw the flow end
        self.assertLess(got, UPLOAD_TOTAL, "the server received %d bytes" % got)
        self.assertEqual(pii["disposition"], "Blocked")
        self.assertIn("severed", pii["finding_info"]["desc"])
        deadline = time.time() + 5
        while "first packet dropped" not in s.log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("first packet dropped", s.log())
        latency = [l for l in s.log().splitlines() if "first packet dropped" in l][-1]
        sys.stderr.write("\n    severed: server received %d of %d bytes; %s\n"
                         % (got, UPLOAD_TOTAL, latency.split(": ", 2)[-1]))

    def test_flows_lists_a_live_upload(self):
        self.tls_sink()
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.sever_rules(ALLOWED_V4), "monitor")
        self.addCleanup(self.assert_clean_stop, s)
        p = self.start_upload()
        deadline = time.time() + 10
        mine = []
        while time.time() < deadline:
            r = self.ctl(s, "flows", "--json", "--workload", "uploader")
            self.assertEqual(r.returncode, 0, r.stderr)
            mine = [json.loads(l) for l in r.stdout.splitlines()
                    if json.loads(l).get("peer") == "%s:%d" % (ALLOWED_V4, TLS_PORT)]
            if mine and int(mine[0].get("bytes_out", "0")) > 65536:
                break
            time.sleep(0.3)
        self.assertEqual(len(mine), 1, r.stdout + s.log())
        f = mine[0]
        self.assertEqual(f["workload"], "uploader")
        self.assertEqual(f["protocol"], "tcp")
        self.assertGreater(int(f["bytes_out"]), 65536)  # kernel totals, read once a second
        self.assertTrue(f["process"].startswith("/"), f)
        table = self.ctl(s, "flows").stdout
        self.assertIn("%s:%d" % (ALLOWED_V4, TLS_PORT), table)
        self.assertRegex(table, r"\d+ of \d+ open flow\(s\)")
        p.communicate(timeout=60)

    def test_monitor_mode_never_severs(self):
        s, out, got, pii = self.upload_then_tighten("monitor")
        self.assertTrue(out.startswith("COMPLETED "), out)
        self.assertEqual(got, UPLOAD_TOTAL)
        self.assertEqual(pii["disposition"], "Would block")

    def datagrams(self):
        with open(self.lab.server_log) as f:
            return [l.split()[1:] for l in f if l.startswith("DATAGRAM")]

    def test_udp_and_connected_udp_are_denied_resolvers_exempt(self):
        resolv = os.path.join(self.lab.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver %s\n" % DENIED_V4)
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce",
                    extra=["--resolv-conf", resolv])
        self.addCleanup(self.assert_clean_stop, s)
        self.assertIn("never denied: DNS resolver %s %s/32" % (DENIED_V4, DENIED_V4), s.log())
        cg = self.lab.cgroup_rel
        d0 = len(self.datagrams())
        self.assertEqual(self.lab.client("udp", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("udpc", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("udp", ALLOWED_V4, cg), "OK")
        self.assertEqual(self.lab.client("udpc", ALLOWED_V4, cg), "OK")
        # The resolver stays reachable on port 53 though no rule allows it, and only there.
        inner = "echo $$ > %s/cgroup.procs && exec ip netns exec %s %s udp %s 53" % (
            self.lab.root + cg, self.lab.netns, ARGS.client, DENIED_V4)
        self.assertEqual(run(["sh", "-c", inner], timeout=20).stdout.strip(), "OK")
        deadline = time.monotonic() + 2
        while len(self.datagrams()) - d0 < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = sorted(tuple(d) for d in self.datagrams()[d0:])
        self.assertEqual(got, sorted([(str(PORT), "26"), (str(PORT), "26"), ("53", "26")]))
        alerts = s.wait_alerts(2)
        self.assertEqual(len(alerts), 2, s.log())
        for a in alerts:
            self.assertEqual(a["disposition"], "Blocked")
            self.assertEqual(a["dst_endpoint"]["ip"], DENIED_V4)
            self.assertEqual(a["connection_info"]["protocol_name"], "udp")

    def test_udp_over_ipv6_is_decided_too(self):
        s = self.start("enforce")
        cg = self.lab.cgroup_rel
        d0 = len(self.datagrams())
        self.assertEqual(self.lab.client("udp6", DENIED_V6, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("udpc6", DENIED_V6, cg), "ERR EPERM")
        # v4-mapped from an AF_INET6 socket: decided by sendmsg6 like the IPv4 address it is.
        self.assertEqual(self.lab.client("udp6", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("udp6", ALLOWED_V6, cg), "OK")
        self.assertEqual(self.lab.client("udpc6", ALLOWED_V6, cg), "OK")
        deadline = time.monotonic() + 2
        while len(self.datagrams()) - d0 < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([d[0] for d in self.datagrams()[d0:]], [str(PORT), str(PORT)])
        alerts = s.wait_alerts(3)
        self.assertEqual(len(alerts), 3, s.log())
        self.assertEqual(sorted(a["dst_endpoint"]["ip"] for a in alerts),
                         sorted([DENIED_V6, DENIED_V6, DENIED_V4]))
        for a in alerts:
            self.assertEqual(a["disposition"], "Blocked")
            self.assertEqual(a["connection_info"]["protocol_name"], "udp")

    def test_host_entry_is_enforced_through_dns_answers(self):
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.netns, "dnsmasq", "--no-daemon", "--no-resolv",
             "--no-hosts", "--user=root", "--pid-file=", "--bind-interfaces",
             "--listen-address=" + RESOLVER_V4, "--port=53",
             "--host-record=crm.lab.test," + DENIED_V4],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (dnsmasq.kill(), dnsmasq.wait()))
        resolv = os.path.join(self.lab.tmp, "resolv-grants.conf")
        with open(resolv, "w") as f:
            f.write("nameserver %s\n" % RESOLVER_V4)
        rules = """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: by-name
    mode: enforce
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - host: crm.lab.test
          ports: [{port}]
""".format(cg=self.lab.cgroup_rel, port=PORT)
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules, "enforce",
                    extra=["--resolv-conf", resolv])
        self.addCleanup(self.assert_clean_stop, s)
        cg = self.lab.cgroup_rel
        # Before any answer names it, the address is not allowed.
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        # The workload resolves the name (the resolver is exempt, so the query goes out)...
        inner = "echo $$ > %s/cgroup.procs && exec ip netns exec %s dig +short +tries=3 " \
                "+time=1 @%s crm.lab.test" % (self.lab.root + cg, self.lab.netns, RESOLVER_V4)
        deadline = time.time() + 10
        answer = ""
        while time.time() < deadline and answer != DENIED_V4:
            answer = run(["sh", "-c", inner], timeout=20, check=False).stdout.strip()
            if answer != DENIED_V4:
                time.sleep(0.2)
        self.assertEqual(answer, DENIED_V4)
        time.sleep(0.2)
        # ...and from then on the kernel allows the answered address, on the entry's port only.
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "ERR EPERM")
        self.assertEqual(len(self.accepted_since(n0, expect=1)), 1)
        alerts = s.wait_alerts(2)
        self.assertEqual([(a["dst_endpoint"]["ip"], a["disposition"]) for a in alerts],
                         [(DENIED_V4, "Blocked"), (ALLOWED_V4, "Blocked")], s.log())

    # --- quarantine, unblock, disarm, arm -------------------------------------------------

    def ctl(self, s, *args):
        return run([ARGS.sluicectl, "--socket", s.api_socket] + list(args), check=False,
                   timeout=30)

    def enforcement_alerts(self, s, n, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            got = [a for a in s.alerts_now()
                   if a["finding_info"]["analytic"]["name"] == "enforcement"]
            if len(got) >= n or time.time() > deadline:
                return got
            time.sleep(0.05)

    def quarantine_rules(self, mode, on=""):
        """The workload may reach the allowed peer on both ports; under quarantine only on
        PORT."""
        return """version: 1
alerts:
  aggregate_window: 0
workloads:
  - name: test-cgroup
    mode: {mode}
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - cidr: {a4}/32
          ports: [{port}, {tls}]
    quarantine:
      {on}
      allow:
        - cidr: {a4}/32
          ports: [{port}]
""".format(mode=mode, cg=self.lab.cgroup_rel, a4=ALLOWED_V4, port=PORT, tls=TLS_PORT,
           on=on or "on: []")

    def test_operator_quarantine_cuts_live_flows_survives_restart_and_unblocks(self):
        state = os.path.join(self.lab.tmp, "state-q")
        os.makedirs(state, exist_ok=True)
        self.addCleanup(shutil.rmtree, state, True)
        log = self.tls_sink()
        cg = self.lab.cgroup_rel
        # A monitor-mode workload under the --mode monitor ceiling: rules alone deny nothing.
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.quarantine_rules("monitor"), "monitor",
                    extra=["--state-dir", state])
        self.addCleanup(self.assert_clean_stop, s)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        upload = self.start_upload()  # to the allowed peer's TLS port: fine until quarantined
        time.sleep(0.5)
        r = self.ctl(s, "quarantine", "test-cgroup", "--reason", "cache dump under way")
        self.assertEqual(r.returncode, 0, r.stderr + s.log())
        self.assertIn("workload test-cgroup quarantined; 1 live flow(s) severed", r.stdout)
        out = upload.communicate(timeout=60)[0].strip()
        self.assertTrue(out.startswith("CUT "), out)
        self.assertLess(self.received(log), UPLOAD_TOTAL)
        # An operator's quarantine holds whatever the mode: all but the quarantine allowlist.
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet6", DENIED_V6, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "OK")
        self.assertEqual([a for a, _ in self.accepted_since(n0, expect=1)], [ALLOWED_V4])
        # Outside the workload nothing changed.
        self.assertEqual(self.lab.client("inet", DENIED_V4), "OK")
        q = self.enforcement_alerts(s, 1)
        self.assertEqual(len(q), 1, s.log())
        self.assertEqual(q[0]["disposition"], "Blocked")
        self.assertEqual(q[0]["finding_info"]["title"], "Workload test-cgroup quarantined")
        self.assertIn("uid 0", q[0]["finding_info"]["desc"])
        self.assertIn("cache dump under way", q[0]["finding_info"]["desc"])
        again = self.ctl(s, "quarantine", "test-cgroup")
        self.assertEqual(again.returncode, 0)
        self.assertIn("already quarantined (nothing changed)", again.stdout)
        st = self.ctl(s, "status")
        self.assertIn("quarantined: test-cgroup (by uid 0", st.stdout)
        unknown = self.ctl(s, "quarantine", "no-such-workload")
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("no workload \"no-such-workload\"", unknown.stderr)

        # A restarted agent keeps the quarantine (--state-dir).
        self.assertEqual(s.stop(), 0, s.log())
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.quarantine_rules("monitor"), "monitor",
                    extra=["--state-dir", state])
        self.addCleanup(self.assert_clean_stop, s)
        self.assertIn("workload test-cgroup is quarantined (by uid 0", s.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")

        r = self.ctl(s, "unblock", "test-cgroup", "--reason", "cleaned up")
        self.assertEqual(r.returncode, 0, r.stderr + s.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        u = self.enforcement_alerts(s, 1)
        self.assertEqual([a["finding_info"]["title"] for a in u],
                         ["Workload test-cgroup released from quarantine"])
        self.assertEqual(u[0]["disposition"], "Allowed")
        self.assertIn("not quarantined", self.ctl(s, "unblock", "test-cgroup").stdout)

    def test_disarm_stops_all_blocking_until_armed(self):
        state = os.path.join(self.lab.tmp, "state-d")
        os.makedirs(state, exist_ok=True)
        self.addCleanup(shutil.rmtree, state, True)
        cg = self.lab.cgroup_rel
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.quarantine_rules("enforce"), "enforce",
                    extra=["--state-dir", state])
        self.addCleanup(self.assert_clean_stop, s)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        r = self.ctl(s, "disarm", "--reason", "false positive storm")
        self.assertEqual(r.returncode, 0, r.stderr + s.log())
        self.assertIn("enforcement disarmed", r.stdout)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertIn("enforcement: DISARMED", self.ctl(s, "status").stdout)
        # Disarmed, a quarantine is refused rather than silently not enforced.
        q = self.ctl(s, "quarantine", "test-cgroup")
        self.assertEqual(q.returncode, 2)
        self.assertIn("enforcement is disarmed", q.stderr)
        alerts = s.wait_alerts(3)
        findings = [a for a in alerts if a["finding_info"]["analytic"]["name"] != "enforcement"]
        self.assertEqual([a["disposition"] for a in findings], ["Blocked", "Would block"])
        self.assertEqual([a["finding_info"]["title"] for a in self.enforcement_alerts(s, 1)],
                         ["Enforcement disarmed"])
        r = self.ctl(s, "arm")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual([a["finding_info"]["title"] for a in self.enforcement_alerts(s, 2)],
                         ["Enforcement disarmed", "Enforcement armed"])

    def test_rule_quarantines_a_workload_on_conviction(self):
        cg = self.lab.cgroup_rel
        on = "on: [unexpected_egress]"
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.quarantine_rules("enforce", on), "enforce")
        self.addCleanup(self.assert_clean_stop, s)
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        q = self.enforcement_alerts(s, 1)
        self.assertEqual(len(q), 1, s.log())
        self.assertEqual(q[0]["disposition"], "Blocked")
        self.assertIn("by rule", q[0]["finding_info"]["desc"])
        self.assertIn("unexpected_egress finding", q[0]["finding_info"]["desc"])
        # The rules allow the TLS port of the allowed peer; the quarantine does not.
        tls = "exec ip netns exec %s %s inet %s %d" % (self.lab.netns, ARGS.client, ALLOWED_V4,
                                                          TLS_PORT)
        out = run(["sh", "-c", "echo $$ > %s/cgroup.procs && %s" % (self.lab.cgroup, tls)],
                  timeout=20).stdout.strip()
        self.assertEqual(out, "ERR EPERM")
        self.assertEqual(self.accepted_since(n0), [])

    def test_rule_quarantine_under_monitor_only_says_it_would(self):
        cg = self.lab.cgroup_rel
        on = "on: [unexpected_egress]"
        s = Sluiced(ARGS.sluiced, self.lab.tmp, self.quarantine_rules("enforce", on), "monitor")
        self.addCleanup(self.assert_clean_stop, s)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertEqual(self.lab.client("inet6", DENIED_V6, cg), "OK")
        q = self.enforcement_alerts(s, 2, timeout=2.0)
        self.assertEqual([a["finding_info"]["title"] for a in q],
                         ["Workload test-cgroup would be quarantined"], s.log())
        self.assertEqual(q[0]["disposition"], "Would block")

    # --- pinning: the policy outlives the agent ------------------------------------------

    def links_of(self, name):
        out = run(["bpftool", "link", "show", "--json"], check=False).stdout or "[]"
        progs = {p["id"]: p.get("name", "") for p in sluice_programs()}
        return sorted(l["id"] for l in json.loads(out) if progs.get(l.get("prog_id")) == name)

    def root_attachments(self, name):
        out = run(["bpftool", "cgroup", "show", self.lab.root, "--json"], check=False).stdout
        return [p for p in json.loads(out or "[]") if p.get("name") == name]

    def pinned_enforcing_agent(self):
        """sluiced in enforce mode with its pins, blocking the denied peer; the pins are
        released at the end whatever the test did to the agent."""
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce")
        self.addCleanup(s.stop)
        self.addCleanup(release_pins, s.pin_dir)
        self.assertEqual(self.lab.client("inet", DENIED_V4, self.lab.cgroup_rel), "ERR EPERM")
        return s

    def hammer_denied(self, seconds):
        """A workload process connecting to the denied peer every 5 ms for `seconds`; it prints
        how many connects succeeded and how many got EPERM (assert_hammer_blocked)."""
        loop = ("import socket,sys,time\n"
                "ok=eperm=0\n"
                "end=time.time()+float(sys.argv[1])\n"
                "while time.time()<end:\n"
                "  s=socket.socket()\n"
                "  try:\n"
                "    s.connect(('%s',%d)); ok+=1\n"
                "  except PermissionError: eperm+=1\n"
                "  finally: s.close()\n"
                "  time.sleep(0.005)\n"
                "print(ok,eperm,flush=True)\n") % (DENIED_V4, PORT)
        inner = "echo $$ > %s/cgroup.procs && exec ip netns exec %s %s -c '%s' %d" % (
            self.lab.cgroup, self.lab.netns, sys.executable, loop.replace("'", "'\\''"),
            seconds)
        hammer = subprocess.Popen(["sh", "-c", inner], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (hammer.kill(), hammer.wait()))
        time.sleep(0.5)
        return hammer

    def assert_hammer_blocked(self, hammer):
        ok, eperm = map(int, hammer.communicate(timeout=60)[0].split())
        self.assertEqual(ok, 0, "a denied connect got through during the restart")
        self.assertGreater(eperm, 50)

    def test_sigkill_leaves_policy_restart_adopts_disarm_releases(self):
        cg = self.lab.cgroup_rel
        # Both agents here die by SIGKILL: their cleanups only make sure of that.
        s = self.pinned_enforcing_agent()
        pin_dir = s.pin_dir
        link_before = self.links_of("sluice_connect4")
        self.assertEqual(len(link_before), 1)
        s.kill()
        # Nobody runs; the kernel still decides.
        self.assertTrue(os.path.isdir(pin_dir))
        n0 = len(self.lab.accepted())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet6", DENIED_V6, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "OK")

        # A workload process hammers the denied peer through the restart: not one connect may
        # get through while the new agent loads, attaches and switches the policy.
        hammer = self.hammer_denied(12)
        s2 = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce")
        self.addCleanup(s2.stop)
        self.assertIn("adopting the pinned sensor and policy", s2.log())
        self.assert_hammer_blocked(hammer)
        self.assertEqual([a for a, _ in self.accepted_since(n0, expect=1)], [ALLOWED_V4])
        # Adopted, not doubled: the same link now runs the new program.
        self.assertEqual(self.links_of("sluice_connect4"), link_before)
        self.assertEqual(len(self.root_attachments("sluice_connect4")), 1)
        st = json.loads(self.ctl(s2, "status", "--json").stdout)
        self.assertEqual(st["pinning"], "adopted")
        # The adopted policy is the new agent's: it reports what it blocks.
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        alerts = s2.wait_alerts(1)
        self.assertTrue(any(a["disposition"] == "Blocked" for a in alerts), s2.log())

        # disarm through the agent releases the block; a second kill leaves the (disarmed)
        # programs pinned; disarm with no agent detaches them all.
        r = self.ctl(s2, "disarm")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        s2.kill()
        self.assertNotEqual(sluice_programs(), [])
        r = run([ARGS.sluicectl, "--socket", s2.api_socket, "disarm", "--pin-dir", pin_dir],
                check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sluiced is not running: released the pinned policy", r.stdout)
        self.assertFalse(os.path.exists(pin_dir))
        self.assertEqual(sluice_programs_after_release(), [])
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        r = run([ARGS.sluicectl, "--socket", s2.api_socket, "disarm", "--pin-dir", pin_dir],
                check=False)
        self.assertIn("nothing to disarm", r.stdout)

    def test_restart_across_a_layout_change_replaces_the_pinned_sensor_without_a_gap(self):
        cg = self.lab.cgroup_rel
        s = self.pinned_enforcing_agent()
        pin_dir = s.pin_dir
        s.kill()
        # An upgrade whose maps differ (an ABI change): the pinned `severed` map has another
        # layout than this build's. Its links keep the real map; only the pin is swapped.
        pin = os.path.join(pin_dir, "maps", "severed")
        os.unlink(pin)
        run(["bpftool", "map", "create", pin, "type", "hash", "key", "4", "value", "4",
             "entries", "1", "name", "severed"])
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        hammer = self.hammer_denied(12)
        s2 = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce")
        self.addCleanup(s2.stop)
        self.assertIn("replacing the pinned sensor", s2.log())
        self.assertIn("map severed has another layout", s2.log())
        self.assert_hammer_blocked(hammer)
        # The old programs are gone, the new ones attached once, on fresh maps it pinned.
        self.assertEqual(len(self.root_attachments("sluice_connect4")), 1)
        st = json.loads(self.ctl(s2, "status", "--json").stdout)
        self.assertEqual(st["pinning"], "replaced")
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(self.lab.client("inet", ALLOWED_V4, cg), "OK")
        info = json.loads(run(["bpftool", "map", "show", "pinned", pin, "--json"]).stdout)
        self.assertNotEqual((info["bytes_key"], info["bytes_value"]), (4, 4))
        self.assertEqual(s2.stop(), 0, s2.log())
        self.assertEqual(sluice_programs(), [])
        self.assertFalse(os.path.exists(pin_dir))

    def test_keep_pinned_on_exit_keeps_enforcement_across_a_clean_restart(self):
        cg = self.lab.cgroup_rel
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce",
                    extra=["--keep-pinned-on-exit"])
        self.addCleanup(release_pins, s.pin_dir)
        self.assertEqual(s.stop(), 0, s.log())
        self.assertIn("enforcement stays in force, pinned under", s.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        # Monitor mode blocks nothing: the next clean stop releases everything.
        s2 = self.start("monitor")
        self.assertIn("adopting the pinned sensor", s2.log())
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "OK")
        self.assertEqual(s2.stop(), 0, s2.log())
        self.assertEqual(sluice_programs(), [])
        self.assertFalse(os.path.exists(s2.pin_dir))

    # --- delivery: sinks, spool, evidence, metrics -------------------------------------

    def collector(self, port):
        """A webhook collector on loopback: appends the uid of every alert it gets to a file."""
        log = os.path.join(self.lab.tmp, "collector-%d.log" % port)
        open(log, "w").close()
        code = r"""
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "a") as f:
            for a in json.loads(body):
                f.write(a["finding_info"]["uid"] + " " + a["finding_info"]["analytic"]["name"] + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
        p = subprocess.Popen([sys.executable, "-c", code, str(port), log])
        self.addCleanup(lambda: (p.kill(), p.wait()))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        return p, log

    def test_alerts_reach_a_sink_that_was_down_and_the_evidence_log(self):
        state = os.path.join(self.lab.tmp, "state-deliver")
        os.makedirs(state, exist_ok=True)
        self.addCleanup(shutil.rmtree, state, True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            metrics_port = probe.getsockname()[1]
        archive = os.path.join(self.lab.tmp, "archive.jsonl")
        config = os.path.join(self.lab.tmp, "sluiced.yaml")
        with open(config, "w") as f:
            f.write("sinks:\n"
                    "  - {name: hook, type: webhook, url: \"http://127.0.0.1:%d/in\"}\n"
                    "  - {name: archive, type: file, path: %s, max_bytes: 1MiB}\n" % (port, archive))
        s = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab, "enforce"), "enforce",
                    extra=["--state-dir", state, "--config", config,
                           "--metrics-listen", "127.0.0.1:%d" % metrics_port])
        self.addCleanup(self.assert_clean_stop, s)
        cg = self.lab.cgroup_rel
        # The collector is down: the alert waits in the spool.
        self.assertEqual(self.lab.client("inet", DENIED_V4, cg), "ERR EPERM")
        self.assertEqual(len(s.wait_alerts(1)), 1, s.log())
        deadline = time.time() + 10
        while "sink hook" not in s.log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("sink hook (webhook+http://127.0.0.1:%d/in) failing" % port, s.log())
        st = json.loads(self.ctl(s, "status", "--json").stdout)
        hook = [k for k in st["sinks"] if k["name"] == "hook"][0]
        self.assertEqual(hook["pending"], "1")
        self.assertFalse(hook["healthy"])
        # Up again: delivered from the spool, exactly the alert the file has.
        _, got = self.collector(port)
        self.assertEqual(self.lab.client("inet6", DENIED_V6, cg), "ERR EPERM")
        alerts = s.wait_alerts(2)
        self.assertEqual(len(alerts), 2, s.log())
        uids = [a["finding_info"]["uid"] for a in alerts]
        deadline = time.time() + 40  # the worker's backoff may be a few seconds by now
        while time.time() < deadline and len(read_text(got).split("\n")) < 3:
            time.sleep(0.2)
        self.assertEqual([l.split()[0] for l in read_text(got).splitlines()], uids)
        with open(archive) as f:
            self.assertEqual([json.loads(l)["finding_info"]["uid"] for l in f], uids)
        # Live metrics pass promtool and show the delivery.
        want = 'sluice_sink_delivered_total{sink="hook",kind="webhook"} 2'
        deadline = time.time() + 5  # the snapshot behind /metrics is refreshed 4 times a second
        while True:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port) as r:
                text = r.read().decode()
            if want in text or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertIn(want, text)
        self.assertIn('sluice_alerts_total{detector="unexpected_egress",disposition="Blocked"} 2',
                      text)
        lint = run(["promtool", "check", "metrics"], input=text, check=False)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % metrics_port) as r:
            self.assertEqual(r.status, 200)
        # The evidence log holds both, chained.
        v = run([ARGS.sluicectl, "verify", "--state-dir", state], check=False)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("evidence log intact: 2 records", v.stdout)

    def test_unwatched_process_is_untouched(self):
        s = self.start("enforce")
        n0 = len(self.lab.accepted())
        # Not in the cgroup, not the watched executable: python from the namespace.
        code = ("import socket; s=socket.create_connection(('%s', %d), 5); s.sendall(b'x'); "
                "print('OK')" % (DENIED_V4, PORT))
        out = run(["ip", "netns", "exec", self.lab.netns, sys.executable, "-c", code])
        self.assertEqual(out.stdout.strip(), "OK")
        self.assertEqual(s.wait_alerts(1, timeout=1.0), [])
        self.assertEqual(len(self.accepted_since(n0, expect=1)), 1)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sluiced", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--sluicectl", required=True)
    ARGS, rest = p.parse_known_args()
    return run_privileged_suite(rest)


if __name__ == "__main__":
    sys.exit(main())
