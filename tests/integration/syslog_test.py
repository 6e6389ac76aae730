#!/usr/bin/env python3
"""Syslog sink (DESIGN §7): sluice_syslog, through tests/tools/syslog_send.cc, against a real
rsyslogd on loopback: RFC 5424 over TLS (RFC 5425 octet counting, rsyslog's lmnsd_ossl driver)
and over plain TCP. What rsyslog wrote is parsed back and compared field by field with what was
sent; a receiver killed mid-stream and restarted loses nothing (at least once); a server whose
certificate the configured CA did not sign, or that does not carry the expected name, is refused.

Every rsyslogd, certificate and file lives in a temporary directory removed afterwards.
"""

import argparse
import datetime
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ARGS = None
TIMEOUT = 30
HOSTNAME = "sluice-test"
DETECTORS = ["dns_tunnel", "bulk_upload", "cred_file_read",
             "a_detector_id_longer_than_thirty_two_chars"]
DISPOSITIONS = ["Allowed", "Blocked", "Would block"]
# OCSF severity_id -> RFC 5424 severity; facility 13 (log audit) adds 104.
SEVERITY = {0: 4, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 2}
# rsyslog writes each message as: PRI TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
TEMPLATE = ("%pri% %timereported:::date-rfc3339% %hostname% %app-name% %procid% %msgid% "
            "%structured-data% %msg%\\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def run(*cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    """A test CA with a server certificate for 127.0.0.1 and localhost, and an unrelated CA."""

    def __init__(self, d):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self.ca = os.path.join(d, "ca.pem")
        self.other_ca = os.path.join(d, "other-ca.pem")
        self.cert = os.path.join(d, "server.pem")
        self.key = os.path.join(d, "server.key")
        for name, subject in (("ca", "sluice test CA"), ("other-ca", "unrelated CA")):
            run("openssl", "req", "-x509", "-new", *ec, "-keyout", name + ".key",
                "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + subject, cwd=d)
        run("openssl", "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
            cwd=d)


def listening(port):
    """Whether something listens on TCP `port` (from /proc, without connecting to it)."""
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols[1].endswith(want) and cols[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


class Rsyslog:
    """rsyslogd in the foreground with its own config, work dir and pid file: a TLS input and a
    plain-TCP input, each writing what it receives to its own file."""

    def __init__(self, d, pki):
        self.dir = d
        self.tls_port = free_port()
        self.tcp_port = free_port()
        self.tls_log = os.path.join(d, "tls.log")
        self.tcp_log = os.path.join(d, "tcp.log")
        self.pidfile = os.path.join(d, "rsyslogd.pid")
        self.conf = os.path.join(d, "rsyslog.conf")
        self.stderr_path = os.path.join(d, "rsyslogd.stderr")
        self.proc = None
        work = os.path.join(d, "work")
        os.mkdir(work)
        with open(self.conf, "w") as f:
            f.write(f"""
# Findings carry whole OCSF objects; rsyslog's default limit (8k) would cut them.
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
template(name="fields" type="string" string="{TEMPLATE}")
ruleset(name="tls") {{ action(type="omfile" file="{self.tls_log}" template="fields") }}
ruleset(name="tcp") {{ action(type="omfile" file="{self.tcp_log}" template="fields") }}
input(type="imtcp" port="{self.tls_port}" ruleset="tls"
      streamDriver.caFile="{pki.ca}" streamDriver.certFile="{pki.cert}"
      streamDriver.keyFile="{pki.key}")
input(type="imtcp" port="{self.tcp_port}" ruleset="tcp"
      streamDriver.name="ptcp" streamDriver.mode="0")
""")

    def start(self):
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)  # left by a killed instance
        with open(self.stderr_path, "a") as err:
            self.proc = subprocess.Popen(
                [ARGS.rsyslogd, "-n", "-f", self.conf, "-i", self.pidfile],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.dir)
        wait_for("rsyslogd to listen (see %s)" % self.stderr_path,
                 lambda: self.proc.poll() is not None or
                 (listening(self.tls_port) and listening(self.tcp_port)))
        if self.proc.poll() is not None:
            raise AssertionError("rsyslogd exited with %s:\n%s" % (self.proc.returncode,
                                                                    self.stderr()))

    def kill(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self.kill(signal.SIGTERM)

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def parse_sd(text):
    """RFC 5424 STRUCTURED-DATA at the start of `text`: ({sd-id: {name: value}}, rest)."""
    if text.startswith("- "):
        return {}, text[2:]
    elements = {}
    i = 0
    while i < len(text) and text[i] == "[":
        end = i + 1
        while text[end] not in " ]":
            end += 1
        sd_id = text[i + 1:end]
        params = {}
        i = end
        while text[i] == " ":
            eq = text.index("=", i)
            name = text[i + 1:eq]
            assert text[eq + 1] == '"', text
            j = eq + 2
            value = []
            while text[j] != '"':
                if text[j] == "\\" and text[j + 1] in '"\\]':
                    j += 1
                value.append(text[j])
                j += 1
            params[name] = "".join(value)
            i = j + 1
        assert text[i] == "]", text
        elements[sd_id] = params
        i += 1
    assert text[i] == " ", text
    return elements, text[i + 1:]


def parse_log(path, offset=0):
    """What rsyslog wrote (from byte `offset`): one dict per message."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read().decode("utf-8")
    records = []
    for row in data.split("\n")[:-1]:  # a last, partial row is still being written
        fields = row.split(" ", 6)
        sd, msg = parse_sd(fields[6])
        records.append({"pri": int(fields[0]), "timestamp": fields[1], "hostname": fields[2],
                        "app": fields[3], "procid": fields[4], "msgid": fields[5], "sd": sd,
                        "msg": msg})
    return records


def finding(prefix, i):
    """A synthetic OCSF Detection Finding line, varied in what the syslog header is made of."""
    uid = "%s-%04d" % (prefix, i)
    if i % 50 == 7:
        uid += ' "q" \\ ]x'  # every character RFC 5424 escapes in SD-PARAM values
    f = {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2,
        "activity_id": 1, "type_uid": 200401,
        "time": 1700000000000 + i * 1001, "severity_id": i % 7,
        "message": "finding %d: données → 漢字" % i,
        "metadata": {"version": "1.1.0", "uid": uid,
                     "product": {"name": "sluice", "vendor_name": "sluice", "version": "0.1.0"}},
        "finding_info": {"uid": uid, "title": "Finding %d" % i,
                         "analytic": {"name": DETECTORS[i % len(DETECTORS)], "type_id": 1}},
        "disposition": DISPOSITIONS[i % len(DISPOSITIONS)],
        "dst_endpoint": {"ip": "203.0.113.%d" % (i % 250), "port": 443},
    }
    if i % 97 == 3:
        # Longer than rsyslog's default message size.
        f["unmapped"] = {"sluice": {"cmd_line": "curl -d @" + "x" * 20000}}
    return json.dumps(f, ensure_ascii=False, separators=(",", ":"))


def expected_timestamp(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class Sender:
    """tests/tools/syslog_send.cc with a stdin pipe, both written and read on threads: while it
    retries a batch it reads no more input, and the test must not block on a full pipe."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([ARGS.sender, "--hostname", HOSTNAME, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8", bufsize=1)
        self.lines = queue.Queue()
        self.to_write = queue.Queue()
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _write(self):
        try:
            while (chunk := self.to_write.get()) is not None:
                self.proc.stdin.write(chunk)
                self.proc.stdin.flush()
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the sender exited; what it printed tells why

    def write(self, lines):
        self.to_write.put("".join(line + "\n" for line in lines))

    def next(self, timeout=TIMEOUT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("sender said nothing within %ss; so far: %r" % (timeout,
                                                                                self.out))
        if line is not None:
            self.out.append(line)
        return line

    def sent(self):
        return sum(int(line.split()[1]) for line in self.out if line.startswith("SENT "))

    def wait_sent(self, total):
        while self.sent() < total:
            line = self.next()
            if line is None or line.startswith("ERROR"):
                raise AssertionError("sender stopped: %r" % self.out)
        self.assert_equal_sent(total)

    def assert_equal_sent(self, total):
        if self.sent() != total:
            raise AssertionError("sent %d, expected %d: %r" % (self.sent(), total, self.out))

    def finish(self):
        """Closes stdin and waits: (exit code, every stdout line)."""
        self.to_write.put(None)
        while self.next() is not None:
            pass
        return self.proc.wait(timeout=TIMEOUT), self.out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.to_write.put(None)
        self.writer.join(TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass


class SyslogTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-syslog-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.pki = Pki(self.dir)
        self.rsyslog = Rsyslog(self.dir, self.pki)
        self.addCleanup(self.rsyslog.stop)
        self.rsyslog.start()

    def sender(self, *args):
        s = Sender(*args)
        self.addCleanup(s.kill)
        return s

    def tls_args(self, host="127.0.0.1", ca=None):
        return ["--tls", "--host", host, "--port", str(self.rsyslog.tls_port),
                "--ca", ca or self.pki.ca]

    def tcp_args(self, host="localhost"):
        return ["--host", host, "--port", str(self.rsyslog.tcp_port)]

    def wait_records(self, path, n, offset=0):
        wait_for("%d messages in %s" % (n, path), lambda: len(parse_log(path, offset)) >= n)
        # Anything more than expected would show in the comparison; give it a moment to land.
        time.sleep(0.2)
        return parse_log(path, offset)

    def assert_records(self, records, lines, procid):
        self.assertEqual(len(records), len(lines), self.rsyslog.stderr())
        for rec, line in zip(records, lines):
            f = json.loads(line)
            # Each JSON line intact, byte for byte.
            self.assertEqual(rec["msg"], line)
            self.assertEqual(rec["pri"], 13 * 8 + SEVERITY[f["severity_id"]], line)
            self.assertEqual(rec["timestamp"], expected_timestamp(f["time"]))
            self.assertEqual(rec["hostname"], HOSTNAME)
            self.assertEqual(rec["app"], "sluiced")
            self.assertEqual(rec["procid"], str(procid))
            self.assertEqual(rec["msgid"], f["finding_info"]["analytic"]["name"][:32])
            self.assertEqual(rec["sd"], {"sluice@32473": {
                "uid": f["finding_info"]["uid"], "disposition": f["disposition"]}})

    def test_tls_stream(self):
        lines = [finding("tls", i) for i in range(500)]
        s = self.sender(*self.tls_args())
        s.write(lines)
        code, out = s.finish()
        self.assertEqual(code, 0, out)
        s.assert_equal_sent(500)
        self.assertTrue(all(line.startswith("SENT ") for line in out), out)
        self.assert_records(self.wait_records(self.rsyslog.tls_log, 500), lines, s.proc.pid)
        # One batch is at most 100 lines.
        self.assertTrue(all(0 < int(line.split()[1]) <= 100 for line in out), out)

    def test_tcp_stream(self):
        lines = [finding("tcp", i) for i in range(100)]
        s = self.sender(*self.tcp_args())
        s.write(lines + ["not json {"])
        code, out = s.finish()
        self.assertEqual(code, 0, out)
        s.assert_equal_sent(101)
        records = self.wait_records(self.rsyslog.tcp_log, 101)
        self.assert_records(records[:100], lines, s.proc.pid)
        # A line that is not JSON still goes out, its header fields the NILVALUE (rsyslog puts
        # its reception time in for the missing timestamp).
        last = records[100]
        self.assertEqual((last["pri"], last["hostname"], last["app"], last["procid"],
                          last["msgid"], last["sd"], last["msg"]),
                         (108, HOSTNAME, "sluiced", str(s.proc.pid), "-", {}, "not json {"))
        self.assertFalse(os.path.exists(self.rsyslog.tls_log))

    def test_receiver_killed_mid_stream(self):
        lines = [finding("kill", i) for i in range(500)]
        first, second, third = lines[:150], lines[150:300], lines[300:]
        # By name: the certificate's DNS name and SNI, over whichever address localhost has.
        s = self.sender(*self.tls_args(host="localhost"), "--retry-ms", "60000",
                        "--retry-interval-ms", "100")
        s.write(first)
        s.wait_sent(150)
        self.wait_records(self.rsyslog.tls_log, 150)
        # rsyslog has written all it was sent: killing it now loses nothing unless the sender
        # writes the next batch into the dead connection.
        self.rsyslog.kill(signal.SIGKILL)
        offset = os.path.getsize(self.rsyslog.tls_log)
        # One small line first: a batch that fits one write is the one a dead connection would
        # swallow without an error.
        s.write(second[:1])
        retries = []
        while len(retries) < 3:
            line = s.next()
            self.assertIsNotNone(line, s.out)
            self.assertFalse(line.startswith("SENT"), "sent with the receiver down: %r" % s.out)
            if line.startswith("RETRY"):
                retries.append(line)
        self.assertIn("UNAVAILABLE: syslog+tls://localhost:%d: cannot connect: " %
                      self.rsyslog.tls_port, retries[-1])
        self.assertIn("Connection refused", retries[-1])
        s.write(second[1:])
        self.rsyslog.start()
        s.wait_sent(300)
        s.write(third)
        code, out = s.finish()
        self.assertEqual(code, 0, out)
        s.assert_equal_sent(500)

        before = parse_log(self.rsyslog.tls_log)[:150]
        self.assert_records(before, first, s.proc.pid)
        after = self.wait_records(self.rsyslog.tls_log, 350, offset)
        # At least once: every finding arrived; repeats are dropped by uid, as a SIEM would.
        seen = {}
        order = []
        for rec in before + after:
            uid = rec["sd"]["sluice@32473"]["uid"]
            if uid not in seen:
                order.append(uid)
                seen[uid] = rec
        duplicates = len(before) + len(after) - len(seen)
        print("receiver killed and restarted: %d retries, %d duplicates" % (
            sum(1 for line in out if line.startswith("RETRY")), duplicates))
        self.assertEqual(order, [json.loads(line)["finding_info"]["uid"] for line in lines])
        self.assert_records([seen[uid] for uid in order], lines, s.proc.pid)

    def test_wrong_ca_is_refused(self):
        # rsyslog sends its CA along with its certificate: the chain ends in a self-signed
        # certificate the configured CA bundle does not hold.
        s = self.sender(*self.tls_args(ca=self.pki.other_ca))
        s.write([finding("wrong-ca", 1)])
        code, out = s.finish()
        self.assertEqual(code, 1, out)
        self.assertEqual(out, [
            "ERROR UNAVAILABLE: syslog+tls://127.0.0.1:%d: TLS handshake: certificate "
            "verification failed: self-signed certificate in certificate chain" % self.rsyslog.tls_port])
        self.assertFalse(os.path.exists(self.rsyslog.tls_log))

    def test_wrong_server_name_is_refused(self):
        s = self.sender(*self.tls_args(), "--server-name", "siem.example")
        s.write([finding("wrong-name", 1)])
        code, out = s.finish()
        self.assertEqual(code, 1, out)
        self.assertEqual(out, [
            "ERROR UNAVAILABLE: syslog+tls://127.0.0.1:%d: TLS handshake: certificate "
            "verification failed: hostname mismatch" % self.rsyslog.tls_port])
        self.assertFalse(os.path.exists(self.rsyslog.tls_log))


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--sender", required=True)
    parser.add_argument("--rsyslogd", default=shutil.which("rsyslogd") or "/usr/sbin/rsyslogd")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
