#!/usr/bin/python3
"""The lab runner behind run.sh (see there)."""
import argparse, glob, json, os, re, shutil, signal, subprocess, sys, time

LAB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("SLUICE_LAB_STATE", "/run/sluice-lab")
PIN_DIR = "/sys/fs/bpf/sluice-lab"
SETTLE_S = 6.0     # how long after a scenario its alerts may still arrive (reaper: 1 s; flows)
FILE_DETECTORS = ("cache_dump", "log_export", "exfil_chain")
QUIET_S = 1.5      # after every expected detector was seen, how long to wait for extras


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def sh(cmd, **kw):
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def sluice_programs():
    out = sh(["bpftool", "prog", "show"]).stdout
    return [l for l in out.splitlines() if "sluice_" in l]


def parse_scenario(path):
    meta = {"path": path, "id": os.path.basename(path).split("-")[0],
            "name": os.path.basename(path)[:-3]}
    with open(path) as f:
        for line in f:
            m = re.match(r"#\s*(title|expect-monitor|expect-enforce|block|target):\s*(.*)", line)
            if m:
                meta[m.group(1)] = m.group(2).strip()
    meta["expect-monitor"] = meta.get("expect-monitor", "").replace("none", "").split()
    meta["expect-enforce"] = meta.get("expect-enforce", " ".join(meta["expect-monitor"])) \
        .replace("none", "").split()
    meta["block"] = meta.get("block", "none")
    meta["target"] = meta.get("target", "")
    return meta


def server_bytes(name):
    if not name:
        return 0
    n = 0
    try:
        with open(os.path.join(STATE, "servers", name + ".log")) as f:
            for l in f:
                p = l.split()
                if p and p[0] == "RECV":
                    n += int(p[2])
    except OSError:
        pass
    return n


class Agent:
    def __init__(self, binary, mode, logdir):
        self.mode = mode
        self.alerts = os.path.join(logdir, "alerts-%s.jsonl" % mode)
        self.events = os.path.join(logdir, "events-%s.jsonl" % mode)
        self.log = os.path.join(logdir, "sluiced-%s.log" % mode)
        for p in (self.alerts, self.events):
            if os.path.exists(p):
                os.remove(p)
        cmd = [binary, "--rules", os.path.join(LAB, "rules.yaml"), "--mode", mode,
               "--alerts", self.alerts, "--events", self.events,
               "--api-socket", os.path.join(STATE, "run", "api.sock"),
               "--pin-dir", PIN_DIR, "--resolv-conf", os.path.join(STATE, "resolv.conf")]
        self.err = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        with open(os.path.join(STATE, "pids", "sluiced"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.time() + 90
        while time.time() < deadline:
            if "sluiced: ready" in open(self.log).read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("sluiced did not become ready:\n" + open(self.log).read()[-3000:])

    def alerts_now(self):
        out = []
        try:
            with open(self.alerts) as f:
                for line in f:
                    if line.endswith("\n"):
                        out.append(json.loads(line))
        except OSError:
            pass
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.remove(os.path.join(STATE, "pids", "sluiced"))
        except OSError:
            pass
        shutil.rmtree(PIN_DIR, ignore_errors=True)
        return self.proc.returncode


def detector(a):
    return a.get("finding_info", {}).get("analytic", {}).get("name", "?")


def run_scenario(agent, sc, logdir):
    mode = agent.mode
    expect = sc["expect-%s" % mode]
    n0 = len(agent.alerts_now())
    b0 = server_bytes(sc["target"])
    out_path = os.path.join(logdir, "%s-%s.out" % (sc["name"], mode))
    t_start = int(time.time() * 1000)
    with open(out_path, "w") as out:
        p = subprocess.run(["bash", sc["path"]], stdout=out, stderr=subprocess.STDOUT,
                           timeout=120, env=dict(os.environ, LAB_MODE=mode))
    text = open(out_path).read()
    m = re.findall(r"^T0=(\d+)", text, re.M)
    t0 = int(m[-1]) if m else t_start
    deadline = time.time() + SETTLE_S
    seen_all_at = None
    while time.time() < deadline:
        new = agent.alerts_now()[n0:]
        names = {detector(a) for a in new}
        if expect and set(expect) <= names:
            seen_all_at = seen_all_at or time.time()
            if time.time() - seen_all_at >= QUIET_S:
                break
        time.sleep(0.1)
    new = agent.alerts_now()[n0:]
    got = []
    for a in new:
        if detector(a) not in got:
            got.append(detector(a))
    sent = server_bytes(sc["target"]) - b0
    times = [a.get("time", 0) for a in new if detector(a) in expect]
    latency = (min(times) - t0) if times else None
    blocked_alert = any(a.get("disposition") == "Blocked" for a in new)
    severed_alert = any(a.get("disposition") == "Blocked" and "sever" in
                        json.dumps(a.get("finding_info", {})).lower() + a.get("message", "").lower()
                        for a in new)
    attempted = re.findall(r"^ATTEMPT=(\d+)", text, re.M)
    attempted = int(attempted[-1]) if attempted else None
    problems = []
    missing = [d for d in expect if d not in got]
    if missing:
        problems.append("missed " + ",".join(missing))
    if not expect and new:
        problems.append("false positive " + ",".join(got))
    # A file detector the scenario does not expect means files were tied to the wrong send
    # (another process tree's reads): as wrong as a miss.
    wrong = [d for d in got if d in FILE_DETECTORS and d not in expect]
    if expect and wrong:
        problems.append("misattributed " + ",".join(wrong))
    if p.returncode not in (0,):
        # attacks that the kernel stopped make their client fail: only a script error counts
        if "LAB-ERROR" in text:
            problems.append("scenario error")
    blocked = "-"
    if mode == "enforce":
        if sc["block"] == "zero":
            blocked = "yes, %d B out" % sent if blocked_alert and sent == 0 else "NO, %d B out" % sent
            if not (blocked_alert and sent == 0):
                problems.append("not blocked")
        elif sc["block"] == "severed":
            ok = severed_alert and (attempted is None or sent < attempted)
            blocked = ("severed, %d of %s B out" % (sent, attempted) if ok else
                       "NO, %d of %s B out" % (sent, attempted))
            if not ok:
                problems.append("not severed")
        else:
            blocked = "n/a (%d B out)" % sent
    else:
        blocked = "would (%d B out)" % sent if any(
            a.get("disposition") == "Would block" for a in new) else "no (%d B out)" % sent
    return {"scenario": sc["name"], "mode": mode, "expected": expect, "detected": got,
            "blocked": blocked, "latency_ms": latency, "ok": not problems,
            "problems": problems, "alerts": len(new), "bytes_out": sent}


def table(rows):
    hdr = ["scenario", "mode", "expected", "detected", "blocked", "latency", "result"]
    lines = []
    for r in rows:
        extra = [d for d in r["detected"] if d not in r["expected"]]
        det = ",".join(d for d in r["detected"] if d in r["expected"]) or "-"
        if extra:
            det += " (+" + ",".join(extra) + ")"
        lat = "-" if r["latency_ms"] is None else "%d ms" % r["latency_ms"]
        res = "ok" if r["ok"] else "FAIL: " + "; ".join(r["problems"])
        lines.append([r["scenario"], r["mode"], ",".join(r["expected"]) or "(none)", det,
                      r["blocked"], lat, res])
    w = [max(len(x[i]) for x in [hdr] + lines) for i in range(len(hdr))]
    fmt = "  ".join("%%-%ds" % x for x in w)
    print(fmt % tuple(hdr))
    print(fmt % tuple("-" * x for x in w))
    for l in lines:
        print(fmt % tuple(l))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="both", choices=["monitor", "enforce", "both"])
    # Default: the README's build directory (SLUICE_BUILD_DIR, else build/ in the repository).
    build = os.environ.get("SLUICE_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "build")
    ap.add_argument("--sluiced", default=os.path.join(build, "agent/cmd/sluiced/sluiced"))
    ap.add_argument("--sluicectl", default=os.path.join(build, "agent/cmd/sluicectl/sluicectl"))
    ap.add_argument("--only", default="", help="comma-separated scenario numbers")
    ap.add_argument("--keep-logs", default="", help="copy alerts, events and logs here")
    ap.add_argument("--json", default="", help="write the result rows here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("lab: needs root (network namespaces, cgroups, BPF): skipped")
        return 1 if os.environ.get("SLUICE_REQUIRE_PRIVILEGED") == "1" else 77
    for t in ("bpftool", "ip", "dnsmasq", "openssl", "curl", "tar"):
        if shutil.which(t) is None:
            print("lab: %s is not installed" % t)
            return 1
    deadline = time.time() + 120
    while sluice_programs():
        if time.time() > deadline:
            print("lab: sluice programs are attached on this host (another sluiced?):\n" +
                  "\n".join(sluice_programs()))
            return 1
        print("lab: waiting for another sluiced to detach its programs ...")
        time.sleep(5)
    scenarios = sorted(glob.glob(os.path.join(LAB, "scenarios", "[0-9][0-9]-*.sh")))
    if a.only:
        keep = set(a.only.split(","))
        scenarios = [s for s in scenarios if os.path.basename(s)[:2] in keep]
    scenarios = [parse_scenario(s) for s in scenarios]
    modes = ["monitor", "enforce"] if a.mode == "both" else [a.mode]
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rows, agent, rc = [], None, 1
    lab = os.path.join(LAB, "lab.sh")
    try:
        sh([lab, "down"])
        t = time.time()
        up = sh([lab, "up"])
        if up.returncode != 0:
            print(up.stdout + up.stderr)
            return 1
        print("lab: up in %.1f s" % (time.time() - t))
        logdir = os.path.join(STATE, "run")
        for mode in modes:
            t = time.time()
            agent = Agent(a.sluiced, mode, logdir)
            print("lab: sluiced --mode %s ready in %.1f s" % (mode, time.time() - t))
            t = time.time()
            for sc in scenarios:
                r = run_scenario(agent, sc, logdir)
                rows.append(r)
                print("  %-28s %s %s" % (sc["name"], mode, "ok" if r["ok"] else
                                          "FAIL: " + "; ".join(r["problems"])), flush=True)
            print("lab: %s: %d scenarios in %.1f s" % (mode, len(scenarios), time.time() - t))
            st = sh([a.sluicectl, "--socket", os.path.join(STATE, "run", "api.sock"), "status"])
            with open(os.path.join(logdir, "status-%s.txt" % mode), "w") as f:
                f.write(st.stdout + st.stderr)
            code = agent.stop()
            agent = None
            if code != 0:
                print("lab: sluiced exited %s" % code)
        print()
        table(rows)
        rc = 0 if rows and all(r["ok"] for r in rows) else 1
        print("\nlab: %s" % ("PASS" if rc == 0 else "FAIL"))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rows, f, indent=1)
    except Interrupted as e:
        print("lab: interrupted (%s), tearing down" % e)
        rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if agent is not None:
            agent.stop()
        if a.keep_logs:
            os.makedirs(a.keep_logs, exist_ok=True)
            for f in glob.glob(os.path.join(STATE, "run", "*")) + \
                    glob.glob(os.path.join(STATE, "servers", "*")) + \
                    glob.glob(os.path.join(STATE, "logs", "*")):
                if os.path.isfile(f):
                    shutil.copy(f, a.keep_logs)
        sh([lab, "down"])
        if sluice_programs():
            print("lab: WARNING: sluice programs still attached after teardown")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
