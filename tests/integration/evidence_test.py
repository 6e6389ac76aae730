#!/usr/bin/env python3
"""Evidence log contract (DESIGN §7): alerts appended through EvidenceLog (the test driver
sluice_test_evidence_append) form a hash chain that `sluicectl verify` checks; every kind of
tampering, done here on copies, is named at its exact record; `sluicectl report` turns a window of
the log into a Markdown and a JSON incident report with exact counts and deadlines.

No root needed. Every temporary directory is removed, also when a test fails.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None

T0 = 1795946400000  # 2026-11-29T10:00:00Z
MIN = 60 * 1000
N = 50
SINCE, UNTIL = "2026-11-29T11:00:00Z", "2026-11-29T13:00:00Z"
SINCE_MS, UNTIL_MS = T0 + 60 * MIN, T0 + 180 * MIN

DETECTORS = ["unexpected_egress", "pii_egress", "cache_dump", "log_export", "tool_egress"]
ATTACKS = {"unexpected_egress": "T1041", "pii_egress": "T1567", "cache_dump": "T1005",
           "log_export": "T1041", "tool_egress": "T1048"}
WORKLOADS = [  # name, role, cgroup, cgroup id, comm, exe
    ("crm-sync", "sync", "/system.slice/crm-sync.service", 7788, "python3", "/usr/bin/python3.11"),
    ("inference", "llm", "/kubepods/pod-llm/vllm", 8801, "vllm", "/opt/vllm/bin/python3"),
    ("admin-console", "admin", "/system.slice/admin-console.service", 9902, "node",
     "/usr/bin/node"),
]
DESTS = [("203.0.113.9", 443, ["upload.example.net"]),
         ("198.51.100.7", 9000, ["bucket.example.org"]),
         ("192.0.2.44", 9092, ["kafka.partner.example"]),
         ("203.0.113.77", 22, [])]
DISPOSITIONS = ["Would block", "Blocked", "Allowed", "Would block"]
DISPOSITION_IDS = {"Allowed": (1, 1, "Allowed"), "Blocked": (2, 2, "Denied"),
                   "Would block": (99, 99, "Would block")}
SEVERED = " The flow was severed: nothing more of it leaves the host."


def base(i, t, detector, title, desc, disposition, severity_id, wl):
    name, role, cgroup, cgid, comm, exe = wl
    did, aid, action = DISPOSITION_IDS[disposition]
    uid = "9d3c%04d-1b2e-4c5d-8e7f-%012d" % (i, i)
    return {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2,
        "category_name": "Findings", "activity_id": 1, "activity_name": "Create",
        "type_uid": 200401, "type_name": "Detection Finding: Create", "time": t,
        "severity_id": severity_id,
        "severity": {3: "Medium", 4: "High", 5: "Critical"}[severity_id],
        "status_id": 1, "status": "New", "message": title,
        "metadata": {"version": "1.1.0",
                     "product": {"name": "sluice", "vendor_name": "sluice", "version": "0.1.0"},
                     "profiles": ["host", "security_control"], "uid": uid},
        "finding_info": {"uid": uid, "title": title, "types": [detector], "desc": desc,
                         "analytic": {"name": detector, "uid": detector, "type_id": 1,
                                      "type": "Rule"}},
        "disposition_id": did, "disposition": disposition, "action_id": aid, "action": action,
        "device": {"type_id": 1, "type": "Server", "hostname": "inference-01"},
        "actor": {"process": {"pid": 4000 + i, "name": comm, "cmd_line": "%s job.py" % comm,
                              "file": {"path": exe, "name": os.path.basename(exe), "type_id": 1,
                                       "type": "Regular File"},
                              "user": {"uid": "1000"}, "parent_process": {"pid": 1}},
                  "app_name": name},
        "unmapped": {"sluice": {"workload": {"name": name, "role": role, "cgroup_path": cgroup,
                                             "cgroup_id": cgid},
                                "rule_mode": "enforce", "connect_result": 0,
                                "destination_names": []}},
    }


def make_alert(i):
    """Alert i of the synthetic log: one every 5 minutes from 10:05 on 2026-11-29."""
    t = T0 + i * 5 * MIN
    if i == 30:  # the operator quarantines the sync workload
        a = base(i, t, "enforcement", "Workload crm-sync quarantined",
                 "Workload crm-sync was quarantined by uid 0: every destination but the "
                 "resolvers, the sinks and its quarantine allowlist is denied, and its live flows "
                 "to other destinations were severed.", "Blocked", 4, WORKLOADS[0])
        a["unmapped"]["sluice"]["destination_names"] = []
        return a
    detector = DETECTORS[i % 5]
    wl = WORKLOADS[i % 3]
    ip, port, names = DESTS[i % 4]
    disposition = DISPOSITIONS[i % 4]
    severed = disposition == "Blocked" and i % 8 == 1
    host = names[0] if names else ip
    title = "%s: %s sent data to %s" % (detector, wl[0], host)
    desc = "Process %s of workload %s sent %d bytes to %s:%d." % (wl[4], wl[0], 1000 * i + 17,
                                                                  ip, port)
    if severed:
        desc += SEVERED
    a = base(i, t, detector, title, desc, disposition, 4 if disposition != "Allowed" else 3, wl)
    a["finding_info"]["attacks"] = [{"technique": {"uid": ATTACKS[detector]}}]
    a["dst_endpoint"] = {"ip": ip, "port": port}
    if names:
        a["dst_endpoint"]["hostname"] = names[0]
    a["connection_info"] = {"protocol_name": "tcp", "direction_id": 2, "direction": "Outbound",
                            "protocol_num": 6}
    s = a["unmapped"]["sluice"]
    s["destination_names"] = names
    s["connect_result"] = -1 if disposition == "Blocked" and not severed else 0
    s["traffic"] = {"bytes_out": 1000 * i + 17, "bytes_in": 300}
    if port == 443:
        s["app_protocol"] = "tls"
        s["tls"] = {"sni": "api.%s" % names[0]}
        s["encrypted"] = True
    data = []
    if detector in ("pii_egress", "unexpected_egress"):
        data.append({"kind": "crm_record_id", "count": i,
                     "fingerprints": ["fp-crm-%d" % (i % 6), "fp-crm-%d" % ((i + 1) % 6)]})
    if detector == "pii_egress":
        data.append({"kind": "email", "count": 2, "fingerprints": ["fp-em-%d" % (i % 4)]})
    if data:
        s["data"] = data
    if detector in ("cache_dump", "log_export"):
        path = "/var/cache/vllm/prefix.bin" if detector == "cache_dump" else "/var/log/llm/x.log"
        s["files"] = [{"path": path, "file_class": detector, "bytes_read": 4096,
                       "bytes_mapped": 0}]
        a["evidences"] = [{"file": {"path": path, "name": os.path.basename(path),
                                    "type_id": 1, "type": "Regular File"}}]
    if i == 20:  # an aggregated alert: four occurrences in one
        a["count"] = 4
        a["start_time"] = t - 3 * MIN
        a["end_time"] = t
        a["finding_info"]["first_seen_time"] = t - 3 * MIN
        a["finding_info"]["last_seen_time"] = t
    return a


ALERTS = [make_alert(i) for i in range(1, N + 1)]


def md(text):
    """The report's Markdown escaping of alert text."""
    out = []
    for c in text:
        if c in "\\`*_[]<>|#!":
            out.append("\\" + c)
        elif c in "\n\r\t":
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def append(state_dir, alerts):
    text = "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in alerts)
    return run([ARGS.append, state_dir], input=text)


class EvidenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-evidence-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.state = os.path.join(cls.tmp, "state")
        # Two runs of the writer: the second continues the chain the first left.
        for part in (ALERTS[:30], ALERTS[30:]):
            r = append(cls.state, part)
            if r.returncode != 0:
                raise AssertionError("append failed: %s" % r.stderr)
        cls.log = os.path.join(cls.state, "evidence.jsonl")
        cls.head = os.path.join(cls.state, "evidence.head")

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="sluice-evidence-case-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def copy(self):
        dst = os.path.join(self.work, "state")
        shutil.copytree(self.state, dst)
        return dst

    def lines(self, state):
        with open(os.path.join(state, "evidence.jsonl"), "rb") as f:
            return f.read().split(b"\n")[:-1]

    def write_lines(self, state, lines):
        with open(os.path.join(state, "evidence.jsonl"), "wb") as f:
            f.write(b"".join(l + b"\n" for l in lines))

    def verify(self, *args):
        return run([ARGS.sluicectl, "verify", *args])

    def assert_broken(self, state, record, problem):
        r = self.verify("--state-dir", state)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines()[0],
                         "evidence log BROKEN at record %d: %s" % (record, problem))

    # --- the log as written ---------------------------------------------------------------

    def test_log_is_the_alerts_in_a_chain(self):
        lines = self.lines(self.state)
        self.assertEqual(len(lines), N)
        for n, line in enumerate(lines, 1):
            rec = json.loads(line)
            self.assertEqual(list(rec), ["seq", "time_ms", "prev", "alert"])
            self.assertEqual(rec["seq"], n)
            self.assertEqual(rec["alert"], ALERTS[n - 1])
        self.assertEqual(json.loads(lines[0])["prev"], "0" * 64)
        self.assertEqual(json.loads(lines[30])["prev"], hashlib.sha256(lines[29]).hexdigest())
        with open(self.head) as f:
            head = json.load(f)
        self.assertEqual(head["seq"], N)
        self.assertEqual(head["sha256"], hashlib.sha256(lines[-1]).hexdigest())
        for path in (self.log, self.head):
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)

    def test_intact_log_verifies(self):
        r = self.verify("--state-dir", self.state)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "evidence log intact: %d records (%s)\n" % (N, self.log))
        r = self.verify("--file", self.log)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "evidence log intact: %d records (%s)\n" % (N, self.log))

    def test_file_without_head_verifies_with_a_warning(self):
        alone = os.path.join(self.work, "exported.jsonl")
        shutil.copy(self.log, alone)
        r = self.verify("--file", alone)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "evidence log intact: %d records (%s)\n" % (N, alone))
        self.assertIn("cannot be detected", r.stderr)

    def test_no_log_is_an_error(self):
        r = self.verify("--state-dir", self.work)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("evidence.jsonl", r.stderr)
        self.assertNotIn("intact", r.stdout)

    def test_state_dir_and_file_exclude_each_other(self):
        r = self.verify("--state-dir", self.state, "--file", self.log)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    # --- tampering, each on a copy ----------------------------------------------------------

    def test_edited_byte(self):
        state = self.copy()
        lines = self.lines(state)
        at = lines[16].index(b"sent data")
        lines[16] = lines[16][:at] + b"S" + lines[16][at + 1:]  # one byte of record 17
        self.write_lines(state, lines)
        self.assert_broken(state, 17, "edited (its hash does not match the next record's prev)")

    def test_deleted_record(self):
        state = self.copy()
        lines = self.lines(state)
        del lines[8]  # record 9
        self.write_lines(state, lines)
        self.assert_broken(state, 9, "missing (seq 10 follows seq 8)")

    def test_swapped_records(self):
        state = self.copy()
        lines = self.lines(state)
        lines[19], lines[20] = lines[20], lines[19]  # records 20 and 21
        self.write_lines(state, lines)
        self.assert_broken(state, 20, "out of order (seq 21 comes before seq 20)")

    def test_truncated_tail(self):
        state = self.copy()
        self.write_lines(state, self.lines(state)[:-2])
        self.assert_broken(state, 49, "tail truncated (head says 50 records, log has 48)")
        # The writer will not chain onto it either.
        r = append(state, [ALERTS[0]])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("tail truncated", r.stderr)

    def test_edited_head(self):
        state = self.copy()
        path = os.path.join(state, "evidence.head")
        with open(path) as f:
            head = f.read()
        at = head.index('"sha256":"') + len('"sha256":"')
        head = head[:at] + ("1" if head[at] == "0" else "0") + head[at + 1:]
        with open(path, "w") as f:
            f.write(head)
        self.assert_broken(state, 50, "head edited (evidence.head does not match its own check)")

    def test_torn_tail_is_reported_not_chained_over(self):
        state = self.copy()
        extra = json.dumps(ALERTS[0], separators=(",", ":")).encode()
        with open(os.path.join(state, "evidence.jsonl"), "ab") as f:
            f.write(b'{"seq":51,"time_ms":1,"prev":"' + extra[:40])  # a crash mid-write
        self.assert_broken(state, 51, "torn (the last line has no line end: a write cut short "
                                      "by a crash, or the file cut inside a record)")
        with open(os.path.join(state, "evidence.jsonl"), "rb") as f:
            before = f.read()
        r = append(state, [ALERTS[0]])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("torn last record", r.stderr)
        with open(os.path.join(state, "evidence.jsonl"), "rb") as f:
            self.assertEqual(f.read(), before)

    # --- the incident report ----------------------------------------------------------------

    def expected(self):
        """The report's numbers, worked out here from the alerts themselves."""
        win = [a for a in ALERTS if SINCE_MS <= a["time"] <= UNTIL_MS]
        e = {"alerts": len(win), "occurrences": sum(a.get("count", 1) for a in win),
             "bytes_out": sum(a["unmapped"]["sluice"].get("traffic", {}).get("bytes_out", 0)
                              for a in win),
             "detectors": {}, "data": {}, "workloads": {}, "destinations": {},
             "blocked": 0, "would_block": 0, "allowed": 0, "severed": 0, "quarantines": 0}
        fps = {}
        for a in win:
            det = a["finding_info"]["analytic"]["name"]
            e["detectors"][det] = e["detectors"].get(det, 0) + 1
            s = a["unmapped"]["sluice"]
            wl = a["actor"]["app_name"]
            out = s.get("traffic", {}).get("bytes_out", 0)
            w = e["workloads"].setdefault(wl, {"alerts": 0, "occurrences": 0, "bytes_out": 0})
            w["alerts"] += 1
            w["occurrences"] += a.get("count", 1)
            w["bytes_out"] += out
            if det == "enforcement":
                e["quarantines"] += a["disposition"] == "Blocked"
            else:
                e[{"Blocked": "blocked", "Would block": "would_block",
                   "Allowed": "allowed"}[a["disposition"]]] += 1
                e["severed"] += "The flow was severed" in a["finding_info"]["desc"]
            if "dst_endpoint" in a:
                key = (a["dst_endpoint"]["ip"], a["dst_endpoint"]["port"])
                d = e["destinations"].setdefault(key, {"alerts": 0, "bytes_out": 0,
                                                       "names": set()})
                d["alerts"] += 1
                d["bytes_out"] += out
                d["names"].update(s["destination_names"])
                if "hostname" in a["dst_endpoint"]:
                    d["names"].add(a["dst_endpoint"]["hostname"])
                if "tls" in s:
                    d["names"].add(s["tls"]["sni"])
            for m in s.get("data", []):
                k = e["data"].setdefault(m["kind"], {"matches": 0, "alerts": 0,
                                                     "distinct_fingerprints": 0})
                k["matches"] += m["count"]
                k["alerts"] += 1
                fps.setdefault(m["kind"], set()).update(m["fingerprints"])
        for kind, f in fps.items():
            e["data"][kind]["distinct_fingerprints"] = len(f)
        return win, e

    def report(self, state, *extra):
        prefix = os.path.join(self.work, "incident")
        r = run([ARGS.sluicectl, "report", "--state-dir", state, "--out", prefix, *extra])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(prefix + ".md") as f:
            text = f.read()
        with open(prefix + ".json") as f:
            data = json.load(f)
        return r, text, data

    def test_report_over_a_window(self):
        r, text, j = self.report(self.state, "--since", SINCE, "--until", UNTIL)
        win, e = self.expected()
        # Hand-checked anchors, so that the test does not only agree with itself.
        self.assertEqual(len(win), 25)                      # alerts 12..36
        self.assertEqual(e["quarantines"], 1)               # alert 30
        self.assertEqual(e["occurrences"], 28)              # alert 20 stands for 4
        self.assertEqual(e["data"]["crm_record_id"]["matches"],
                         sum(i for i in range(12, 37) if i % 5 in (0, 1)) - 30)
        self.assertEqual(r.stdout, "incident report written: %s.md, %s.json (25 alert(s) from "
                                   "2026-11-29T11:00:00.000Z to 2026-11-29T13:00:00.000Z)\n"
                         % ((os.path.join(self.work, "incident"),) * 2))

        # JSON: exact numbers.
        self.assertEqual(j["window"], {"since": "2026-11-29T11:00:00.000Z", "since_ms": SINCE_MS,
                                       "until": "2026-11-29T13:00:00.000Z", "until_ms": UNTIL_MS})
        self.assertEqual(j["evidence"], {"file": self.log, "verified": True, "records": N,
                                         "head_checked": True})
        self.assertEqual(j["summary"], {"alerts": 25, "occurrences": 28, "undated": 0,
                                        "bytes_out": e["bytes_out"],
                                        "detectors": e["detectors"]})
        self.assertEqual(j["detection"]["time"], "2026-11-29T11:00:00.000Z")
        self.assertEqual(j["detection"]["time_ms"], SINCE_MS)
        self.assertEqual(j["deadlines"]["gdpr_art33"],
                         {"due": "2026-12-02T11:00:00.000Z", "due_ms": SINCE_MS + 72 * 60 * MIN,
                          "hours": 72})
        self.assertEqual(j["deadlines"]["nis2_early_warning"],
                         {"due": "2026-11-30T11:00:00.000Z", "due_ms": SINCE_MS + 24 * 60 * MIN,
                          "hours": 24})
        self.assertIn("awareness", j["deadlines"]["basis"])
        self.assertEqual(j["data"], e["data"])
        self.assertEqual({w["name"]: {k: w[k] for k in ("alerts", "occurrences", "bytes_out")}
                          for w in j["workloads"]}, e["workloads"])
        self.assertEqual({(d["ip"], d["port"]): {"alerts": d["alerts"],
                                                 "bytes_out": d["bytes_out"],
                                                 "names": set(d["names"])}
                          for d in j["destinations"]}, e["destinations"])
        self.assertEqual(j["actions"]["blocked"], e["blocked"])
        self.assertEqual(j["actions"]["would_block"], e["would_block"])
        self.assertEqual(j["actions"]["allowed"], e["allowed"])
        self.assertEqual(j["actions"]["severed_flows"], e["severed"])
        self.assertEqual(j["actions"]["severed_flows"], 3)  # alerts 17, 25 and 33
        self.assertEqual(j["actions"]["quarantines"], 1)
        self.assertEqual([x["title"] for x in j["actions"]["enforcement"]],
                         ["Workload crm-sync quarantined"])
        self.assertEqual([x["time_ms"] for x in j["timeline"]], [a["time"] for a in win])
        self.assertEqual(j["timeline"][8]["count"], 4)  # alert 20

        # Markdown: the sections, in order, and exact lines.
        sections = [l for l in text.splitlines() if l.startswith("#")]
        self.assertEqual(sections, ["# sluice incident report", "## Summary",
                                    "## Notification deadlines", "## Timeline", "## Workloads",
                                    "## Destinations", "## Data involved", "## Actions taken",
                                    "### Enforcement changes"])
        self.assertNotIn("WARNING", text)
        self.assertIn("- Evidence log: %s\n" % md(self.log), text)
        self.assertIn("- Hash chain: verified intact (50 records)\n", text)
        self.assertIn("- Alerts: 25 (28 occurrences)\n", text)
        self.assertIn("- Detection time: 2026-11-29T11:00:00.000Z (the first finding in the "
                      "window)\n", text)
        self.assertIn("taken as the time of awareness", text)
        self.assertIn("| GDPR Art. 33 notification to the supervisory authority (detection + 72 h)"
                      " | 2026-12-02T11:00:00.000Z |\n", text)
        self.assertIn("| NIS2 Art. 23 early warning to the CSIRT or competent authority "
                      "(detection + 24 h) | 2026-11-30T11:00:00.000Z |\n", text)
        timeline = text.split("## Timeline\n\n")[1].split("\n\n")[0].splitlines()
        self.assertEqual(len(timeline), 2 + 25)
        self.assertEqual(timeline[2 + 5],  # alert 17
                         "| 2026-11-29T11:25:00.000Z | cache\\_dump | admin-console | "
                         "198.51.100.7:9000 (bucket.example.org) | Blocked (flow severed) | "
                         "cache\\_dump: admin-console sent data to bucket.example.org |")
        self.assertEqual(timeline[2 + 8],  # alert 20, aggregated
                         "| 2026-11-29T11:40:00.000Z | unexpected\\_egress | admin-console | "
                         "203.0.113.9:443 (api.upload.example.net, upload.example.net) | "
                         "Would block | unexpected\\_egress: admin-console sent data to "
                         "upload.example.net (x4) |")
        for kind, d in e["data"].items():
            self.assertIn("| %s | %d | %d | %d |\n" % (md(kind), d["matches"], d["alerts"],
                                                       d["distinct_fingerprints"]), text)
        for name, w in e["workloads"].items():
            self.assertRegex(text, r"\n\| %s \| %d \| %d \| %d \| " % (
                name, w["alerts"], w["occurrences"], w["bytes_out"]))
        self.assertIn("- Blocked: %d\n" % e["blocked"], text)
        self.assertIn("- Would block (monitor mode or an unarmed rule; not stopped): %d\n"
                      % e["would_block"], text)
        self.assertIn("- Flows severed: 3\n", text)
        self.assertIn("- Workloads quarantined: 1\n", text)
        self.assertIn("| 2026-11-29T12:30:00.000Z | crm-sync | Blocked | Workload crm-sync "
                      "quarantined |\n", text)
        # Counts only: no fingerprint, and nothing outside the window.
        self.assertNotIn("fp-", text + json.dumps(j))
        self.assertNotIn("10:55:00", text)
        self.assertNotIn("13:05:00", text)

    def test_report_from_a_broken_log_says_so(self):
        state = self.copy()
        lines = self.lines(state)
        del lines[8]
        self.write_lines(state, lines)
        r, text, j = self.report(state, "--since", SINCE, "--until", UNTIL)
        self.assertIn("WARNING: evidence log BROKEN at record 9", r.stderr)
        self.assertTrue(text.startswith(
            "# sluice incident report\n\n> **WARNING: THE EVIDENCE LOG DID NOT VERIFY.** The hash "
            "chain of %s is broken at record 9: missing (seq 10 follows seq 8)."
            % md(os.path.join(state, "evidence.jsonl"))), text[:400])
        self.assertEqual(j["evidence"]["verified"], False)
        self.assertEqual(j["evidence"]["bad_record"], 9)
        self.assertEqual(j["evidence"]["problem"], "missing (seq 10 follows seq 8)")
        self.assertEqual(j["summary"]["alerts"], 25)  # record 9 lies before the window

    def test_empty_window(self):
        r, text, j = self.report(self.state, "--since", "2026-11-28T00:00:00Z",
                                 "--until", "2026-11-28T23:59:59Z")
        self.assertIn("No alerts in this window: sluice reported nothing between "
                      "2026-11-28T00:00:00.000Z and 2026-11-28T23:59:59.000Z.\n", text)
        self.assertIn("No detection in this window: no deadline runs from it.\n", text)
        self.assertNotIn("## Timeline", text)
        self.assertEqual(j["summary"]["alerts"], 0)
        self.assertIsNone(j["detection"])
        self.assertIsNone(j["deadlines"])

    def test_relative_since(self):
        before = int(time.time() * 1000)
        _, _, j = self.report(self.state, "--since", "90m")
        after = int(time.time() * 1000)
        self.assertGreaterEqual(j["window"]["since_ms"], before - 90 * MIN)
        self.assertLessEqual(j["window"]["since_ms"], after - 90 * MIN)
        self.assertGreaterEqual(j["window"]["until_ms"], before)
        self.assertLessEqual(j["window"]["until_ms"], after)
        _, _, j = self.report(self.state, "--since", "2d", "--until", "24h")
        self.assertEqual(j["window"]["until_ms"] - j["window"]["since_ms"], 24 * 60 * MIN)

    def test_bad_times_are_bad_input(self):
        prefix = os.path.join(self.work, "x")
        for args in (["--since", "yesterday"], ["--since", "-5h"],
                     ["--since", SINCE, "--until", "2026-11-29T10:00:00Z"]):
            r = run([ARGS.sluicectl, "report", "--state-dir", self.state, "--out", prefix, *args])
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertFalse(os.path.exists(prefix + ".md"))


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--append", required=True)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
