#!/usr/bin/env python3
"""Privileged sensor test: every probe family of the real sensor in this kernel.

One sluiced (monitor mode, --events) watches a child cgroup made here; the workloads run in that
cgroup and in a network namespace made here, trigger a behaviour, and the test asserts the decoded
events sluiced wrote: the process tree (exec with argv, fork, exit), exact TCP byte totals both
ways for IPv4 and IPv6 (outbound and accepted flows), UDP totals, bytes read from a sensitive file
through read, pread, readv, mmap, sendfile, splice and copy_file_range, and a renamed / hard-linked
sensitive file still counted.

Everything made here is removed at the end, also when a case fails.
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
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (run, cgroup2_root, sluice_programs, Sluiced,  # noqa: E402
                     remove_cgroup_tree, run_privileged_suite, release_pins)

ARGS = None

V4 = "192.0.2.1"     # TEST-NET-1, only ever on the namespace's loopback
V6 = "2001:db8::1"   # documentation prefix, same
HOLDER_SLOTS = 16384  # SLUICE_HOLDER_SLOTS, bpf/include/sluice/abi.h
FLOW_SLOTS = 16384  # SLUICE_FLOW_SLOTS, bpf/include/sluice/abi.h
DNS = "192.0.2.53"   # dnsmasq, in the namespace

# A TCP server that reads until EOF, answers with `reply` bytes and closes; prints what it got.
TCP_SERVER = r"""
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("LISTENING", flush=True)
c, _ = s.accept()
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
c.sendall(b"r" * int(sys.argv[3]))
c.close()
print("GOT", n, flush=True)
"""

TCP_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
s.sendall(b"q" * int(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
n = 0
while True:
    d = s.recv(65536)
    if not d:
        break
    n += len(d)
s.close()
print("GOT", n, flush=True)
"""

# Reads argv[3] bytes of argv[2] opened relative to the directory argv[1]: a path with no prefix
# to match.
RELATIVE_READ = ("import os, sys; os.chdir(sys.argv[1]); "
                 "os.read(os.open(sys.argv[2], os.O_RDONLY), int(sys.argv[3]))")

# Accepts one connection only once the file argv[3] exists (its client has reset it by then),
# then closes it.
LATE_ACCEPT_SERVER = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("LISTENING", flush=True)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
c, _ = s.accept()
c.close()
"""

# Sends argv[3] bytes, lets them be acknowledged, then closes abortively (SO_LINGER 0: a RST,
# no FIN); prints its local port.
RESET_CLIENT = r"""
import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
s.sendall(b"q" * int(sys.argv[3]))
time.sleep(0.3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
port = s.getsockname()[1]
s.close()
print(port, flush=True)
"""

# UDP: the server answers each datagram with 50 bytes.
UDP_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("LISTENING", flush=True)
for _ in range(3):
    d, peer = s.recvfrom(65536)
    s.sendto(b"u" * 50, peer)
"""

UDP_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for n in (100, 200, 300):
    s.sendto(b"d" * n, (sys.argv[1], int(sys.argv[2])))
    s.recvfrom(65536)
s.close()
print("OK", flush=True)
"""

# Each reader is its own process: totals are per (process, file).
READERS = {
    "read": "open(P, 'rb').read()",
    "pread": "import os; fd = os.open(P, os.O_RDONLY); os.pread(fd, 5000, 100)",
    "readv": "import os; fd = os.open(P, os.O_RDONLY); os.readv(fd, [bytearray(3000), bytearray(4000)])",
    "mmap": "import mmap, os; fd = os.open(P, os.O_RDONLY); m = mmap.mmap(fd, 40960, prot=mmap.PROT_READ); m[0]",
    "sendfile": "import os; i = os.open(P, os.O_RDONLY); o = os.open('/dev/null', os.O_WRONLY); os.sendfile(o, i, 0, 20000)",
    "splice": "import os; i = os.open(P, os.O_RDONLY); r, w = os.pipe(); os.splice(i, w, 30000)",
    "copy_file_range": "import os; i = os.open(P, os.O_RDONLY); o = os.open(D, os.O_WRONLY | os.O_CREAT, 0o600); os.copy_file_range(i, o, 25000)",
    # Every way to copy an fd counts (dup, F_DUPFD, F_DUPFD_CLOEXEC, dup2, dup3); a copy of
    # another file onto a sensitive fd (dup2/dup3 close it without close()) no longer counts;
    # nor does an anonymous mapping that names the sensitive fd (the kernel ignores it).
    "fd copies": """import ctypes, fcntl, os
fd = os.open(P, os.O_RDONLY)
os.pread(os.dup(fd), 1000, 0)
os.pread(fcntl.fcntl(fd, fcntl.F_DUPFD, 40), 2000, 0)
os.pread(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 44), 3000, 0)
os.dup2(fd, 50); os.pread(50, 4000, 0)
os.dup2(fd, 51, inheritable=False); os.pread(51, 5000, 0)
z = os.open('/dev/zero', os.O_RDONLY)
os.dup2(z, 50); os.read(50, 6000)
os.dup2(z, 51, inheritable=False); os.read(51, 7000)
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
assert libc.mmap(None, 1 << 20, 1, 0x22, fd, 0) != ctypes.c_void_p(-1).value  # PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS
""",
}
EXPECTED = {  # (bytes_read, bytes_mapped)
    "read": (100000, 0), "pread": (5000, 0), "readv": (7000, 0), "mmap": (0, 40960),
    "sendfile": (20000, 0), "splice": (30000, 0), "copy_file_range": (25000, 0),
    "fd copies": (15000, 0),
}


class Lab:
    def __init__(self):
        self.tag = "sluices%d" % os.getpid()
        self.netns = self.tag
        self.root = cgroup2_root()
        self.cgroup_rel = "/" + self.tag
        self.cgroup = self.root + self.cgroup_rel
        self.tmp = tempfile.mkdtemp(prefix="sluice-sensor-")
        self.cache = os.path.join(self.tmp, "cache")       # the sensitive prefix
        self.elsewhere = os.path.join(self.tmp, "elsewhere")
        self.procs = []

    def up(self):
        run(["ip", "netns", "add", self.netns])
        ns = ["ip", "netns", "exec", self.netns]
        run(ns + ["ip", "link", "set", "lo", "up"])
        run(ns + ["ip", "addr", "add", V4 + "/32", "dev", "lo"])
        run(ns + ["ip", "addr", "add", DNS + "/32", "dev", "lo"])
        run(ns + ["ip", "-6", "addr", "add", V6 + "/128", "dev", "lo", "nodad"])
        os.makedirs(self.cgroup)
        os.makedirs(self.cache)
        os.makedirs(self.elsewhere)
        with open(os.path.join(self.cache, "kv.bin"), "wb") as f:
            f.write(os.urandom(100000))

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        remove_cgroup_tree(self.cgroup)
        run(["ip", "netns", "del", self.netns], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wrap(self, argv, netns=True):
        """A shell line that joins the watched cgroup, then (optionally) the namespace, then
        execs argv. The cgroup is joined first: `ip netns exec` remounts /sys."""
        inner = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
        if netns:
            inner = "ip netns exec %s %s" % (self.netns, inner)
        return "echo $$ > %s/cgroup.procs && exec %s" % (self.cgroup, inner)

    def run_in(self, argv, netns=True, timeout=30):
        """Runs argv in the workload; returns (pid of the workload process, stdout)."""
        p = subprocess.Popen(["sh", "-c", self.wrap(argv, netns)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace")
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv, p.returncode, err))
        return p.pid, out.strip()

    def start_in(self, argv, netns=True):
        """Starts argv in the workload in the background; waits for LISTENING."""
        p = subprocess.Popen(["sh", "-c", self.wrap(argv, netns)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if "LISTENING" not in line:
            raise RuntimeError("server did not start: " + line + p.stdout.read())
        return p


def rules_for(lab):
    return """version: 1
files:
  - class: inference-cache
    paths: ["{cache}"]
workloads:
  - name: sensor-test
    mode: monitor
    selector:
      cgroup: "{cg}"
    egress:
      allow:
        - cidr: 192.0.2.0/24
        - cidr: "2001:db8::/32"
""".format(cache=lab.cache, cg=lab.cgroup_rel)


class SensorTest(unittest.TestCase):
    lab = None
    agent = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        try:
            cls.lab.up()
            cls.agent = Sluiced(ARGS.sluiced, cls.lab.tmp, rules_for(cls.lab), "monitor",
                                events=True, extra=["--hooks", ARGS.hooks])
        except Exception:
            cls.lab.down()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.agent.stop() if cls.agent else 0
        left = sluice_programs()
        cls.lab.down()
        if rc != 0 or left:
            raise AssertionError("sluiced exit %s, programs left attached: %s" % (rc, left))

    def event(self, pred, what, timeout=5.0):
        e = self.agent.wait_event(pred, timeout)
        self.assertIsNotNone(e, "no event: %s\n%s" % (what, self.agent.log()[-2000:]))
        return e

    def test_process_tree(self):
        pid, _ = self.lab.run_in(["/bin/sh", "-c", "/bin/sleep 0.2; /bin/true"], netns=False)
        sh = self.event(lambda e: e["type"] == "exec" and e["pid"] == pid
                        and e["argv"][:2] == ["/bin/sh", "-c"], "exec of sh")
        self.assertEqual(sh["argv"], ["/bin/sh", "-c", "/bin/sleep 0.2; /bin/true"])
        fork = self.event(lambda e: e["type"] == "fork" and e["pid"] == pid, "fork by sh")
        child = fork["child_pid"]
        sleep = self.event(lambda e: e["type"] == "exec" and e["pid"] == child, "exec of sleep")
        self.assertEqual(sleep["ppid"], pid)
        self.assertEqual(sleep["argv"], ["/bin/sleep", "0.2"])
        self.assertTrue(sleep["exe"]["ino"] > 0)
        self.event(lambda e: e["type"] == "exit" and e["pid"] == child, "exit of sleep")
        self.event(lambda e: e["type"] == "exit" and e["pid"] == pid, "exit of sh")

    def tcp_case(self, addr, port, sent, reply):
        server = self.lab.start_in([sys.executable, "-c", TCP_SERVER, addr, str(port), str(reply)])
        pid, out = self.lab.run_in([sys.executable, "-c", TCP_CLIENT, addr, str(port), str(sent)])
        self.assertEqual(out, "GOT %d" % reply)
        server.wait(timeout=10)
        out = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                         and e["pid"] == pid, "closed outbound flow of the client")
        self.assertEqual((out["bytes_out"], out["bytes_in"]), (sent, reply), out)
        self.assertEqual(out["direction"], "outbound")
        self.assertEqual((out["daddr"], out["dport"], out["protocol"]), (addr, port, "tcp"))
        inbound = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                             and e["direction"] == "inbound" and e["sport"] == port
                             and e["dport"] == out["sport"], "closed accepted flow of the server")
        self.assertEqual((inbound["bytes_in"], inbound["bytes_out"]), (sent, reply), inbound)
        self.event(lambda e: e["type"] == "flow" and e["kind"] == "connected" and e["pid"] == pid,
                   "connected record")
        self.event(lambda e: e["type"] == "flow" and e["kind"] == "accepted"
                   and e["dport"] == out["sport"], "accepted record")

    def test_tcp_exact_bytes_ipv4(self):
        # Sizes that are not multiples of any segment or buffer size.
        self.tcp_case(V4, 9101, 1234567, 76543)

    def test_tcp_exact_bytes_ipv6(self):
        self.tcp_case(V6, 9102, 654321, 12345)

    def test_accepts_through_io_uring_open_inbound_flows(self):
        # An accept submitted through an io_uring never returns from accept(2): the ring's
        # completion must open the inbound flow, for single-shot accepts (each completion names
        # its request) and a multishot one (whose completions name none).
        server_bin = os.path.join(os.path.dirname(ARGS.fileread), "sluice_test_uring_server")
        for mode, port in (("single", 9105), ("multishot", 9106)):
            with self.subTest(mode=mode):
                server = self.lab.start_in([server_bin, mode, V4, str(port), "3000", "2"])
                sent = (11111, 22222)
                clients = []
                for n in sent:
                    pid, out = self.lab.run_in([sys.executable, "-c", TCP_CLIENT, V4, str(port),
                                                str(n)])
                    self.assertEqual(out, "GOT 3000")
                    clients.append(pid)
                self.assertEqual(server.wait(timeout=10), 0)
                for pid, n in zip(clients, sent):
                    out = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                                     and e["pid"] == pid, "closed outbound flow of a client")
                    inbound = self.event(
                        lambda e: e["type"] == "flow" and e["kind"] == "closed"
                        and e["direction"] == "inbound" and e["sport"] == port
                        and e["dport"] == out["sport"], "closed accepted flow of the server")
                    self.assertEqual((inbound["bytes_in"], inbound["bytes_out"]), (n, 3000),
                                     inbound)
                    self.assertEqual(inbound["pid"], server.pid, inbound)

    def test_reset_flows_have_exact_totals_and_close_before_accept(self):
        # A reset sets both shutdown bits with no FIN either way: the totals must not lose a
        # byte for a FIN that never was. And the server's side reached CLOSE in the accept
        # queue, before accept() gave it a flow entry: the entry must still be closed (it
        # leaked, live forever, before), with what the client sent.
        go = os.path.join(self.lab.tmp, "accept-now")
        server = self.lab.start_in([sys.executable, "-c", LATE_ACCEPT_SERVER, V4, "9103", go])
        pid, out = self.lab.run_in([sys.executable, "-c", RESET_CLIENT, V4, "9103", "1000"])
        client_port = int(out)
        open(go, "w").close()
        server.wait(timeout=10)
        out = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                         and e["pid"] == pid, "closed outbound flow of the client")
        self.assertEqual((out["bytes_out"], out["bytes_in"]), (1000, 0), out)
        inbound = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                             and e["direction"] == "inbound" and e["sport"] == 9103
                             and e["dport"] == client_port, "closed accepted flow of the server")
        self.assertEqual((inbound["bytes_in"], inbound["bytes_out"]), (1000, 0), inbound)

    def test_plaintext_tcp_prefix_is_classified_once_per_flow(self):
        # The first segment with payload of a watched flow reaches the agent (cgroup_skb egress)
        # and is classified there; later segments of the same flow are not sent again.
        server = self.lab.start_in([sys.executable, "-c", TCP_SERVER, V4, "9104", "10"])
        req = "POST /v1/records?tenant=acme HTTP/1.1\r\nHost: vectors\r\n\r\n"
        client = (
            "import socket, sys, time\n"
            "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)\n"
            "s.sendall(%r.encode())\n"
            "time.sleep(0.05)\n"
            "s.sendall(b'x' * 5000)\n"
            "s.shutdown(socket.SHUT_WR)\n"
            "print('GOT %%d' %% len(s.recv(100)))\n" % req)
        pid, out = self.lab.run_in([sys.executable, "-c", client, V4, "9104"])
        self.assertEqual(out, "GOT 10")
        server.wait(timeout=10)
        p = self.event(lambda e: e["type"] == "payload" and e["pid"] == pid,
                       "payload prefix of the client's flow")
        self.assertEqual(p["protocol"], "http1-request", p)
        self.assertEqual(p["operation"], "POST /v1/records HTTP/1.1", p)
        self.assertEqual((p["daddr"], p["dport"]), (V4, 9104), p)
        self.assertEqual(p["length"], len(req), p)
        # The query string never leaves the classifier.
        self.assertNotIn("tenant", json.dumps(p))
        time.sleep(0.5)
        n = [e for e in self.agent.events_now() if e["type"] == "payload" and e["pid"] == pid]
        self.assertEqual(len(n), 1, n)

    def test_udp_bytes(self):
        server = self.lab.start_in([sys.executable, "-c", UDP_SERVER, V4, "9103"])
        pid, out = self.lab.run_in([sys.executable, "-c", UDP_CLIENT, V4, "9103"])
        self.assertEqual(out, "OK")
        server.wait(timeout=10)
        self.event(lambda e: e["type"] == "flow" and e["kind"] == "udp" and e["pid"] == pid,
                   "first datagram record")
        closed = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                            and e["pid"] == pid and e["protocol"] == "udp", "closed UDP flow")
        self.assertEqual((closed["bytes_out"], closed["bytes_in"]), (600, 150), closed)
        self.assertEqual((closed["daddr"], closed["dport"]), (V4, 9103))

    def file_reads(self, path, name):
        code = "P = %r; D = %r\n%s" % (path, os.path.join(self.lab.tmp, "copy-" + name),
                                       READERS[name])
        pid, _ = self.lab.run_in([sys.executable, "-c", code], netns=False)
        return self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                          "file_read totals of %s" % name)

    def read_relative(self, directory, name, n):
        """Reads n bytes of `name` in the workload, opened relative to `directory`; returns the
        reader's pid."""
        return self.lab.run_in([sys.executable, "-c", RELATIVE_READ, directory, name, str(n)],
                               netns=False)[0]

    def test_file_bytes_by_every_read_path(self):
        path = os.path.join(self.lab.cache, "kv.bin")
        for name, (read, mapped) in EXPECTED.items():
            with self.subTest(reader=name):
                t = self.file_reads(path, name)
                self.assertEqual((t["bytes_read"], t["bytes_mapped"]), (read, mapped), t)
                self.assertEqual(t["class"], "inference-cache")
                self.assertEqual(t["path"], path)

    def test_file_bytes_through_io_uring(self):
        # No system call tracepoint and no vfs_read sees a read or an open submitted through an
        # io_uring: the io_uring completion tracepoint must count them as exactly. uring-fixed
        # never has an fd of the file (an open into a registered slot, a read through it): its
        # totals start at the read, with a record of its own. uring-open reads 6000 bytes
        # through the ring and 5000 with pread(2) on the fd the ring's open returned, which
        # counts only if that open was noted.
        path = os.path.join(self.lab.cache, "kv.bin")
        for mode, want, matched in (("uring-read", 100000, "path"),
                                    ("uring-open", 11000, "io_uring"),
                                    ("uring-fixed", 3000, "io_uring"),
                                    ("uring-splice", 8000, "path")):
            with self.subTest(mode=mode):
                pid, out = self.lab.run_in([ARGS.fileread, mode, path], netns=False)
                self.assertEqual(out, "pid=%d bytes=%d" % (pid, want))
                t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                               "file_read totals of " + mode)
                self.assertEqual((t["bytes_read"], t["bytes_mapped"]), (want, 0), t)
                self.assertEqual(t["class"], "inference-cache")
                opened = self.event(lambda e: e["type"] == "file_open" and e["pid"] == pid,
                                    "file_open record of " + mode)
                self.assertEqual(opened["matched_by"], matched, opened)
                self.assertEqual(opened["class"], "inference-cache", opened)
                if matched == "io_uring":
                    self.assertEqual(t["path"], "(io_uring) kv.bin", t)
                    if mode == "uring-fixed":
                        self.assertEqual(opened["fd"], -1, opened)
                    else:
                        self.assertGreaterEqual(opened["fd"], 0, opened)
                else:
                    self.assertEqual(t["path"], path, t)

    def test_cat_and_dd(self):
        path = os.path.join(self.lab.cache, "kv.bin")
        for argv in (["/bin/cat", path], ["/bin/dd", "if=" + path, "of=/dev/null", "bs=4096"]):
            with self.subTest(tool=argv[0]):
                pid, _ = self.lab.run_in(argv, netns=False)
                t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                               "totals of " + argv[0])
                self.assertEqual(t["bytes_read"], 100000, t)
                opened = self.event(lambda e: e["type"] == "file_open" and e["pid"] == pid,
                                    "open by " + argv[0])
                self.assertEqual(opened["matched_by"], "path")

    def test_reopens_of_a_file_send_a_record_a_second_or_on_new_flags(self):
        # A process that reopens a sensitive file in a loop: every byte counts, but its file_open
        # records are the first open's, the first reopen a second later, and the first reopen
        # with other flags, not one per open (which outran the agent and lost other records).
        path = os.path.join(self.lab.cache, "kv.bin")
        code = ("import os, time\n"
                "def read(flags):\n"
                "    fd = os.open(%r, flags); os.read(fd, 100); os.close(fd)\n"
                "for _ in range(50): read(os.O_RDONLY)\n"
                "time.sleep(1.2)\n"
                "for _ in range(20): read(os.O_RDONLY)\n"
                "for _ in range(20): read(os.O_RDWR)\n" % path)
        pid, _ = self.lab.run_in([sys.executable, "-c", code], netns=False)
        t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid, "totals")
        self.assertEqual(t["bytes_read"], 90 * 100, t)
        opens = [e for e in self.agent.events_now()
                 if e["type"] == "file_open" and e["pid"] == pid]
        self.assertEqual([e["flags"] & os.O_ACCMODE for e in opens],
                         [os.O_RDONLY, os.O_RDONLY, os.O_RDWR], opens)
        self.assertTrue(all(e["path"] == path for e in opens), opens)

    def test_renamed_and_linked_files_are_still_sensitive(self):
        src = os.path.join(self.lab.cache, "renamed.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(4321))
        # First open through the sensitive path teaches the kernel the inode...
        t = self.file_reads(src, "read")
        self.assertEqual(t["bytes_read"], 4321)
        # ...then neither a rename out of the prefix nor a hard link hides it.
        moved = os.path.join(self.lab.elsewhere, "innocent.txt")
        os.rename(src, moved)
        link = os.path.join(self.lab.elsewhere, "link.txt")
        os.link(moved, link)
        for path in (moved, link):
            with self.subTest(path=path):
                t = self.file_reads(path, "read")
                self.assertEqual(t["bytes_read"], 4321, t)
                self.assertEqual(t["class"], "inference-cache")
        # A file that was in the prefix before sluiced started was seeded by inode.
        moved_seeded = os.path.join(self.lab.elsewhere, "seeded.bin")
        os.link(os.path.join(self.lab.cache, "kv.bin"), moved_seeded)
        t = self.file_reads(moved_seeded, "read")
        self.assertEqual(t["bytes_read"], 100000, t)
        # Nor does a relative path (no prefix to match): the fd's inode decides.
        pid = self.read_relative(self.lab.cache, "kv.bin", 3000)
        t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                       "totals of a relative open")
        self.assertEqual((t["bytes_read"], t["class"]), (3000, "inference-cache"), t)

    def test_new_files_below_a_prefix_directory_are_known_by_where_they_are(self):
        # Files created since the agent started, in a new subdirectory of the prefix: no inode
        # entry knows them, and no path names them when they are opened relatively or through an
        # io_uring (whose open keeps no path): the kernel finds the prefix directory among their
        # parents, also across a mount inside the prefix. A new file elsewhere stays unwatched.
        sub = os.path.join(self.lab.cache, "new-dir", "deeper")
        mnt = os.path.join(self.lab.cache, "new-mount")
        os.makedirs(sub)
        os.makedirs(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "sluice-test", mnt], check=True)
        try:
            for d in (sub, os.path.join(mnt, "in-mount"), self.lab.elsewhere):
                os.makedirs(d, exist_ok=True)
                for name in ("fresh.bin", "fresh-ring.bin", "fresh-slot.bin"):
                    with open(os.path.join(d, name), "wb") as f:
                        f.write(os.urandom(20000))
            for d in (sub, os.path.join(mnt, "in-mount")):
                with self.subTest(dir=d):
                    pid = self.read_relative(d, "fresh.bin", 4000)
                    t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                                   "totals of a relative open of a new file")
                    self.assertEqual((t["bytes_read"], t["class"]), (4000, "inference-cache"), t)
                    pid, _ = self.lab.run_in([ARGS.fileread, "uring-open",
                                              os.path.join(d, "fresh-ring.bin")], netns=False)
                    t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                                   "totals of an io_uring open of a new file")
                    self.assertEqual((t["bytes_read"], t["class"]), (11000, "inference-cache"), t)
                    # Opened straight into a registered slot: decided at the first read.
                    pid, _ = self.lab.run_in([ARGS.fileread, "uring-fixed",
                                              os.path.join(d, "fresh-slot.bin")], netns=False)
                    t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                                   "totals of an io_uring slot read of a new file")
                    self.assertEqual((t["bytes_read"], t["class"]), (3000, "inference-cache"), t)
            pids = [self.read_relative(self.lab.elsewhere, "fresh.bin", 4000),
                    self.lab.run_in([ARGS.fileread, "uring-open",
                                     os.path.join(self.lab.elsewhere, "fresh-ring.bin")],
                                    netns=False)[0],
                    self.lab.run_in([ARGS.fileread, "uring-fixed",
                                     os.path.join(self.lab.elsewhere, "fresh-slot.bin")],
                                    netns=False)[0]]
            time.sleep(0.6)  # two reaper periods
            self.assertFalse([e for e in self.agent.events_now()
                              if e["type"] in ("file_open", "file_read") and e["pid"] in pids])
        finally:
            subprocess.run(["umount", mnt], check=False)

    def test_dns_names_reach_the_following_connect(self):
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.netns, "dnsmasq", "--no-daemon", "--no-resolv",
             "--no-hosts", "--user=root", "--pid-file=", "--bind-interfaces",
             "--listen-address=" + DNS, "--port=53",
             "--host-record=acme.my.salesforce.com," + V4,
             "--cname=login.salesforce.com,acme.my.salesforce.com"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lab.procs.append(dnsmasq)
        server = self.lab.start_in([sys.executable, "-c", TCP_SERVER, V4, "9104", "10"])
        # Resolve through the real resolver protocol (dig), then connect to the answer.
        deadline = time.time() + 10
        answer = ""
        while time.time() < deadline and not answer:
            _, answer = self.lab.run_in(["dig", "+short", "+tries=1", "+time=1", "@" + DNS,
                                         "login.salesforce.com"])
            answer = answer.splitlines()[-1] if answer else ""
            if not answer:
                time.sleep(0.2)
        self.assertEqual(answer, V4, "dnsmasq answered: %r" % answer)
        pid, out = self.lab.run_in([sys.executable, "-c", TCP_CLIENT, answer, "9104", "5"])
        self.assertEqual(out, "GOT 10")
        server.wait(timeout=10)
        dns = self.event(lambda e: e["type"] == "dns" and "login.salesforce.com" in e["questions"],
                         "DNS answer")
        self.assertIn({"name": "login.salesforce.com", "type": 5, "ttl": dns["answers"][0]["ttl"],
                       "cname": "acme.my.salesforce.com"}, dns["answers"])
        self.assertTrue(any(a.get("addr") == V4 for a in dns["answers"]), dns)
        flow = self.event(lambda e: e["type"] == "flow" and e["kind"] == "connected"
                          and e["pid"] == pid, "connected flow")
        self.assertIn("acme.my.salesforce.com", flow["names"])
        self.assertIn("login.salesforce.com", flow["names"])

    def tls_server(self, port):
        cert = os.path.join(self.lab.tmp, "cert.pem")
        key = os.path.join(self.lab.tmp, "key.pem")
        if not os.path.exists(cert):
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=crm.test", "-keyout", key, "-out", cert])
        # Outside the watched cgroup: only the clients are under test.
        p = subprocess.Popen(["ip", "netns", "exec", self.lab.netns, "openssl", "s_server",
                              "-accept", "%s:%d" % (V4, port), "-cert", cert, "-key", key,
                              "-www", "-quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.lab.procs.append(p)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = run(["ip", "netns", "exec", self.lab.netns, sys.executable, "-c",
                     "import socket; socket.create_connection(('%s', %d), 1)" % (V4, port)],
                    check=False)
            if r.returncode == 0:
                return p
            time.sleep(0.1)
        raise RuntimeError("openssl s_server did not start")

    def assert_http_over_tls(self, pid, library, method, path, port):
        e = self.event(lambda e: e["type"] == "tls" and e["pid"] == pid
                       and e["direction"] == "write", "TLS write of pid %d" % pid)
        self.assertEqual(e["library"], library)
        self.assertEqual(e["protocol"], "http1-request", e)
        self.assertEqual((e["http"]["method"], e["http"]["path"]), (method, path), e)
        self.assertEqual((e.get("daddr"), e.get("dport")), (V4, port), e)
        self.assertGreater(e["cookie"], 0)
        self.assertNotIn("data", e)  # classifications only, never the bytes
        return e

    # TLS uprobes are attached per watched process when the agent handles its exec or fork
    # record (DESIGN §4: never system-wide), which takes tens of milliseconds on this kernel; they
    # survive exec. The clients below therefore run as the workload's long-lived process would:
    # a shell that is already under watch when it execs the TLS client. (A process that reaches
    # its first TLS call within that window of its birth is not covered: see the issue note.)
    def in_watched_shell(self, command):
        return ["/bin/sh", "-c", "sleep 0.5; exec " + command]

    def test_tls_plaintext_openssl_curl(self):
        self.tls_server(9443)
        pid, _ = self.lab.run_in(self.in_watched_shell(
            "curl -sk -o /dev/null --max-time 10 -H 'Host: acme.my.salesforce.com' "
            "--resolve acme.my.salesforce.com:9443:%s "
            "'https://acme.my.salesforce.com:9443/services/data/v59.0/query?q=SELECT'" % V4))
        e = self.assert_http_over_tls(pid, "openssl", "GET", "/services/data/v59.0/query", 9443)
        self.assertTrue(e["http"]["has_query"])
        self.assertEqual(e["http"]["host"], "acme.my.salesforce.com")
        # The ClientHello left the host in the clear: the sensor's first-segment capture names
        # the server (no DNS answer did: --resolve).
        hello = self.event(lambda e: e["type"] == "payload" and e["pid"] == pid,
                           "first segment of pid %d" % pid)
        self.assertEqual((hello["protocol"], hello.get("sni")),
                         ("tls-record", "acme.my.salesforce.com"), hello)
        self.assertGreater(hello["length"], 64)

    def test_tls_plaintext_openssl_python_write_ex(self):
        self.tls_server(9444)
        code = ("import socket, ssl, time; c = ssl._create_unverified_context(); time.sleep(0.5); "
                "s = c.wrap_socket(socket.create_connection(('%s', 9444), 5)); "
                "s.sendall(b'POST /upload HTTP/1.1\\r\\nHost: paste.evil.test\\r\\n"
                "Content-Length: 2\\r\\n\\r\\nhi'); s.close()" % V4)
        pid, _ = self.lab.run_in([sys.executable, "-c", code])
        e = self.assert_http_over_tls(pid, "openssl", "POST", "/upload", 9444)
        self.assertEqual(e["http"]["host"], "paste.evil.test")

    def test_tls_plaintext_gnutls(self):
        self.tls_server(9445)
        request = os.path.join(self.lab.tmp, "request.txt")
        with open(request, "w") as f:
            f.write("GET /export/records HTTP/1.1\r\nHost: vectors.internal\r\n\r\n")
        # gnutls-cli sends stdin, then exits when the server closes after its answer.
        pid, _ = self.lab.run_in(self.in_watched_shell(
            "gnutls-cli --insecure --logfile=/dev/null -p 9445 %s < %s > /dev/null 2>&1"
            % (V4, request)))
        self.assert_http_over_tls(pid, "gnutls", "GET", "/export/records", 9445)

    def test_sluicectl_status_and_events_through_the_agent(self):
        pid, _ = self.lab.run_in(["/bin/true"], netns=False)
        self.event(lambda e: e["type"] == "exec" and e["pid"] == pid, "exec of true")
        ctl = [ARGS.sluicectl, "--socket", self.agent.api_socket]
        st = json.loads(run(ctl + ["status", "--json"]).stdout)
        self.assertEqual(st["mode"], "monitor")
        probes = {p["name"]: p for p in st["probes"]}
        self.assertTrue(probes["sluice_connect4"]["attached"])
        # The feature probe's choice is visible. This kernel (DEVELOPERS.md: the dev/CI host)
        # refuses fentry/fexit and BPF-LSM programs, so the syscall tracepoints stand in for them
        # with the probe's reason; tp_btf works, so the process family uses it unless
        # --hooks fallback turned every preferred hook off. (The vm tests prove the other side:
        # on Debian's 6.1 and 6.12 the fexit and LSM programs are picked.)
        self.assertTrue(probes["sluice_exit_openat_path"]["fallback_used"])
        self.assertEqual(probes["sluice_exit_openat_path"]["preferred_hook"], "lsm/file_open")
        self.assertTrue(probes["sluice_exit_openat_path"]["fallback_reason"])
        self.assertNotIn("sluice_lsm_file_open", probes)
        self.assertEqual(probes["sluice_exit_read"]["preferred_hook"], "fexit/vfs_read")
        self.assertNotIn("sluice_fexit_vfs_read", probes)
        # The file family's syscall fallbacks are exits alone (their arguments are read from
        # the saved registers); the exits that finish an LSM-parked open load only with LSM.
        self.assertEqual(sorted(n for n in probes if n.startswith("sluice_enter_")),
                         ["sluice_enter_close", "sluice_enter_connect"])
        self.assertNotIn("sluice_exit_openat", probes)
        # io_uring reads, opens and accepts, on every kernel that has io_uring.
        for prog in ("sluice_io_uring_complete", "sluice_uring_submit", "sluice_uring_accept"):
            self.assertTrue(probes[prog]["attached"], probes.get(prog))
        if ARGS.hooks == "fallback":
            self.assertNotIn("sluice_exec_btf", probes)
            self.assertEqual(probes["sluice_exec"]["preferred_hook"], "tp_btf/sched_process_exec")
            self.assertIn("--hooks fallback", probes["sluice_exec"]["fallback_reason"])
        else:
            self.assertNotIn("sluice_exec", probes)
            self.assertEqual(probes["sluice_exec_btf"]["hook"], "tp_btf/sched_process_exec")
            self.assertFalse(probes["sluice_exec_btf"].get("fallback_used", False))
            self.assertTrue(probes["sluice_exit_btf"]["attached"])
            self.assertTrue(probes["sluice_fork_btf"]["attached"])
        # The TLS socket tie: the sock tracepoints where the kernel has them (6.18 does), so no
        # program runs on writes and reads of files; the syscalls only with --hooks fallback.
        for prog, hook, fallbacks in (
                ("sluice_tls_send_btf", "tp_btf/sock_send_length",
                 ("sluice_tls_write", "sluice_tls_writev", "sluice_tls_sendto",
                  "sluice_tls_sendmsg")),
                ("sluice_tls_recv_btf", "tp_btf/sock_recv_length",
                 ("sluice_tls_read", "sluice_tls_readv", "sluice_tls_recvfrom",
                  "sluice_tls_recvmsg"))):
            if ARGS.hooks == "fallback":
                self.assertNotIn(prog, probes)
                for f in fallbacks:
                    self.assertEqual(probes[f]["preferred_hook"], hook, probes.get(f))
            else:
                self.assertEqual(probes[prog]["hook"], hook)
                self.assertTrue(probes[prog]["attached"])
                for f in fallbacks:
                    self.assertNotIn(f, probes)
        # Status is a snapshot the agent refreshes a few times a second: the exec seen on the
        # event stream above is counted in the next one.
        deadline = time.time() + 5
        while True:
            types = {t["type"]: t for t in st["event_types"]}
            if int(types["exec"]["received"]) > 0 or time.time() > deadline:
                break
            time.sleep(0.1)
            st = json.loads(run(ctl + ["status", "--json"]).stdout)
        self.assertGreater(int(types["exec"]["received"]), 0)
        self.assertIn("ring_full", types["exec"])
        human = run(ctl + ["status"]).stdout
        self.assertIn("sluice_connect4", human)
        lines = run(ctl + ["events", "--type", "exec"]).stdout.splitlines()
        execs = [json.loads(l) for l in lines]
        self.assertTrue(any(e["pid"] == pid for e in execs), lines[-5:])
        self.assertTrue(all(e["type"] == "exec" for e in execs))

    def test_record_then_replay_sees_what_the_agent_saw(self):
        ctl = [ARGS.sluicectl, "--socket", self.agent.api_socket]
        rec = os.path.join(self.lab.tmp, "live.events")
        recorder = subprocess.Popen(ctl + ["record", rec, "--duration", "4"],
                                    stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the agent installs its recorder within a poll tick
        server = self.lab.start_in([sys.executable, "-c", TCP_SERVER, V4, "9105", "7"])
        pid, out = self.lab.run_in([sys.executable, "-c", TCP_CLIENT, V4, "9105", "3333"])
        self.assertEqual(out, "GOT 7")
        server.wait(timeout=10)
        _, err = recorder.communicate(timeout=30)
        self.assertEqual(recorder.returncode, 0, err)
        self.assertIn("recorded", err)
        self.assertNotIn("invalid", err)
        # Replayed under rules that call this workload's every peer unexpected: the client's
        # connect is in the recording with its process and cgroup, so the finding names both.
        strict = os.path.join(self.lab.tmp, "strict.yaml")
        with open(strict, "w") as f:
            f.write('version: 1\nalerts: {aggregate_window: 0}\nworkloads:\n'
                    '  - name: replayed\n    selector: {cgroup: "%s"}\n' % self.lab.cgroup_rel)
        r = run([ARGS.sluicectl, "replay", rec, "--rules", strict])
        alerts = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        mine = [a for a in alerts if a["actor"]["process"]["pid"] == pid]
        self.assertTrue(mine, (r.stderr, alerts[:3]))
        self.assertEqual(mine[0]["finding_info"]["analytic"]["name"], "unexpected_egress")
        self.assertEqual(mine[0]["dst_endpoint"]["ip"], V4)
        self.assertEqual(mine[0]["actor"]["app_name"], "replayed")
        # No payload byte in a recording: the client sent only 'q's.
        with open(rec, "rb") as f:
            self.assertNotIn(b"qqqqqqqq", f.read())
        # No workload learns here: learn says so.
        lr = subprocess.run(ctl + ["learn"], capture_output=True, text=True, timeout=30)
        self.assertEqual(lr.returncode, 1)
        self.assertIn("no workload is in learn mode", lr.stderr)

    def test_sighup_reload_of_file_classes(self):
        models = os.path.join(self.lab.tmp, "models")
        os.makedirs(models, exist_ok=True)
        model = os.path.join(models, "m.bin")
        with open(model, "wb") as f:
            f.write(os.urandom(4000))
        kv = os.path.join(self.lab.cache, "kv.bin")
        original = rules_for(self.lab)
        later = os.path.join(self.lab.tmp, "later")  # a prefix directory made after the load
        two_classes = original.replace(
            "workloads:",
            "  - class: training-data\n    paths: [\"%s\", \"%s\"]\nworkloads:" % (models, later),
            1)
        only_models = two_classes.replace(
            "  - class: inference-cache\n    paths: [\"%s\"]\n" % self.lab.cache, "", 1)
        self.assertNotEqual(only_models, two_classes)
        try:
            self.assertEqual(self.agent.reload(two_classes), "reloaded", self.agent.log())
            t = self.file_reads(model, "read")  # a prefix the new set added, seeded by inode
            self.assertEqual((t["bytes_read"], t["class"]), (4000, "training-data"), t)
            t = self.file_reads(kv, "read")     # a class that stayed keeps its name
            self.assertEqual((t["bytes_read"], t["class"]), (100000, "inference-cache"), t)

            # A new file below the prefix directory the set added (no inode entry; a relative
            # open names no prefix): its place decides.
            with open(os.path.join(models, "new.bin"), "wb") as f:
                f.write(os.urandom(3000))
            with open(os.path.join(self.lab.cache, "new-after-reload.bin"), "wb") as f:
                f.write(os.urandom(3000))
            pid = self.read_relative(models, "new.bin", 3000)
            t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                           "totals of a new file below an added prefix directory")
            self.assertEqual((t["bytes_read"], t["class"]), (3000, "training-data"), t)
            # A prefix directory created after the load is known within a second or so.
            os.makedirs(later)
            with open(os.path.join(later, "new.bin"), "wb") as f:
                f.write(os.urandom(3000))
            time.sleep(1.5)
            pid = self.read_relative(later, "new.bin", 3000)
            t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == pid,
                           "totals of a new file below a prefix directory made after the load")
            self.assertEqual((t["bytes_read"], t["class"]), (3000, "training-data"), t)

            self.assertEqual(self.agent.reload(only_models), "reloaded", self.agent.log())
            reloaded = [l for l in self.agent.log().splitlines() if "rules reloaded" in l][-1]
            self.assertRegex(reloaded, r"; 1 prefix\(es\), [1-9][0-9]* inode\(s\) dropped")
            pids = [self.lab.run_in(["/bin/cat", kv], netns=False)[0],
                    self.read_relative(self.lab.cache, "new-after-reload.bin", 3000)]
            time.sleep(0.6)  # two reaper periods
            self.assertFalse([e for e in self.agent.events_now()
                              if e["type"] in ("file_open", "file_read") and e["pid"] in pids],
                             "a class the reload removed is still watched (prefix, inode or "
                             "directory)")
            t = self.file_reads(model, "read")
            self.assertEqual((t["bytes_read"], t["class"]), (4000, "training-data"), t)
        finally:
            # The other cases of this class share the agent: give them the original rules back.
            self.assertEqual(self.agent.reload(original), "reloaded", self.agent.log())
        t = self.file_reads(kv, "read")
        self.assertEqual((t["bytes_read"], t["class"]), (100000, "inference-cache"), t)

    def test_unwatched_process_reading_a_sensitive_file_is_not_tracked(self):
        path = os.path.join(self.lab.cache, "kv.bin")
        p = subprocess.Popen(["/bin/cat", path], stdout=subprocess.DEVNULL)
        self.assertEqual(p.wait(), 0)
        time.sleep(0.6)  # two reaper periods
        self.assertFalse([e for e in self.agent.events_now()
                          if e["type"] in ("file_open", "file_read") and e["pid"] == p.pid])

    def start_held(self, code, netns=False):
        """Starts python `code` in the workload (in its network namespace with `netns`) with a
        pipe on stdin: the code prints its first line, then waits for one line on stdin before
        it finishes."""
        p = subprocess.Popen(["sh", "-c", self.lab.wrap([sys.executable, "-c", code],
                                                        netns=netns)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lab.procs.append(p)
        return p

    def release(self, p, what):
        """Lets a start_held process finish; returns its file_read totals."""
        p.stdin.write("\n")
        p.stdin.close()
        self.assertEqual(p.wait(), 0)
        return self.event(lambda e: e["type"] == "file_read" and e["pid"] == p.pid, what)

    def gate_counts(self, maps, slot):
        """The value of `slot` in each of the gate arrays `maps` (bpf/lib/maps.bpf.h)."""
        key = [str(b) for b in slot.to_bytes(4, "little")]
        counts = []
        for name in maps:
            out = run(["bpftool", "-j", "map", "lookup", "name", name, "key"] + key).stdout
            counts.append(json.loads(out)["formatted"]["value"])
        return tuple(counts)

    def gate_slot(self, pid):
        """(adds, drops) of pid's slot of the fd probes' gate."""
        return self.gate_counts(("fd_holder_adds", "fd_holder_drops"), pid & (HOLDER_SLOTS - 1))

    def flow_gate_slot(self, cookie):
        """(live, reaped) of the cookie's slot of the packet hooks' gate."""
        return self.gate_counts(("flow_slot_live", "flow_slot_reap"), cookie & (FLOW_SLOTS - 1))

    def test_flow_gate_is_open_while_a_flow_lives_and_closes_after(self):
        """The packet hooks (cgroup_skb egress/ingress, TCP state, release) look a socket up in
        `flows` only when its cookie's gate slot is uneven: open for a live flow (else its bytes
        and a sever would be missed), even again once the flow is closed and gone (else every
        socket of that slot pays the lookup for good)."""
        server = self.lab.start_in([sys.executable, "-c", TCP_SERVER, V4, "9106", "77"])
        code = ("import socket, sys; s = socket.create_connection(('%s', 9106), 5); "
                "s.sendall(b'q' * 1000); print('HELD', flush=True); sys.stdin.readline(); "
                "s.shutdown(socket.SHUT_WR); n = 0\n"
                "while True:\n    d = s.recv(65536)\n    if not d: break\n    n += len(d)\n"
                "s.close()" % V4)
        p = self.start_held(code, netns=True)
        self.assertEqual(p.stdout.readline().strip(), "HELD")
        flow = self.event(lambda e: e["type"] == "flow" and e["kind"] == "connected"
                          and e["pid"] == p.pid, "connected flow")
        live, reaped = self.flow_gate_slot(flow["cookie"])
        self.assertNotEqual(live, reaped, "a live flow's slot is closed: its packets are missed")
        p.stdin.write("\n")
        p.stdin.close()
        self.assertEqual(p.wait(), 0)
        server.wait(timeout=10)
        closed = self.event(lambda e: e["type"] == "flow" and e["kind"] == "closed"
                            and e["pid"] == p.pid, "closed flow")
        self.assertEqual((closed["bytes_out"], closed["bytes_in"]), (1000, 77), closed)
        deadline = time.time() + 5
        while time.time() < deadline:
            live, reaped = self.flow_gate_slot(flow["cookie"])
            if live == reaped:
                break
            time.sleep(0.1)
        self.assertEqual(live, reaped, "the slot of a closed flow stays open")

    def test_fd_gate_opens_for_a_holder_and_closes_after_it_exits(self):
        """The fd probes (read, close, dup ...) stop at once for a process whose gate slot is
        even. A holder's slot must be uneven before its first read, and even again once the
        reaper saw the holder gone: a slot left uneven would make every process of that slot
        pay the map lookups for good."""
        path = os.path.join(self.lab.cache, "kv.bin")
        code = ("import os, sys; f = os.open(%r, os.O_RDONLY); os.read(f, 1000); "
                "print('HELD', flush=True); sys.stdin.readline(); os.read(f, 500)" % path)
        p = self.start_held(code)
        self.assertEqual(p.stdout.readline().strip(), "HELD")
        adds, drops = self.gate_slot(p.pid)
        self.assertGreater(adds, drops, "a holder's slot is closed: its reads would be missed")
        t = self.release(p, "totals of the holder")
        self.assertEqual(t["bytes_read"], 1500, t)
        deadline = time.time() + 5
        while time.time() < deadline:
            adds, drops = self.gate_slot(p.pid)
            if adds == drops:
                break
            time.sleep(0.1)
        self.assertEqual(adds, drops, "the reaper left the slot of an exited holder open")
        ctl = [ARGS.sluicectl, "--socket", self.agent.api_socket]
        counters = json.loads(run(ctl + ["status", "--json"]).stdout)["counters"]
        self.assertGreaterEqual(int(counters["fd_holders_dropped"]), 1, counters)

    def test_reaper_sweeps_calls_in_flight_of_threads_that_are_gone(self):
        """The hashes of calls in flight (no LRU: it would evict calls under way) lose an entry
        whose exit never came once its thread is gone; a live thread's entry stays."""
        info = json.loads(run(["bpftool", "-j", "map", "show", "name", "open_inflight"]).stdout)
        zero_value = ["0"] * info["bytes_value"]
        gone = subprocess.Popen(["/bin/true"])
        gone.wait()
        live = subprocess.Popen(["/bin/sleep", "60"])
        self.lab.procs.append(live)

        def key(pid):  # pid_tgid of a single-threaded process
            return [str(b) for b in ((pid << 32) | pid).to_bytes(8, "little")]

        def present(pid):
            return run(["bpftool", "map", "lookup", "name", "open_inflight", "key"] + key(pid),
                       check=False).returncode == 0

        for pid in (gone.pid, live.pid):
            run(["bpftool", "map", "update", "name", "open_inflight", "key"] + key(pid)
                + ["value"] + zero_value)
        deadline = time.time() + 5
        while time.time() < deadline and present(gone.pid):
            time.sleep(0.1)
        self.assertFalse(present(gone.pid), "the entry of a thread that is gone was kept")
        self.assertTrue(present(live.pid), "the entry of a live thread was swept")
        run(["bpftool", "map", "delete", "name", "open_inflight", "key"] + key(live.pid))
        ctl = [ARGS.sluicectl, "--socket", self.agent.api_socket]
        counters = json.loads(run(ctl + ["status", "--json"]).stdout)["counters"]
        self.assertGreaterEqual(int(counters["inflight_swept"]), 1, counters)

    def test_threads_of_a_holder_read_into_its_totals(self):
        """Threads share their process's fds: their reads count in the process's totals, and a
        new thread gets no copy of the fds under its own id (each copy made a walk of the whole
        open_files map): the preferred fork hook sees the new task, the fallback finds it at
        the tail of its process's thread list."""
        path = os.path.join(self.lab.cache, "kv.bin")
        code = ("import os, sys, threading; f = os.open(%r, os.O_RDONLY); tids = []\n"
                "done = threading.Event(); read = threading.Barrier(4)\n"
                "def work(off):\n"
                "    tids.append(threading.get_native_id()); os.pread(f, 1000, off)\n"
                "    read.wait(); done.wait()\n"
                "ts = [threading.Thread(target=work, args=(i * 1000,)) for i in range(3)]\n"
                "[t.start() for t in ts]; read.wait()\n"
                "print(' '.join(map(str, tids)), flush=True); sys.stdin.readline()\n"
                "done.set(); [t.join() for t in ts]" % path)
        p = self.start_held(code)
        tids = [int(t) for t in p.stdout.readline().split()]
        self.assertEqual(len(tids), 3, tids)
        for tid in tids:  # alive now, so the reaper has not dropped anything of theirs
            key = [str(b) for b in tid.to_bytes(4, "little")]
            r = run(["bpftool", "map", "lookup", "name", "fd_holders", "key"] + key, check=False)
            self.assertNotEqual(r.returncode, 0, "thread %d got its own fd copies" % tid)
        t = self.release(p, "totals of the threaded reader")
        self.assertEqual(t["bytes_read"], 3000, t)

    def test_inherited_and_duplicated_fds_are_counted(self):
        path = os.path.join(self.lab.cache, "kv.bin")
        # The shell opens the file for `<`, the forked child dup2s it to 0 and execs cat.
        pid, _ = self.lab.run_in(["/bin/sh", "-c", "/bin/cat < '%s' > /dev/null; echo done" % path],
                                 netns=False)
        child = self.event(lambda e: e["type"] == "exec" and e["ppid"] == pid
                           and e["argv"][:1] == ["/bin/cat"], "exec of cat")
        t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == child["pid"],
                       "totals of cat reading an inherited fd")
        self.assertEqual(t["bytes_read"], 100000, t)

    def test_forks_of_a_holder_fd_holders_had_no_room_for_copy_its_fds(self):
        """Once fd_holders was full, every fork walks open_files: the child of a holder the map
        had no room for still counts what it reads through an inherited fd. Simulated by
        removing the holder's entry, first without the flag the kernel sets when the map is
        full (the child is missed: the simulation holds), then with it (the child counts)."""
        path = os.path.join(self.lab.cache, "kv.bin")
        code = ("import os, sys; f = os.open(%r, os.O_RDONLY); print('HELD', flush=True)\n"
                "for line in sys.stdin:\n"
                "    if not line.strip(): break\n"
                "    c = os.fork()\n"
                "    if c == 0:\n"
                "        os.pread(f, int(line), 0); os._exit(0)\n"
                "    os.waitpid(c, 0); print(c, flush=True)\n" % path)
        p = self.start_held(code)
        self.assertEqual(p.stdout.readline().strip(), "HELD")
        holder = ["key"] + [str(b) for b in p.pid.to_bytes(4, "little")]
        flag = ["key", "0", "0", "0", "0", "value"]
        run(["bpftool", "map", "delete", "name", "fd_holders"] + holder)
        # Put back what the test changed, so that the reaper drops the holder's entry (and
        # closes its gate slot) when it exits, and forks stop walking open_files.
        self.addCleanup(run, ["bpftool", "map", "update", "name", "fd_holders_full"] + flag
                        + ["0", "0", "0", "0"])
        self.addCleanup(run, ["bpftool", "map", "update", "name", "fd_holders"] + holder
                        + ["value", "1", "0", "0", "0"])

        def fork_and_read(n):
            p.stdin.write("%d\n" % n)
            p.stdin.flush()
            return int(p.stdout.readline())

        missed = fork_and_read(1000)
        run(["bpftool", "map", "update", "name", "fd_holders_full"] + flag + ["1", "0", "0", "0"])
        counted = fork_and_read(2000)
        t = self.event(lambda e: e["type"] == "file_read" and e["pid"] == counted,
                       "totals of the child of an unrecorded holder")
        self.assertEqual(t["bytes_read"], 2000, t)
        self.assertFalse([e for e in self.agent.events_now()
                          if e["type"] == "file_read" and e["pid"] == missed],
                         "the child was counted without the flag: the simulation is wrong")
        p.stdin.write("\n")
        p.stdin.close()
        self.assertEqual(p.wait(), 0)


def own_lab(test):
    """A lab of `test`'s own, taken down after it (also when up() fails half way)."""
    lab = Lab()
    test.addCleanup(lab.down)
    lab.up()
    return lab


def own_agent(test, lab, *extra):
    """A monitor-mode sluiced on `lab` with `extra` flags and the run's --hooks, printing its
    events; stopped after `test`."""
    agent = Sluiced(ARGS.sluiced, lab.tmp, rules_for(lab), "monitor", events=True,
                    extra=list(extra) + ["--hooks", ARGS.hooks])
    test.addCleanup(agent.stop)
    return agent


class LostRecordsTest(unittest.TestCase):
    """Totals live in kernel maps, not in ring records: with every flow record discarded (as a
    full ring would), the reaper still reports each closed flow with exact totals."""

    def test_flow_totals_survive_lost_records(self):
        lab = own_lab(self)
        agent = own_agent(self, lab, "--test-drop-flow-records")
        server = lab.start_in([sys.executable, "-c", TCP_SERVER, V4, "9201", "3333"])
        pid, out = lab.run_in([sys.executable, "-c", TCP_CLIENT, V4, "9201", "222222"])
        self.assertEqual(out, "GOT 3333")
        server.wait(timeout=10)
        e = agent.wait_event(lambda e: e["type"] == "flow" and e["pid"] == pid, 5.0)
        self.assertIsNotNone(e, agent.log()[-2000:])
        self.assertEqual(e["kind"], "closed")  # the open record was dropped too
        self.assertTrue(e.get("recovered"), e)
        self.assertEqual((e["bytes_out"], e["bytes_in"]), (222222, 3333), e)
        self.assertEqual(agent.stop(), 0)


class AdoptingRestartTest(unittest.TestCase):
    """An agent killed without cleanup leaves its sensor pinned; the next one adopts the maps
    and links. A process holding a sensitive fd across that restart keeps counting, and the new
    agent reports the bytes from both sides of it: the fd probes' gate (fd_holder_adds/_drops)
    is pinned with the maps it guards, and the reaper reads the adopted totals. (With the same
    build the links themselves are kept, so their programs go on with the maps they had: the
    gate is checked in the adopted map; an upgrade replaces the programs over the same maps.)"""

    event = SensorTest.event
    start_held = SensorTest.start_held
    release = SensorTest.release
    gate_counts = SensorTest.gate_counts
    gate_slot = SensorTest.gate_slot

    def test_a_holder_keeps_counting_across_an_adopting_restart(self):
        self.lab = own_lab(self)
        first = Sluiced(ARGS.sluiced, self.lab.tmp, rules_for(self.lab), "monitor", events=True,
                        extra=["--hooks", ARGS.hooks])
        self.addCleanup(release_pins, first.pin_dir)
        self.addCleanup(first.stop)
        path = os.path.join(self.lab.cache, "kv.bin")
        code = ("import os, sys; f = os.open(%r, os.O_RDONLY); os.read(f, 1000); "
                "print('HELD', flush=True); sys.stdin.readline(); os.read(f, 500)" % path)
        p = self.start_held(code)
        self.assertEqual(p.stdout.readline().strip(), "HELD")
        first.kill()
        self.agent = own_agent(self, self.lab)
        self.assertIn("adopting the pinned sensor", self.agent.log())
        adds, drops = self.gate_slot(p.pid)
        self.assertGreater(adds, drops, "the adopted gate is closed for a holder")
        t = self.release(p, "totals of the holder")
        self.assertEqual(t["bytes_read"], 1500, t)
        self.assertEqual(self.agent.stop(), 0, self.agent.log())


class TlsAtBirthTest(unittest.TestCase):
    """--tls-attach system: a process is covered from its very first TLS write, however soon
    after its birth it makes it (per-process attach needs the agent to see the process first)."""

    event = SensorTest.event
    tls_server = SensorTest.tls_server
    assert_http_over_tls = SensorTest.assert_http_over_tls

    def test_clients_started_straight_into_the_workload_are_covered(self):
        self.lab = own_lab(self)
        self.agent = own_agent(self, self.lab, "--tls-attach", "system")
        self.assertIn("write uprobes for every process", self.agent.log())
        self.tls_server(9446)
        request = os.path.join(self.lab.tmp, "request.txt")
        with open(request, "w") as f:
            f.write("GET /export/records HTTP/1.1\r\nHost: vectors.internal\r\n\r\n")
        # No shell that is watched before the client starts: each client execs straight into
        # the cgroup and writes as soon as its handshake is done.
        for i in range(5):
            with self.subTest(client="curl", run=i):
                pid, _ = self.lab.run_in(
                    ["curl", "-sk", "-o", "/dev/null", "--max-time", "10",
                     "https://%s:9446/birth/%d" % (V4, i)])
                self.assert_http_over_tls(pid, "openssl", "GET", "/birth/%d" % i, 9446)
            with self.subTest(client="gnutls-cli", run=i):
                pid, _ = self.lab.run_in(
                    ["/bin/sh", "-c", "exec gnutls-cli --insecure --logfile=/dev/null -p 9446 "
                     "%s < %s > /dev/null 2>&1" % (V4, request)])
                self.assert_http_over_tls(pid, "gnutls", "GET", "/export/records", 9446)
        # Other processes of the host trap too, but their writes go no further: nothing of a
        # client outside the watched cgroup reaches the agent.
        out = run(["ip", "netns", "exec", self.lab.netns, "curl", "-sk", "-o", "/dev/null",
                   "--max-time", "10", "https://%s:9446/outside" % V4], check=False)
        self.assertEqual(out.returncode, 0)
        time.sleep(1.5)
        self.assertIsNone(self.agent.wait_event(
            lambda e: e["type"] == "tls" and e.get("http", {}).get("path") == "/outside", 0.5))
        self.assertEqual(self.agent.stop(), 0)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--sluiced", required=True)
    p.add_argument("--sluicectl", required=True)
    p.add_argument("--hooks", default="auto", choices=["auto", "fallback"],
                   help="sluiced --hooks: the feature probe's choice, or every fallback")
    p.add_argument("--fileread",
                   help="sluice_test_fileread (default: tests/ of the build sluiced is in)")
    ARGS, rest = p.parse_known_args()
    if not ARGS.fileread:
        build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(ARGS.sluiced)))))
        ARGS.fileread = os.path.join(build, "tests", "sluice_test_fileread")
    return run_privileged_suite(rest)


if __name__ == "__main__":
    sys.exit(main())
