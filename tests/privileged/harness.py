"""Helpers shared by the privileged tests: running commands, finding the cgroup v2 mount,
listing attached sluice programs, and driving a real sluiced."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

SKIP = 77


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def read_text(path):
    with open(path) as f:
        return f.read()


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    return None


def sluice_programs():
    out = run(["bpftool", "prog", "show", "--json"], check=False).stdout or "[]"
    return [p for p in json.loads(out) if p.get("name", "").startswith("sluice_")]


def sluice_programs_after_release(timeout=10.0):
    """The sluice programs still loaded once they had `timeout` seconds to go. Releasing pins
    with no agent running drops the links' last references, and the kernel frees such a link in
    a work item and its program after a grace period: gone within moments, not at once (an agent
    closing its own link fds detaches synchronously, so its stops need no wait)."""
    deadline = time.time() + timeout
    left = sluice_programs()
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = sluice_programs()
    return left


class Sluiced:
    """sluiced with a rule set written for the case; alerts (and, with events=True, sensor
    events) in JSON-lines files under `tmp`."""

    def __init__(self, binary, tmp, rules_yaml, mode, events=False, extra=()):
        self.rules = os.path.join(tmp, "rules.yaml")
        self.alerts = os.path.join(tmp, "alerts-%s.jsonl" % mode)
        self.events = os.path.join(tmp, "events-%s.jsonl" % mode) if events else None
        self.stderr = os.path.join(tmp, "sluiced-%s.log" % mode)
        with open(self.rules, "w") as f:
            f.write(rules_yaml)
        for path in (self.alerts, self.events):
            if path and os.path.exists(path):
                os.remove(path)
        # Its own API socket: never collide with a sluiced running on the host.
        self.api_socket = os.path.join(tmp, "api-%s.sock" % mode)
        # Its own pin directory too: never adopt (or release) a host agent's pinned policy.
        self.pin_dir = "/sys/fs/bpf/sluice-test-%d" % os.getpid()
        if "--pin-dir" in extra:
            self.pin_dir = list(extra)[list(extra).index("--pin-dir") + 1]
        cmd = [binary, "--rules", self.rules, "--mode", mode, "--alerts", self.alerts,
               "--api-socket", self.api_socket]
        if "--pin-dir" not in extra:
            cmd += ["--pin-dir", self.pin_dir]
        if self.events:
            cmd += ["--events", self.events]
        cmd += list(extra)
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 60
        while time.time() < deadline:
            if "sluiced: ready" in self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        release_pins(self.pin_dir)
        raise RuntimeError("sluiced did not become ready:\n" + self.log())

    def log(self):
        with open(self.stderr) as f:
            return f.read()

    def alerts_now(self):
        if not os.path.exists(self.alerts):
            return []
        with open(self.alerts) as f:
            # A line still being written is read next time (as events_now does).
            return [json.loads(l) for l in f if l.endswith("\n") and l.strip()]

    def wait_alerts(self, n, timeout=2.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            a = self.alerts_now()
            if len(a) >= n:
                return a
            time.sleep(0.02)
        return self.alerts_now()

    def events_now(self):
        if not self.events or not os.path.exists(self.events):
            return []
        out = []
        with open(self.events) as f:
            for line in f:
                if line.endswith("\n"):  # a line still being written is read next time
                    out.append(json.loads(line))
        return out

    def wait_event(self, pred, timeout=5.0):
        """The first event matching `pred`, waiting up to `timeout` seconds; None if none."""
        deadline = time.time() + timeout
        while True:
            for e in self.events_now():
                if pred(e):
                    return e
            if time.time() >= deadline:
                return None
            time.sleep(0.05)

    def reload(self, rules_yaml, timeout=20.0):
        """Rewrites the rule file and sends SIGHUP; returns "reloaded" or "rejected" once the
        agent has logged the outcome."""
        before = self.log()
        done, rejected = before.count("rules reloaded from"), before.count("reload rejected")
        tmp = self.rules + ".new"
        with open(tmp, "w") as f:
            f.write(rules_yaml)
        os.replace(tmp, self.rules)  # as an editor or config management would: never half a file
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log()
            if log.count("rules reloaded from") > done:
                return "reloaded"
            if log.count("reload rejected") > rejected:
                return "rejected"
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("sluiced did not report the reload:\n" + self.log())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # Detaching every link (uprobes especially) is serialised in the kernel: ~4 s
                # idle, several times that on a loaded 2-core machine.
                return self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                release_pins(self.pin_dir)
                return -9
        return self.proc.returncode

    def kill(self):
        """SIGKILL: no cleanup runs in the agent, its pins stay (callers release them)."""
        self.proc.kill()
        self.proc.wait()


def release_pins(pin_dir):
    """Removes a pin directory: its links, held by nobody else, detach."""
    shutil.rmtree(pin_dir, ignore_errors=True)




def remove_cgroup_tree(path):
    """Removes a cgroup and its children, killing what still runs in them (children first: a
    cgroup with processes or children cannot be removed)."""
    for dirpath, _, _ in os.walk(path, topdown=False):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                for pid in f.read().split():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def run_privileged_suite(argv):
    """Runs the unittest cases of the calling module after checking the host can run them.
    Returns the process exit code: 0 pass, 1 fail, 77 skipped (unless
    SLUICE_REQUIRE_PRIVILEGED=1, which turns a skip into a failure)."""
    required = os.environ.get("SLUICE_REQUIRE_PRIVILEGED") == "1"
    why = None
    if os.geteuid() != 0:
        why = "not root"
    elif cgroup2_root() is None:
        why = "no cgroup v2 mount"
    elif shutil.which("bpftool") is None:
        why = "bpftool not installed"
    if why:
        print("privileged test cannot run: %s" % why)
        return 1 if required else SKIP
    if sluice_programs():
        print("sluice programs are already attached on this host (another sluiced running?)")
        return 1
    prog = unittest.main(module="__main__", argv=[sys.argv[0]] + argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1
