#!/usr/bin/env python3
"""Alert delivery end to end (DESIGN §7, docs/delivery.md): the agent's own delivery assembly
(OpenDelivery + AlertPipeline: the spool in a state directory, one delivery thread per sink, the
evidence log), driven by tests/tools/pipeline_driver.cc, against a real rsyslogd (RFC 5425 over
TLS, lmnsd_ossl) and a Splunk HEC-style HTTPS collector, both on loopback with a test CA.

The guarantee under test is the documented one: at least once, deduplicated by uid. Each case
compares the exact set of finding uids every receiver got with the set the agent spooled, and
counts the repeats (a batch cut off by a receiver's death is sent again whole). Syslog has no
acknowledgement above TCP, so the agent holds a syslog batch unacknowledged in the spool until
its connection carried a later batch or stayed up a moment longer; a receiver SIGKILLed right
after its kernel took a batch therefore costs a repeat, not a loss. The cases:

- both receivers are SIGKILLed a third of the way into a stream of 10000 alerts and restarted
  on the same ports a few seconds later, while alerts keep coming: every alert arrives;
- the agent itself is SIGKILLed while a sink is down and started again on the same state
  directory: what it had spooled arrives;
- the spool's newest segment is cut mid-record before that restart (a torn write): the agent
  starts, counts the damaged record, and everything else arrives.

Every process, certificate and file lives in a temporary directory removed afterwards; nothing
but loopback is used.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Importing these only defines them; the syslog test runs nothing unless it is __main__.
from syslog_test import Pki, free_port, listening, parse_sd  # noqa: E402

ARGS = None
TIMEOUT = 30
TOKEN = "0c1d2e3f-4a5b-4c6d-8e7f-delivery0001"
HEC_PATH = "/services/collector/event"
BATCH = 100  # AlertPipeline's batch_records: what one failed send can repeat
# Every alert of every sink must arrive. (Setting SLUICE_DELIVERY_LENIENT_SYSLOG=1 tolerates
# losses among the syslog alerts in flight when rsyslogd died, for comparing with a build that
# counts a syslog batch delivered on the receiver's TCP acknowledgement alone.)
STRICT_SYSLOG = os.environ.get("SLUICE_DELIVERY_LENIENT_SYSLOG") != "1"


# ---------------------------------------------------------------------------------------------
# The HEC collector (this file with --serve, so that a test can SIGKILL it and start it again).

def serve(opts):
    """Accepts HEC event batches and appends each event's finding_info.uid, one per line, to
    opts.out before answering: an event recorded but never answered (the collector died first)
    is one the agent must send again."""
    lock = threading.Lock()
    out = os.open(opts.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != HEC_PATH:
                return self.reply(404, {"text": "The requested URL was not found on this server.",
                                        "code": 404})
            if self.headers.get("Authorization") != "Splunk " + opts.token:
                return self.reply(401, {"text": "Invalid token", "code": 4})
            decoder = json.JSONDecoder()
            text = body.decode("utf-8")
            pos, uids = 0, []
            while True:
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
                if pos == len(text):
                    break
                try:
                    obj, pos = decoder.raw_decode(text, pos)
                    uids.append(obj["event"]["finding_info"]["uid"])
                except (ValueError, KeyError, TypeError) as e:
                    return self.reply(400, {"text": "Invalid data format: %s" % e, "code": 6})
            if not uids:
                return self.reply(400, {"text": "No data", "code": 5})
            with lock:
                # One write(2) per batch: a SIGKILL leaves at most a torn last line, which the
                # test ignores (its batch was never answered, so it comes again).
                os.write(out, "".join(u + "\n" for u in uids).encode())
            self.reply(200, {"text": "Success", "code": 0})

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):
            pass  # a client that gives up mid-request is no error here

    server = Server(("127.0.0.1", opts.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready %d" % server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


# ---------------------------------------------------------------------------------------------
# Receivers and the driver, as the tests run them.

def read_lines(pattern):
    """Complete lines of every file matching `pattern` (each receiver instance writes its own
    file; a last line without its newline was cut by a SIGKILL and is not counted)."""
    lines = []
    for path in sorted(glob.glob(pattern)):
        with open(path, "rb") as f:
            data = f.read().decode("utf-8")
        lines.extend(data.split("\n")[:-1])
    return lines


class Collector:
    def __init__(self, d, pki):
        self.dir = d
        self.pki = pki
        self.port = 0
        self.instance = 0
        self.proc = None

    def start(self):
        self.instance += 1
        out = os.path.join(self.dir, "hec-%d.txt" % self.instance)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", "--port", str(self.port),
             "--token", TOKEN, "--cert", self.pki.cert, "--key", self.pki.key, "--out", out],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready "):
            self.kill()
            raise AssertionError("collector did not start (%r)" % line)
        self.port = int(line.split()[1])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=TIMEOUT)
            self.proc.stdout.close()
            self.proc = None

    def uids(self):
        return read_lines(os.path.join(self.dir, "hec-*.txt"))


class Rsyslog:
    """rsyslogd in the foreground: one TLS input whose messages go to a file of this instance,
    as "STRUCTURED-DATA MSG" lines."""

    def __init__(self, d, pki):
        self.dir = d
        self.pki = pki
        self.port = free_port()
        self.instance = 0
        self.proc = None
        self.work = os.path.join(d, "work")
        os.mkdir(self.work)
        self.stderr_path = os.path.join(d, "rsyslogd.stderr")

    def start(self):
        self.instance += 1
        out = os.path.join(self.dir, "syslog-%d.log" % self.instance)
        conf = os.path.join(self.dir, "rsyslog-%d.conf" % self.instance)
        pidfile = os.path.join(self.dir, "rsyslogd-%d.pid" % self.instance)
        with open(conf, "w") as f:
            f.write(f"""
# Findings carry whole OCSF objects; rsyslog's default limit (8k) would cut them.
global(workDirectory="{self.work}" maxMessageSize="64k")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
template(name="uidmsg" type="string" string="%structured-data% %msg%\\n")
ruleset(name="tls") {{ action(type="omfile" file="{out}" template="uidmsg") }}
input(type="imtcp" port="{self.port}" ruleset="tls"
      streamDriver.caFile="{self.pki.ca}" streamDriver.certFile="{self.pki.cert}"
      streamDriver.keyFile="{self.pki.key}")
""")
        with open(self.stderr_path, "a") as err:
            self.proc = subprocess.Popen([ARGS.rsyslogd, "-n", "-f", conf, "-i", pidfile],
                                         stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         cwd=self.dir)
        end = time.monotonic() + TIMEOUT
        while self.proc.poll() is None and not listening(self.port):
            if time.monotonic() > end:
                raise AssertionError("rsyslogd does not listen on %d" % self.port)
            time.sleep(0.02)
        if self.proc.poll() is not None:
            with open(self.stderr_path, errors="replace") as f:
                raise AssertionError("rsyslogd exited with %s:\n%s" % (self.proc.returncode,
                                                                        f.read()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=TIMEOUT)
            self.proc = None

    def uids(self):
        """The uid of every message, checked against the finding in it."""
        out = []
        for row in read_lines(os.path.join(self.dir, "syslog-*.log")):
            sd, msg = parse_sd(row)
            uid = sd["sluice@32473"]["uid"]
            finding = json.loads(msg)
            if finding["finding_info"]["uid"] != uid:
                raise AssertionError("syslog SD uid %r, finding %r" % (uid, msg[:200]))
            out.append(uid)
        return out


class Driver:
    """tests/tools/pipeline_driver.cc; its stats lines are read on a thread."""

    def __init__(self, d, config, state, count, run, rate=0, wait_s=120, stats_every_ms=100):
        self.stderr_path = os.path.join(d, "driver-%s-%d.stderr" % (run, count))
        self.stats = []
        self.done = None
        self.cond = threading.Condition()
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [ARGS.driver, "--config", config, "--state-dir", state, "--count", str(count),
                 "--run", run, "--rate-per-s", str(rate), "--wait-s", str(wait_s),
                 "--stats-every-ms", str(stats_every_ms)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            done = line.startswith("DONE ")
            try:
                st = json.loads(line[5:] if done else line)
            except ValueError:
                continue
            with self.cond:
                self.stats.append(st)
                if done:
                    self.done = st
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_stats(self, what, predicate, timeout=60):
        """The first stats line (from now on or already read) that satisfies `predicate`."""
        end = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for st in self.stats[seen:]:
                    if predicate(st):
                        return st
                seen = len(self.stats)
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError("driver: no %s within %ss; last stats %s; stderr:\n%s"
                                         % (what, timeout, self.stats[-1:], self.stderr()))
                self.cond.wait(min(left, 0.5))

    def latest(self):
        with self.cond:
            return self.stats[-1] if self.stats else None

    def finish(self, timeout):
        """Waits for the exit: (exit code, the DONE stats)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("driver did not finish within %ss; last stats %s; stderr:\n%s"
                                 % (timeout, self.latest(), self.stderr()))
        self.reader.join(TIMEOUT)
        return code, self.done

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        self.reader.join(TIMEOUT)
        self.proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# The spool's on-disk format (agent/output/spool.h), read here to cut a record in half.

SPOOL_MAGIC = 0xFF4C53FE
SPOOL_HEADER = struct.Struct("<IIQI")  # magic, payload length, seq, CRC-32


def spool_records(path):
    """(offset, seq, payload) of each record of a segment file."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos + SPOOL_HEADER.size <= len(data):
        magic, length, seq, _ = SPOOL_HEADER.unpack_from(data, pos)
        if magic != SPOOL_MAGIC:
            raise AssertionError("%s: no record at offset %d" % (path, pos))
        start = pos + SPOOL_HEADER.size
        out.append((pos, seq, data[start:start + length]))
        pos = start + length
    return out


def uid_set(run, n):
    return {"t-%s-%d" % (run, i) for i in range(n)}


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="sluice-delivery-pki-")
        cls.pki = Pki(cls.pki_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-delivery-")
        # Cleanups run last-in first-out: processes die before their directory goes.
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        self.rsyslog = Rsyslog(self.dir, self.pki)
        self.addCleanup(self.rsyslog.kill)
        self.collector = Collector(self.dir, self.pki)
        self.addCleanup(self.collector.kill)

    def write_config(self):
        """The agent configuration: the syslog sink and the HEC sink, both TLS with the test CA.
        The collector must have started (its port is chosen when it binds)."""
        path = os.path.join(self.dir, "sluice.yaml")
        with open(path, "w") as f:
            f.write(f"""sinks:
  - name: siem
    type: syslog
    host: 127.0.0.1
    port: {self.rsyslog.port}
    tls: true
    ca: {self.pki.ca}
    server_name: localhost
  - name: splunk
    type: splunk_hec
    url: https://127.0.0.1:{self.collector.port}{HEC_PATH}
    token: "{TOKEN}"
    ca: {self.pki.ca}
    index: security
""")
        return path

    def driver(self, config, count, run, **kw):
        d = Driver(self.dir, config, self.state, count, run, **kw)
        self.addCleanup(d.kill)
        return d

    def assert_delivered(self, sink, got, expected, max_duplicates, may_lose=frozenset(),
                         max_lost=0):
        """At least once, deduplicated by uid: the set of uids received is exactly `expected`;
        repeats are counted, reported and bounded. Only uids of `may_lose` (at most `max_lost`
        of them) may be missing: syslog's in-flight alerts when its receiver was killed."""
        received = set(got)
        duplicates = len(got) - len(received)
        missing = expected - received
        extra = received - expected
        lost = missing & may_lose
        print("  %-6s received %d, %d unique, %d duplicate(s), %d missing, %d unexpected"
              % (sink, len(got), len(received), duplicates, len(missing), len(extra)))
        if lost:
            print("  %-6s LOST %d alert(s) its receiver's TCP had acknowledged when it was killed "
                  "(syslog has no acknowledgement above TCP): %s"
                  % (sink, len(lost), sorted(lost, key=lambda u: int(u.rsplit("-", 1)[1]))))
        self.assertEqual(missing - may_lose, set(), "%s: %d alert(s) never arrived, e.g. %s"
                         % (sink, len(missing - may_lose), sorted(missing - may_lose)[:10]))
        self.assertLessEqual(len(lost), max_lost, "%s: lost %s" % (sink, sorted(lost)))
        self.assertEqual(extra, set(), "%s: uids never sent: %s" % (sink, sorted(extra)[:10]))
        self.assertLessEqual(duplicates, max_duplicates, sink)
        return duplicates

    def kill_receivers(self, d, receivers, sinks, until, what):
        """SIGKILLs `receivers` under a running driver and waits until every sink of `sinks` has
        failed (its connection to the dead receiver is gone) and `until(stats, stats before)`
        holds. Returns the stats lines from just before and after, and the spool sequence
        numbers the syslog sink ("siem") may have lost: those it acknowledged from shortly
        before the kill (the stats line is up to 100 ms old; rsyslogd writes within
        milliseconds, BATCH is ample) until it failed, after which nothing more is acknowledged
        until a receiver is back."""
        before = d.latest()
        for r in receivers:
            r.kill()

        def failed(st):
            return all(st["sinks"][n]["errors"] > before["sinks"][n]["errors"]
                       for n in sinks) and until(st, before)
        after = d.wait_stats(what, failed)
        window = set()
        if "siem" in sinks and not STRICT_SYSLOG:
            window = set(range(max(1, before["sinks"]["siem"]["acked_seq"] - BATCH + 1),
                               after["sinks"]["siem"]["acked_seq"] + 1))
        return before, after, window

    def assert_done(self, code, done, driver, corrupt=(0,)):
        self.assertEqual(code, 0, "driver exit %s; DONE %s; stderr:\n%s"
                         % (code, done, driver.stderr()))
        self.assertIsNotNone(done, driver.stderr())
        self.assertEqual(done["write_errors"], 0, done)
        self.assertIn(done["spool"]["corrupt_records"], corrupt, done)
        for name in ("siem", "splunk"):
            s = done["sinks"][name]
            self.assertEqual((s["pending"], s["rejected"], s["overflow_dropped"]), (0, 0, 0),
                             "%s: %s" % (name, s))

    # -- the receivers die mid-stream ---------------------------------------------------------

    def test_receivers_killed_mid_stream(self):
        count = 10000
        self.rsyslog.start()
        self.collector.start()
        config = self.write_config()
        started = time.monotonic()
        # ~14 s of alerts; a third of the way in both receivers die, and stay down while the
        # driver keeps writing (the alerts wait in the spool).
        d = self.driver(config, count, "a", rate=700)
        d.wait_stats("a third of the stream written", lambda s: s["written"] >= count // 3)

        # Down for ~4 s: until both sinks have failed and a good part of the stream went to the
        # spool only.
        def backlog(st, before):
            return (st["written"] >= before["written"] + 2800 and
                    all(st["sinks"][n]["pending"] > 1000 for n in ("siem", "splunk")))
        before, down, may_lose = self.kill_receivers(d, (self.rsyslog, self.collector),
                                                     ("siem", "splunk"), backlog,
                                                     "both sinks failing with a backlog")
        print("\n  receivers killed at %d written (siem %d, splunk %d delivered), restarted at %d "
              "(pending siem %d, splunk %d)"
              % (before["written"], before["sinks"]["siem"]["delivered"],
                 before["sinks"]["splunk"]["delivered"], down["written"],
                 down["sinks"]["siem"]["pending"], down["sinks"]["splunk"]["pending"]))
        self.rsyslog.start()
        self.collector.start()  # the same port: the agent's configuration did not change

        code, done = d.finish(timeout=180)
        self.assert_done(code, done, d)
        for name in ("siem", "splunk"):
            self.assertGreaterEqual(done["sinks"][name]["delivered"], count, done)
            self.assertGreater(done["sinks"][name]["errors"], 0, done)
        expected = uid_set("a", count)
        dup_syslog = self.assert_delivered("siem", self.rsyslog.uids(), expected, BATCH,
                                           {"t-a-%d" % (seq - 1) for seq in may_lose}, BATCH)
        dup_hec = self.assert_delivered("splunk", self.collector.uids(), expected, BATCH)
        print("  %d alerts in %.1fs; duplicates: syslog %d, hec %d"
              % (count, time.monotonic() - started, dup_syslog, dup_hec))

    # -- the agent dies -----------------------------------------------------------------------

    def test_agent_killed_while_sink_down(self):
        count = 3000
        self.rsyslog.start()
        self.collector.start()
        config = self.write_config()
        d = self.driver(config, count, "b", rate=1000)
        d.wait_stats("syslog delivering", lambda s: s["sinks"]["siem"]["delivered"] >= 500)
        # The agent dies mid-stream, with the syslog backlog only in its spool.
        _, _, may_lose = self.kill_receivers(
            d, (self.rsyslog,), ("siem",),
            lambda s, _: s["written"] >= 2000 and s["sinks"]["siem"]["pending"] >= 1000,
            "a backlog for syslog")
        d.kill()
        with open(os.path.join(self.state, "evidence.jsonl")) as f:
            evidence = [json.loads(line)["alert"]["finding_info"]["uid"] for line in f]
        self.assertEqual(evidence, ["t-b-%d" % i for i in range(len(evidence))])
        print("\n  agent killed after writing %d alerts" % len(evidence))

        self.rsyslog.start()
        d2 = self.driver(config, 0, "b-restart", wait_s=60)
        code, done = d2.finish(timeout=90)
        # A kill in the middle of a spool append leaves a torn record, cut and counted at start.
        self.assert_done(code, done, d2, corrupt=(0, 1))
        # Alerts are appended to the evidence log, then to the spool: a kill between the two (or
        # during the second) leaves the last alert in the evidence log only. Both say how many
        # alerts the agent took.
        spooled = done["spool"]["last_seq"]
        if done["spool"]["corrupt_records"] == 0:
            self.assertIn(spooled, (len(evidence), len(evidence) - 1), done)
        else:
            self.assertEqual(spooled, len(evidence) - 1, done)
        # The syslog backlog left by the dead agent went out from its spool.
        self.assertGreaterEqual(done["sinks"]["siem"]["delivered"], 1000, done)
        expected = uid_set("b", spooled)
        self.assert_delivered("siem", self.rsyslog.uids(), expected, BATCH,
                              {"t-b-%d" % (seq - 1) for seq in may_lose}, BATCH)
        self.assert_delivered("splunk", self.collector.uids(), expected, BATCH)

    def test_torn_spool_tail_is_counted_and_the_rest_delivered(self):
        count = 1000
        self.collector.start()  # syslog stays down until the agent's restart
        config = self.write_config()
        d = self.driver(config, count, "c")
        d.wait_stats("everything written and delivered to HEC",
                     lambda s: s["written"] == count and s["sinks"]["splunk"]["pending"] == 0 and
                     s["sinks"]["siem"]["pending"] == count)
        d.kill()
        # A torn write: the newest segment ends half way through its last record.
        newest = max(glob.glob(os.path.join(self.state, "spool", "seg-*.log")))
        offset, seq, payload = spool_records(newest)[-1]
        lost = json.loads(payload)["finding_info"]["uid"]
        self.assertEqual((seq, lost), (count, "t-c-%d" % (count - 1)))
        os.truncate(newest, offset + SPOOL_HEADER.size + len(payload) // 2)

        self.rsyslog.start()
        d2 = self.driver(config, 0, "c-restart", wait_s=60)
        code, done = d2.finish(timeout=90)
        self.assert_done(code, done, d2, corrupt=(1,))
        self.assertIn("1 damaged record(s)", d2.stderr())
        print("\n  torn record %s: counted, %d bytes dropped"
              % (lost, done["spool"]["corrupt_bytes"]))
        # HEC had every alert before the damage; syslog gets all but the torn one.
        self.assert_delivered("siem", self.rsyslog.uids(), uid_set("c", count) - {lost}, 0)
        self.assert_delivered("splunk", self.collector.uids(), uid_set("c", count), 0)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--driver")
    p.add_argument("--rsyslogd", default=shutil.which("rsyslogd") or "/usr/sbin/rsyslogd")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default=TOKEN)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--out")
    ARGS, rest = p.parse_known_args()
    if ARGS.serve:
        serve(ARGS)
        return
    if not ARGS.driver:
        p.error("--driver is required")
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
