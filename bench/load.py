#!/usr/bin/python3
"""Load test (issue 9): 20 clients x 500 submits at once, while one more user keeps slow-loris
connections (frames trickled a byte a second) and closed-peer streams (`wait`, then hang up)
open. Prints figures only; never passes or fails on time. It reports:

- every request's outcome: answered, refused with a clear error (by code), or no answer
  (the figure that must be 0);
- whether SQLite holds exactly the jobs the clients were told were accepted;
- jobmand's RSS before, at its peak, and after;
- another user's `jobman list --limit 1` latency (whole CLI process): alone first (the
  baseline, in the same run), then under the load, and the ratio.

  bench/load.py      (as root; podman; the build in $JOBMAN_BUILD_DIR or build/; ~1-3 min)
  LOAD_CLIENTS=20 LOAD_SUBMITS=500 LOAD_LORIS=40 bench/load.py

It starts a private jobmand on a temp socket and state dir (the end-to-end tests' fixture
code) with max_running 1 and one blocker job, so every submit only queues, and an image
localhost/jobman-bench-load:1.0 imported from busybox. Users jmload1, jmload2 (10 clients
each), jmloris (the slow-loris and closed-peer connections) and jmtest2 (the one who
lists) are created if missing.
"""
import collections
import json
import os
import pwd
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("JOBMAN_BUILD_DIR", str(REPO / "build"))
import conftest  # noqa: E402

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "20"))
SUBMITS = int(os.environ.get("LOAD_SUBMITS", "500"))
LORIS = int(os.environ.get("LOAD_LORIS", "40"))
SUBMITTERS = ("jmload1", "jmload2")
ATTACKER = "jmloris"
LISTER = "jmtest2"

# One client: SUBMITS submits, each on a connection of its own (as the CLI does), and a
# JSON line of outcomes: {"ok": n, "refused": {code: n}, "silent": n, "ids": [...]}.
CLIENT = r"""
import json, socket, sys
path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {"ok": 0, "refused": {}, "silent": 0, "ids": []}
hello = b'{"id":1,"op":"hello","args":{"version":1}}\n'
for i in range(n):
    frame = json.dumps({"id": 2, "op": "submit", "args": {"image": "load", "name": f"{tag}-{i}", "args": ["true"]}}).encode() + b"\n"
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(120)
    try:
        s.connect(path)
        s.sendall(hello + frame)
        f = s.makefile("rb")
        replies = [json.loads(f.readline()) for _ in range(2)]
    except (OSError, ValueError):
        replies = []
    finally:
        s.close()
    last = replies[-1] if replies else None
    if last is None or ("ok" not in last):
        out["silent"] += 1
    elif last["ok"]:
        out["ok"] += 1
        out["ids"].append(last["result"]["job"]["id"])
    else:
        code = last["error"]["code"]
        if not last["error"].get("message"):
            out["silent"] += 1
        out["refused"][code] = out["refused"].get(code, 0) + 1
print(json.dumps(out))
"""

# Slow-loris: LORIS connections that trickle a frame a byte a second, reopened when cut.
# Closed peer: `wait` on the blocker, then hang up at once, again and again. Until stdin
# closes; then prints what the daemon did to them.
ATTACK = r"""
import json, socket, sys, threading, time
path, n, blocker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stats = {"loris_opened": 0, "loris_cut_at_frame_timeout": 0, "loris_refused_with_reason": 0, "loris_reset": 0, "closed_peer": 0}
stop = threading.Event()
def loris():
    frame = b'{"id":1,"op":"hello","args":{"version":1}}\n'
    while not stop.is_set():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            stats["loris_opened"] += 1
            s.settimeout(1)
            for b in frame[:-1]:
                if stop.is_set():
                    break
                s.sendall(bytes([b]))
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                if b"frame_timeout" in data:
                    stats["loris_cut_at_frame_timeout"] += 1
                elif data:
                    stats["loris_refused_with_reason"] += 1  # e.g. this user's connection cap
                else:
                    stats["loris_reset"] += 1
                break
        except OSError:
            stats["loris_reset"] += 1  # refused, and closed before the reason was read
        finally:
            s.close()
def closed_peer():
    hello = b'{"id":1,"op":"hello","args":{"version":1}}\n'
    wait = json.dumps({"id": 2, "op": "wait", "args": {"job": blocker}}).encode() + b"\n"
    while not stop.is_set():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            s.sendall(hello + wait)
            stats["closed_peer"] += 1
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.01)
threads = [threading.Thread(target=loris) for _ in range(n)] + [threading.Thread(target=closed_peer)]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join()
print(json.dumps(stats))
"""


def ensure_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


def as_user(user, *argv):
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    users = {name: ensure_user(name) for name in (*SUBMITTERS, ATTACKER, LISTER)}
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-load-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-load:1.0", {"name": "load", "version": "1.0"})
    daemon = conftest.Daemon(tmp, {"limits": {"max_running": 1, "kill_grace": "1s"}}).start()
    try:
        pid = daemon.proc.pid
        blocker = daemon.cli_json("submit", "-i", "load", "--", "sleep 3600", user=users[LISTER])["job"]["id"]
        daemon.wait_state(blocker, {"RUNNING"}, timeout=60)

        def list_latencies(seconds=None, until=None):
            out = []
            deadline = time.monotonic() + (seconds or 0)
            while (until is None and time.monotonic() < deadline) or (until is not None and not until.is_set()):
                t = time.monotonic()
                r = daemon.cli("list", "--limit", "1", user=users[LISTER])
                out.append((time.monotonic() - t, r.returncode))
                time.sleep(0.05)
            return out

        rss_before = rss_kib(pid)
        baseline = list_latencies(seconds=5)

        attack = subprocess.Popen(as_user(users[ATTACKER], "/usr/bin/python3", "-c", ATTACK, str(daemon.socket), str(LORIS), str(blocker)),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert attack.stdout.readline().strip() == "started"
        time.sleep(2)  # the slow-loris connections are open

        done = threading.Event()
        during, rss_peak = [], [rss_before]
        lister = threading.Thread(target=lambda: during.extend(list_latencies(until=done)))
        def sample():
            while not done.is_set():
                rss_peak.append(rss_kib(pid))
                time.sleep(0.1)
        sampler = threading.Thread(target=sample)
        lister.start()
        sampler.start()
        started = time.monotonic()
        clients = [subprocess.Popen(as_user(users[SUBMITTERS[i % len(SUBMITTERS)]], "/usr/bin/python3", "-c", CLIENT,
                                            str(daemon.socket), str(SUBMITS), f"c{i}"),
                                    stdout=subprocess.PIPE, text=True) for i in range(CLIENTS)]
        results = [json.loads(c.communicate()[0]) for c in clients]
        took = time.monotonic() - started
        done.set()
        lister.join()
        sampler.join()
        attack.stdin.close()
        attack_stats = json.loads(attack.stdout.read().strip().splitlines()[-1])
        attack.wait()
        time.sleep(1)
        rss_after = rss_kib(pid)

        ok = sum(r["ok"] for r in results)
        silent = sum(r["silent"] for r in results)
        refused = collections.Counter()
        for r in results:
            refused.update(r["refused"])
        ids = sorted(i for r in results for i in r["ids"])
        with daemon.db() as db:
            stored = db.execute("SELECT count(*) FROM jobs WHERE uid IN (?, ?)",
                                tuple(users[u].pw_uid for u in SUBMITTERS)).fetchone()[0]
            stored_ids = [row[0] for row in db.execute("SELECT id FROM jobs WHERE uid IN (?, ?) ORDER BY id",
                                                       tuple(users[u].pw_uid for u in SUBMITTERS))]
        ms = lambda xs: (statistics.median(xs) * 1000, sorted(xs)[int(len(xs) * 0.99) - 1] * 1000 if len(xs) >= 100 else max(xs) * 1000, max(xs) * 1000)
        b = ms([t for t, _ in baseline])
        d = ms([t for t, _ in during])
        failed_lists = sum(1 for _, rc in during if rc != 0)
        print(f"{CLIENTS} clients x {SUBMITS} submits ({CLIENTS * SUBMITS}), each on its own connection, in {took:.1f} s "
              f"({CLIENTS * SUBMITS / took:.0f} submits/s); meanwhile {LORIS} slow-loris threads and a closed-peer loop as {ATTACKER}")
        print(f"  answered ok: {ok}; refused with a clear error: {dict(refused) or 0}; no answer: {silent}")
        print(f"  jobs in SQLite: {stored} (told accepted: {ok}; same ids: {stored_ids == ids})")
        print(f"  attacker: {attack_stats}")
        print(f"  jobmand RSS: before {rss_before / 1024:.1f} MiB, peak {max(rss_peak) / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB")
        print(f"  {LISTER}'s `jobman list --limit 1` (whole CLI process), ms:")
        print(f"    alone:      median {b[0]:.1f}, p99 {b[1]:.1f}, max {b[2]:.1f} (n={len(baseline)})")
        print(f"    under load: median {d[0]:.1f}, p99 {d[1]:.1f}, max {d[2]:.1f} (n={len(during)}, failed {failed_lists})")
        print(f"    ratio of medians: {d[0] / b[0]:.2f}; of maxima: {d[2] / b[2]:.2f}")
    finally:
        daemon.stop()
        daemon.remove_containers()
        conftest.engine("rmi", "-f", "localhost/jobman-bench-load:1.0", check=False)


if __name__ == "__main__":
    main()
