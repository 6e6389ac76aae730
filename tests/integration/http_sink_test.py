#!/usr/bin/env python3
"""HTTPS sinks (DESIGN §7): the real transport (through tests/tools/http_send.cc) against a
Splunk HEC-style collector and a webhook, both served by this script on 127.0.0.1 over TLS with a
test CA made by the openssl CLI.

The collector runs in a subprocess (this file with --serve) so that a test can kill it mid-stream
and start it again on the same port. It checks what a HEC collector checks (path, token,
Content-Type, event objects) and appends every event it accepts to a JSON-lines file with the
request it came in; every request goes to a second file with the status it got.
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
TIMEOUT = 60
TOKEN = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
HEC_PATH = "/services/collector/event"
HOOK_PATH = "/hooks/sluice"


# ---------------------------------------------------------------------------------------------
# The collector (subprocess).

def serve(opts):
    lock = threading.Lock()
    counter = {"requests": 0}
    events = open(opts.events, "a", encoding="utf-8")
    requests = open(opts.requests, "a", encoding="utf-8")

    def record(f, obj):
        f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        f.flush()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector

        def log_message(self, fmt, *args):
            pass

        def reply(self, seq, status, obj, n_events=0):
            if seq == opts.stall_after:
                # Holds the request open, unanswered, until the test kills this process: its
                # events are recorded but the sender never learns it.
                print("stalled", flush=True)
                time.sleep(3600)
            record(requests, {"seq": seq, "path": self.path, "peer": self.client_address[1],
                              "status": status, "events": n_events})
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                counter["requests"] += 1
                seq = counter["requests"]
                if seq <= opts.fail_first:
                    return self.reply(seq, 503, {"text": "Server is busy", "code": 9})
                if opts.kind == "hec":
                    self.hec(seq, body)
                else:
                    self.webhook(seq, body)

        def hec(self, seq, body):
            if self.path != HEC_PATH:
                return self.reply(seq, 404, {"text": "The requested URL was not found on this "
                                                     "server.", "code": 404})
            auth = self.headers.get("Authorization")
            if auth is None:
                return self.reply(seq, 401, {"text": "Token is required", "code": 2})
            if auth != "Splunk " + opts.token:
                return self.reply(seq, 401, {"text": "Invalid token", "code": 4})
            if self.headers.get("Content-Type") != "application/json":
                return self.reply(seq, 400, {"text": "Content-Type is not application/json",
                                             "code": 6})
            # HEC's body: event objects one after another, optionally separated by whitespace.
            # Floats kept as their text, so the test can compare the time field exactly.
            decoder = json.JSONDecoder(parse_float=str)
            text = body.decode("utf-8")
            pos, parsed = 0, []
            while True:
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
                if pos == len(text):
                    break
                try:
                    obj, pos = decoder.raw_decode(text, pos)
                except ValueError as e:
                    return self.reply(seq, 400, {"text": "Invalid data format: %s" % e,
                                                 "code": 6})
                if not isinstance(obj, dict) or "event" not in obj:
                    return self.reply(seq, 400, {"text": "Event field is required", "code": 12})
                parsed.append(obj)
            if not parsed:
                return self.reply(seq, 400, {"text": "No data", "code": 5})
            for obj in parsed:
                record(events, {"req": seq, "hec": obj})
            if opts.bad_ack:
                return self.reply(seq, 200, {"text": "Data channel is missing", "code": 10},
                                  len(parsed))
            self.reply(seq, 200, {"text": "Success", "code": 0}, len(parsed))

        def webhook(self, seq, body):
            if urllib.parse.urlsplit(self.path).path != HOOK_PATH:
                return self.reply(seq, 404, {"message": "no such hook"})
            for name, value in opts.expect_header:
                if self.headers.get(name) != value:
                    return self.reply(seq, 403, {"message": "header %s missing or wrong" % name})
            if self.headers.get("Content-Type") != "application/json":
                return self.reply(seq, 415, {"message": "want application/json"})
            try:
                arr = json.loads(body.decode("utf-8"))
            except ValueError as e:
                return self.reply(seq, 400, {"message": "not JSON: %s" % e})
            if not isinstance(arr, list):
                return self.reply(seq, 400, {"message": "not a JSON array"})
            for obj in arr:
                record(events, {"req": seq, "webhook": obj,
                                "headers": {n: self.headers.get(n) for n, _ in opts.expect_header}})
            self.reply(seq, 200, {"message": "ok"}, len(arr))

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):
            pass  # a client that gives up mid-request (or fails the handshake) is no error here

    server = Server(("127.0.0.1", opts.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready %d" % server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


# ---------------------------------------------------------------------------------------------
# The tests.

def run(cmd, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    if r.returncode != 0:
        raise AssertionError("%s failed: %s" % (cmd[0], r.stderr))


class Pki:
    """A test CA with a server certificate for 127.0.0.1/localhost, a second CA that did not sign
    it, and a server certificate of the right CA for another name."""

    def __init__(self, d):
        openssl = shutil.which("openssl")
        if openssl is None:
            raise AssertionError("the openssl CLI is needed")
        self.d = d

        def p(name):
            return os.path.join(d, name)

        for ca in ("ca", "other-ca"):
            run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", p(ca + ".key"), "-out", p(ca + ".pem"), "-days", "2",
                 "-subj", "/CN=sluice test " + ca,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        for name, san in (("server", "IP:127.0.0.1,DNS:localhost"),
                          ("wrong-name", "DNS:collector.invalid")):
            with open(p(name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                        "basicConstraints=CA:FALSE\n" % san)
            run([openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", p(name + ".key"), "-out", p(name + ".csr"), "-subj", "/CN=" + name])
            run([openssl, "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"),
                 "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(name + ".pem"),
                 "-days", "2", "-extfile", p(name + ".ext")])
        self.ca = p("ca.pem")
        self.other_ca = p("other-ca.pem")
        self.server = (p("server.pem"), p("server.key"))
        self.wrong_name = (p("wrong-name.pem"), p("wrong-name.key"))


class Collector:
    def __init__(self, d, kind, cert, port=0, token=TOKEN, fail_first=0, stall_after=0,
                 bad_ack=False, expect_header=()):
        self.events = os.path.join(d, "events.jsonl")
        self.requests = os.path.join(d, "requests.jsonl")
        cmd = [sys.executable, os.path.abspath(__file__), "--serve", "--kind", kind,
               "--port", str(port), "--token", token, "--cert", cert[0], "--key", cert[1],
               "--events", self.events, "--requests", self.requests,
               "--fail-first", str(fail_first), "--stall-after", str(stall_after)]
        if bad_ack:
            cmd.append("--bad-ack")
        for name, value in expect_header:
            cmd += ["--expect-header", "%s:%s" % (name, value)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready "):
            self.stop()
            raise AssertionError("collector did not start (%r)" % line)
        self.port = int(line.split()[1])

    def wait_line(self, want):
        line = self.proc.stdout.readline().strip()
        if line != want:
            raise AssertionError("collector said %r, expected %r" % (line, want))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def recorded(self):
        return read_jsonl(self.events)

    def seen_requests(self):
        return read_jsonl(self.requests)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def finding(i):
    """A synthetic OCSF Detection Finding line, as output::RenderLine would write it."""
    return {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2,
        "activity_id": 1, "type_uid": 200401,
        "time": 1717171717000 + i * 1001 + (i % 7),
        "severity_id": 4, "severity": "High",
        "message": "crm-sync \"upload\" #%d to caf\u00e9.example" % i,
        "metadata": {"version": "1.1.0",
                     "product": {"name": "sluice", "vendor_name": "sluice", "version": "0.1.0"}},
        "finding_info": {"uid": "finding-%04d" % i, "title": "unexpected egress %d" % i,
                         "analytic": {"name": "unexpected_egress", "type_id": 1}},
        "disposition": "Would block", "disposition_id": 99,
        "dst_endpoint": {"ip": "203.0.113.%d" % (i % 250), "port": 443},
    }


def lines_for(n):
    objs = [finding(i) for i in range(n)]
    text = "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=False) + "\n" for o in objs)
    return objs, text


def uid(obj):
    return obj["finding_info"]["uid"]


class HttpSinkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="sluice-http-pki-")
        cls.pki = Pki(cls.pki_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-http-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def collector(self, kind="hec", cert=None, **kw):
        c = Collector(self.tmp, kind, cert or self.pki.server, **kw)
        self.addCleanup(c.stop)
        return c

    def sender_cmd(self, kind, url, *extra, token=TOKEN, ca=None):
        cmd = [ARGS.sender, "--kind", kind, "--url", url, "--ca", ca or self.pki.ca]
        if token:
            cmd += ["--token", token]
        return cmd + list(extra)

    def send(self, stdin, *args, **kw):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        return subprocess.run(self.sender_cmd(*args, **kw), input=stdin, capture_output=True,
                              text=True, timeout=TIMEOUT, env=env)

    def hec_url(self, c):
        return "https://127.0.0.1:%d%s" % (c.port, HEC_PATH)

    # -- HEC ---------------------------------------------------------------------------------

    def test_hec_delivers_every_line_in_order(self):
        c = self.collector()
        objs, text = lines_for(300)
        r = self.send(text, "hec", self.hec_url(c), "--host", "sensor-1", "--index", "security")
        self.assertEqual((r.returncode, r.stdout), (0, "SENT 300\n"), r.stderr)
        got = c.recorded()
        self.assertEqual([uid(e["hec"]["event"]) for e in got], [uid(o) for o in objs])
        for e, o in zip(got, objs):
            hec = e["hec"]
            self.assertEqual(hec["event"], o)  # the OCSF object, unchanged
            self.assertEqual(hec["time"], "%d.%03d" % divmod(o["time"], 1000))
            self.assertEqual({k: v for k, v in hec.items() if k not in ("event", "time")},
                             {"host": "sensor-1", "source": "sluiced",
                              "sourcetype": "sluice:ocsf", "index": "security"})
        reqs = c.seen_requests()
        self.assertEqual([(q["path"], q["status"], q["events"]) for q in reqs],
                         [(HEC_PATH, 200, 100)] * 3)
        # One connection, kept alive across the batches.
        self.assertEqual(len({q["peer"] for q in reqs}), 1, reqs)

    def test_hec_default_path(self):
        c = self.collector()
        objs, text = lines_for(3)
        r = self.send(text, "hec", "https://localhost:%d" % c.port)
        self.assertEqual((r.returncode, r.stdout), (0, "SENT 3\n"), r.stderr)
        self.assertEqual([uid(e["hec"]["event"]) for e in c.recorded()], [uid(o) for o in objs])

    def test_hec_wrong_token_keeps_the_alerts_for_retry(self):
        # A wrong or rotated token is the sink's problem, not the alerts': transient, so the
        # agent keeps them in its spool until the token is fixed.
        c = self.collector()
        wrong = "00000000-dead-beef-0000-wrongtoken00"
        _, text = lines_for(10)
        r = self.send(text, "hec", self.hec_url(c), token=wrong)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout,
                         "ERROR UNAVAILABLE HTTP 401 from splunk_hec+https://127.0.0.1:%d%s: "
                         "Invalid token (code 4)\n" % (c.port, HEC_PATH))
        self.assertNotIn(wrong, r.stdout + r.stderr)
        self.assertEqual([q["status"] for q in c.seen_requests()], [401])
        self.assertEqual(c.recorded(), [])

    def test_hec_non_success_ack_is_transient(self):
        c = self.collector(bad_ack=True)
        _, text = lines_for(5)
        r = self.send(text, "hec", self.hec_url(c))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout,
                         "ERROR UNAVAILABLE HTTP 200 from splunk_hec+https://127.0.0.1:%d%s: not a "
                         "HEC success reply: Data channel is missing (code 10)\n"
                         % (c.port, HEC_PATH))

    def test_hec_503_then_retry_delivers_everything(self):
        c = self.collector(fail_first=3)
        objs, text = lines_for(300)
        # Without retries the first 503 is the answer, and it is a transient one.
        r = self.send(text, "hec", self.hec_url(c))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout,
                         "ERROR UNAVAILABLE HTTP 503 from splunk_hec+https://127.0.0.1:%d%s: "
                         "Server is busy (code 9)\n" % (c.port, HEC_PATH))
        r = self.send(text, "hec", self.hec_url(c), "--retry-ms", "30000")
        self.assertEqual((r.returncode, r.stdout), (0, "SENT 300\n"), r.stderr)
        self.assertEqual(r.stderr.count("retrying in"), 2, r.stderr)
        self.assertEqual([uid(e["hec"]["event"]) for e in c.recorded()], [uid(o) for o in objs])
        self.assertEqual([q["status"] for q in c.seen_requests()], [503] * 3 + [200] * 3)

    def test_collector_killed_mid_stream(self):
        c = self.collector(stall_after=3)
        objs, text = lines_for(300)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        lines_file = os.path.join(self.tmp, "lines.jsonl")
        with open(lines_file, "w", encoding="utf-8") as f:
            f.write(text)
        with open(lines_file, encoding="utf-8") as stdin:
            sender = subprocess.Popen(
                self.sender_cmd("hec", self.hec_url(c), "--batch", "20", "--retry-ms", "45000"),
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: sender.poll() is None and sender.kill())
        # The third batch is recorded but never answered; then the collector dies.
        c.wait_line("stalled")
        c.kill()
        time.sleep(0.5)  # the sender meets a closed port for a while
        c2 = self.collector(port=c.port)
        out, err = sender.communicate(timeout=TIMEOUT)
        self.assertEqual((sender.returncode, out), (0, "SENT 300\n"), err)
        got = [uid(e["hec"]["event"]) for e in c2.recorded()]
        self.assertEqual(set(got), {uid(o) for o in objs})
        # The unanswered batch came again (at least once: receivers dedupe by uid); so did no
        # batch before it.
        third = [uid(o) for o in objs[40:60]]
        for u in third:
            self.assertGreaterEqual(got.count(u), 2, u)
        for o in objs[:40]:
            self.assertEqual(got.count(uid(o)), 1, uid(o))

    # -- webhook -----------------------------------------------------------------------------

    def test_webhook_array_with_custom_header(self):
        headers = (("Authorization", "Bearer hook-s3cret"), ("X-Sluice-Tenant", "acme"))
        c = self.collector("webhook", expect_header=headers)
        objs, text = lines_for(150)
        url = "https://127.0.0.1:%d%s?sig=abc" % (c.port, HOOK_PATH)
        r = self.send(text, "webhook", url, "--header", "Authorization: Bearer hook-s3cret",
                      "--header", "X-Sluice-Tenant:acme", token=None)
        self.assertEqual((r.returncode, r.stdout), (0, "SENT 150\n"), r.stderr)
        self.assertIn("sending to webhook+https://127.0.0.1:%d%s\n" % (c.port, HOOK_PATH),
                      r.stderr)
        got = c.recorded()
        self.assertEqual([e["webhook"] for e in got], objs)
        self.assertEqual({json.dumps(e["headers"], sort_keys=True) for e in got},
                         {json.dumps(dict(headers), sort_keys=True)})
        # The query goes to the collector (it may carry a signature), not into Describe().
        self.assertEqual([(q["path"], q["status"], q["events"]) for q in c.seen_requests()],
                         [(HOOK_PATH + "?sig=abc", 200, 100), (HOOK_PATH + "?sig=abc", 200, 50)])

    def test_webhook_refusal_hides_header_value(self):
        c = self.collector("webhook", expect_header=(("Authorization", "Bearer right"),))
        _, text = lines_for(2)
        r = self.send(text, "webhook", "https://127.0.0.1:%d%s" % (c.port, HOOK_PATH),
                      "--header", "Authorization: Bearer wrong-s3cret", token=None)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout,
                         "ERROR UNAVAILABLE HTTP 403 from webhook+https://127.0.0.1:%d%s: "
                         "header Authorization missing or wrong\n" % (c.port, HOOK_PATH))
        self.assertNotIn("wrong-s3cret", r.stdout + r.stderr)

    # -- TLS and options ---------------------------------------------------------------------

    def test_wrong_ca_is_a_certificate_error(self):
        c = self.collector()
        _, text = lines_for(5)
        r = self.send(text, "hec", self.hec_url(c), ca=self.pki.other_ca)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout,
                         r"^ERROR UNAVAILABLE POST to splunk_hec\+https://127\.0\.0\.1:%d%s "
                         r"failed: .*\(SSL certificate problem: .*certificate.*\)\n$"
                         % (c.port, HEC_PATH))
        self.assertEqual(c.seen_requests(), [])

    def test_certificate_for_another_name_is_refused(self):
        c = self.collector(cert=self.pki.wrong_name)
        _, text = lines_for(5)
        r = self.send(text, "hec", self.hec_url(c))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"^ERROR UNAVAILABLE POST to .* failed: .*"
                                   r"\(.*certificate subject name.*127\.0\.0\.1.*\)\n$")
        self.assertEqual(c.seen_requests(), [])

    def test_plain_http_to_a_remote_address_is_refused(self):
        _, text = lines_for(1)
        r = self.send(text, "webhook", "http://192.0.2.10:8080/hook", token=None)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stdout, r"^ERROR INVALID_ARGUMENT webhook sink: http://192\.0\.2\.10 "
                                   r"refused: .*use https://")

    def test_missing_token_and_unreadable_ca(self):
        r = self.send("", "hec", "https://127.0.0.1:1/", token=None)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "ERROR INVALID_ARGUMENT splunk_hec sink: token is missing "
                                   "(the HEC token, sent as \"Authorization: Splunk <token>\")\n")
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        r = self.send("", "hec", "https://127.0.0.1:1/", ca=missing)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "ERROR INVALID_ARGUMENT ca_file %s: cannot read: No such file "
                                   "or directory\n" % missing)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sender")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--kind", choices=("hec", "webhook"))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default=TOKEN)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--events")
    p.add_argument("--requests")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--stall-after", type=int, default=0)
    p.add_argument("--bad-ack", action="store_true")
    p.add_argument("--expect-header", action="append", default=[],
                   type=lambda s: tuple(x.strip() for x in s.split(":", 1)))
    ARGS, rest = p.parse_known_args()
    if ARGS.serve:
        serve(ARGS)
        return
    if not ARGS.sender:
        p.error("--sender is required")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
