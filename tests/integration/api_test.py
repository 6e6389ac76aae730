#!/usr/bin/env python3
"""Control API contract (DESIGN §7): the real `sluicectl status|events|alerts` against the real
ControlServer, served by a small test agent (tests/api_fake_agent.cc) on a temporary socket.

No root needed; the permission cases run `sluicectl` as nobody with setpriv when this runs as
root and are skipped otherwise.
"""

import argparse
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
import unittest

ARGS = None
TIMEOUT = 20


class Lines:
    """Lines of a pipe, read on a thread so the test can wait with a timeout."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in pipe:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def next(self, timeout=TIMEOUT):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line within %ss" % timeout)


class Agent:
    def __init__(self, sock, *extra):
        self.proc = subprocess.Popen([ARGS.fake_agent, "--socket", sock, *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)  # stderr: the test's own
        self.out = Lines(self.proc.stdout)
        line = self.out.next()
        if line != "ready":
            raise AssertionError("agent did not start (%r); see stderr above" % line)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def event(self, type_, obj):
        self.send("event %s %s" % (type_, json.dumps(obj, separators=(",", ":"))))

    def alert(self, obj):
        self.send("alert %s" % json.dumps(obj, separators=(",", ":")))

    def wait_subscribers(self, which, n):
        # Commands run in order, so an answer also means every earlier command is done.
        self.send("wait-subscribers %s %d" % (which, n))
        return self.out.next()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.t.join(TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def sluicectl(*args, sock, as_nobody=False):
    cmd = [ARGS.sluicectl, "--socket", sock, *args]
    if as_nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)


class ApiTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-api-")
        os.chmod(self.tmp, 0o755)  # so that only the socket's own mode keeps nobody out
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sock = os.path.join(self.tmp, "run", "sluiced.sock")

    def start_agent(self, *extra):
        agent = Agent(self.sock, *extra)
        self.addCleanup(agent.stop)
        return agent

    def test_status_table(self):
        self.start_agent()
        r = sluicectl("status", sock=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertRegex(out, r"^sluiced \d+\.\d+\.\d+ \(pid \d+\)\n")
        self.assertIn("mode:    monitor", out)
        self.assertRegex(out, r"uptime:  \d+s \(since \d{4}-\d\d-\d\dT")
        self.assertIn("rules:   /etc/sluice/rules (2 workload(s))", out)
        self.assertRegex(out, r"sluice_openat +tracepoint/syscalls/sys_enter_openat +attached "
                              r"\(fallback for lsm/file_open\)")
        self.assertIn("NOT ATTACHED: libssl not found", out)
        self.assertRegex(out, r"EVENT TYPE +RECEIVED +LOST \(RING FULL\) +MAP FULL")
        self.assertRegex(out, r"\nconnect +5 +1 +0\n")
        self.assertRegex(out, r"\nprocesses +7\n")
        self.assertRegex(out, r"\napi_event_subscribers +0\n")

    def test_status_json(self):
        self.start_agent()
        r = sluicectl("status", "--json", sock=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["mode"], "monitor")
        self.assertEqual(st["workload_count"], 2)
        self.assertTrue(st["probes"][1]["fallback_used"])
        self.assertEqual(st["probes"][1]["preferred_hook"], "lsm/file_open")
        self.assertFalse(st["probes"][2]["attached"])
        self.assertEqual(st["event_types"][0]["type"], "connect")
        self.assertEqual(int(st["event_types"][0]["ring_full"]), 1)  # uint64: a JSON string
        self.assertEqual(int(st["gauges"]["processes"]), 7)
        self.assertEqual(int(st["decode_errors"]), 0)  # zero values are printed too

    def test_events_backlog_and_type_filter(self):
        agent = self.start_agent()
        agent.event("exec", {"pid": 1})
        agent.event("connect", {"pid": 1, "port": 443})
        agent.event("flow", {"cookie": 9})
        self.assertEqual(agent.wait_subscribers("events", 0), "ok")
        r = sluicectl("events", sock=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(lines, [{"pid": 1}, {"pid": 1, "port": 443}, {"cookie": 9}])

        r = sluicectl("events", "--type", "connect", "--type", "flow", sock=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2, r.stdout)
        r = sluicectl("events", "--type", "exec,flow", sock=self.sock)
        self.assertEqual([json.loads(l) for l in r.stdout.splitlines()],
                         [{"pid": 1}, {"cookie": 9}])

    def test_alerts_backlog(self):
        agent = self.start_agent()
        agent.alert({"class_uid": 2004, "n": 1})
        agent.event("exec", {"pid": 1})
        self.assertEqual(agent.wait_subscribers("alerts", 0), "ok")
        r = sluicectl("alerts", sock=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, '{"class_uid":2004,"n":1}\n')

    def follow(self, *args):
        p = subprocess.Popen([ARGS.sluicectl, "--socket", self.sock, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = Lines(p.stdout)

        def cleanup():
            if p.poll() is None:
                p.kill()
            p.wait()
            lines.t.join(TIMEOUT)
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(cleanup)
        return p, lines

    def test_events_follow_prints_live_lines_and_ctrl_c_ends_cleanly(self):
        agent = self.start_agent()
        agent.event("exec", {"old": 1})
        p, out = self.follow("events", "--follow", "--type", "connect", "--type", "exec")
        self.assertEqual(out.next(), '{"old":1}')
        self.assertEqual(agent.wait_subscribers("events", 1), "ok")
        agent.event("flow", {"filtered": 1})
        agent.event("connect", {"live": 1})
        self.assertEqual(out.next(), '{"live":1}')  # flushed at once, filtered by type
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=TIMEOUT), 0, p.stderr.read())
        self.assertIsNone(out.next())
        self.assertEqual(p.stderr.read(), "")
        self.assertEqual(agent.wait_subscribers("events", 0), "ok")

    def test_alerts_follow_ends_when_the_agent_stops(self):
        agent = self.start_agent()
        p, out = self.follow("alerts", "-f")
        self.assertEqual(agent.wait_subscribers("alerts", 1), "ok")
        agent.alert({"class_uid": 2004, "live": True})
        self.assertEqual(json.loads(out.next()), {"class_uid": 2004, "live": True})
        agent.stop()
        self.assertEqual(p.wait(timeout=TIMEOUT), 0, p.stderr.read())
        self.assertFalse(os.path.exists(self.sock))

    def test_closed_stdout_ends_follow(self):
        agent = self.start_agent()
        r, w = os.pipe()
        p = subprocess.Popen([ARGS.sluicectl, "--socket", self.sock, "events", "--follow"],
                             stdout=w, stderr=subprocess.PIPE, text=True)
        os.close(w)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(agent.wait_subscribers("events", 1), "ok")
        agent.event("exec", {"n": 1})
        with os.fdopen(r, "rb", buffering=0) as f:
            got = b""
            while not got.endswith(b"\n"):
                chunk = f.read(1)
                self.assertTrue(chunk, "sluicectl closed its output early")
                got += chunk
        self.assertEqual(got, b'{"n":1}\n')
        # The reader is gone (like `| head -1` exiting): the next line ends sluicectl, quietly.
        agent.event("exec", {"n": 2})
        self.assertEqual(p.wait(timeout=TIMEOUT), 0)
        self.assertEqual(p.stderr.read(), "")

    def test_missing_socket(self):
        r = sluicectl("status", sock=self.sock)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "sluicectl: cannot reach sluiced at %s: No such file or "
                                   "directory (is sluiced running?)\n" % self.sock)
        r = sluicectl("events", "--follow", sock=self.sock)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach sluiced at %s" % self.sock, r.stderr)

    def test_socket_left_by_a_dead_agent(self):
        os.makedirs(os.path.dirname(self.sock))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)  # bound, never listening: what a killed agent leaves behind
        s.close()
        r = sluicectl("alerts", sock=self.sock)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "sluicectl: cannot reach sluiced at %s: Connection refused "
                                   "(is sluiced running?)\n" % self.sock)
        # A new agent replaces the stale socket.
        self.start_agent()
        self.assertEqual(sluicectl("status", sock=self.sock).returncode, 0)

    def test_second_agent_on_the_same_socket_is_refused(self):
        self.start_agent()
        p = subprocess.run([ARGS.fake_agent, "--socket", self.sock], capture_output=True,
                           text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already answering", p.stderr)
        self.assertEqual(sluicectl("status", sock=self.sock).returncode, 0)

    def require_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run sluicectl as another user")
        if shutil.which("setpriv") is None:
            self.skipTest("setpriv not installed")

    def test_non_root_is_denied_by_the_socket_mode(self):
        self.require_root()
        self.start_agent()
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)
        for args in (["status"], ["events", "--follow"], ["alerts"]):
            r = sluicectl(*args, sock=self.sock, as_nobody=True)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr,
                             "sluicectl: permission denied on %s: run as root\n" % self.sock)

    def test_non_root_is_denied_by_the_uid_check(self):
        # With the socket opened up, the per-call SO_PEERCRED check still says no.
        self.require_root()
        self.start_agent("--socket-mode", "666")
        for args in (["status"], ["events", "--follow"], ["alerts", "--follow"]):
            r = sluicectl(*args, sock=self.sock, as_nobody=True)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr,
                             "sluicectl: permission denied on %s: run as root\n" % self.sock)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--fake-agent", required=True)
    ARGS, rest = p.parse_known_args()
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
