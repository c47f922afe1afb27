#!/usr/bin/python3
"""Submit throughput (issue 12, item 10): CLIENTS clients x SUBMITS submits at once over the
socket, each on a connection of its own as the CLI makes, into a queue that only grows (one
slot, held by a blocker job); then the same count of enqueues as whole processes, side by
side: `jobman submit`, `tsp -n true` and, when a Slurm cluster answers, `sbatch --hold`;
then a kill -9 of jobmand while clients submit, and a restart, to show that every
acknowledged submit is in the database. Prints figures only; never passes or fails on
time.

  bench/submit_rate.py      (as root; podman; the build in $JOBMAN_BUILD_DIR or build/)
  SUBMIT_CLIENTS=20 SUBMIT_PER_CLIENT=500 SUBMIT_PROCESSES=400 bench/submit_rate.py

Knobs: SUBMIT_CLIENTS (20), SUBMIT_PER_CLIENT (500), SUBMIT_PROCESSES (whole-process
enqueues per baseline, 400, by CLIENTS workers at once), SUBMIT_KILL_AFTER (seconds of
submits before the kill -9, 1.5). Users jmload1 and jmload2 submit (created if missing).
"""
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("JOBMAN_BUILD_DIR", str(REPO / "build"))
import conftest  # noqa: E402

CLIENTS = int(os.environ.get("SUBMIT_CLIENTS", "20"))
SUBMITS = int(os.environ.get("SUBMIT_PER_CLIENT", "500"))
PROCESSES = int(os.environ.get("SUBMIT_PROCESSES", "400"))
KILL_AFTER = float(os.environ.get("SUBMIT_KILL_AFTER", "1.5"))
SUBMITTERS = ("jmload1", "jmload2")

# One client: n submits, each on a connection of its own, timed from connect to reply; a
# JSON line per acknowledged submit as it comes ({"id", "name", "ms"}) and a last line of
# counts, so that a client cut off by a kill -9 still tells what it was told.
CLIENT = r"""
import json, socket, sys, time
path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hello = b'{"id":1,"op":"hello","args":{"version":1}}\n'
counts = {"ok": 0, "refused": 0, "silent": 0}
for i in range(n):
    name = f"{tag}-{i}"
    frame = json.dumps({"id": 2, "op": "submit", "args": {"image": "load", "name": name, "args": ["true"]}}).encode() + b"\n"
    t0 = time.perf_counter()
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
    ms = (time.perf_counter() - t0) * 1000
    last = replies[-1] if replies else None
    if last is None or "ok" not in last:
        counts["silent"] += 1
    elif last["ok"]:
        counts["ok"] += 1
        print(json.dumps({"id": last["result"]["job"]["id"], "name": name, "ms": ms}), flush=True)
    else:
        counts["refused"] += 1
        print(json.dumps({"refused": last["error"]["code"], "message": last["error"]["message"][:200]}), flush=True)
print(json.dumps({"counts": counts}), flush=True)
"""


def ensure_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


def as_user(user, *argv):
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def figures(label, latencies_ms, took_s, n):
    print(f"  {label:<38} {n:>6} in {took_s:6.2f} s = {n / took_s:7.0f}/s; per submit median {statistics.median(latencies_ms):6.1f} ms, "
          f"p90 {pct(latencies_ms, 90):6.1f}, p99 {pct(latencies_ms, 99):6.1f}, max {max(latencies_ms):6.1f}")
    return n / took_s


def run_clients(daemon, users, n_clients, n_each, tag):
    """Starts the clients; returns their Popen objects."""
    return [subprocess.Popen(as_user(users[SUBMITTERS[i % len(SUBMITTERS)]], "/usr/bin/python3", "-c", CLIENT, str(daemon.socket),
                                     str(n_each), f"{tag}{i}"),
                             stdout=subprocess.PIPE, text=True) for i in range(n_clients)]


def read_clients(clients):
    acked, refused, silent = [], [], 0
    for c in clients:
        out, _ = c.communicate()
        for line in out.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill
            if "id" in item:
                acked.append(item)
            elif "refused" in item:
                refused.append(item)
            elif "counts" in item:
                silent += item["counts"]["silent"]
    return acked, refused, silent


def timed_processes(argv_for, n, workers):
    """n whole processes, `workers` at a time: (seconds, latencies in ms, failures)."""
    def one(i):
        t0 = time.perf_counter()
        r = subprocess.run(argv_for(i), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return (time.perf_counter() - t0) * 1000, r.returncode, r.stderr[:200]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(n)))
    took = time.perf_counter() - started
    failures = [(rc, err) for _, rc, err in results if rc != 0]
    return took, [ms for ms, _, _ in results], failures


def main():
    users = {name: ensure_user(name) for name in SUBMITTERS}
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-submit-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-load:1.0", {"name": "load", "version": "1.0"})
    config = {"limits": {"max_running": 1, "kill_grace": "1s", "max_queued_per_user": 100000}}
    daemon = conftest.Daemon(tmp, config).start()
    print(f"jobman submit throughput — {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, nproc {os.cpu_count()}, "
          f"load {open('/proc/loadavg').read().split()[0]}; build {os.environ['JOBMAN_BUILD_DIR']}")
    try:
        blocker = daemon.cli_json("submit", "-i", "load", "--", "sleep 3600")["job"]["id"]
        daemon.wait_state(blocker, {"RUNNING"}, timeout=60)

        # ------------------------------------------------ over the socket, all at once
        started = time.perf_counter()
        acked, refused, silent = read_clients(run_clients(daemon, users, CLIENTS, SUBMITS, "c"))
        took = time.perf_counter() - started
        with daemon.db() as db:
            stored = {row[0]: row[1] for row in db.execute("SELECT id, name FROM jobs WHERE id != ?", (blocker,))}
        print(f"\n{CLIENTS} clients x {SUBMITS} submits over the socket, each on its own connection (as the CLI), into a growing queue:")
        rate = figures("jobman (socket)", [a["ms"] for a in acked], took, len(acked)) if acked else 0
        print(f"  acknowledged {len(acked)}, refused {len(refused)}, no answer {silent}; in SQLite {len(stored)}, "
              f"every acknowledged id there with its name: {all(stored.get(a['id']) == a['name'] for a in acked)}")
        for r in refused[:3]:
            print(f"  refused: {r}")

        # ------------------------------------------------ whole processes, side by side
        print(f"\n{PROCESSES} enqueues as whole processes, {CLIENTS} at a time (fork + exec + connect + reply + exit):")
        jobman = [str(conftest.JOBMAN), "--socket", str(daemon.socket), "submit", "-i", "load"]
        took, lat, failed = timed_processes(lambda i: as_user(users[SUBMITTERS[i % 2]], *jobman, "-j", f"p{i}", "--", "true"), PROCESSES, CLIENTS)
        jobman_proc = figures("jobman submit (CLI, as the user)", lat, took, PROCESSES - len(failed))
        if failed:
            print(f"    failed: {len(failed)}, e.g. {failed[0]}")
        rates = {"jobman (socket)": rate, "jobman submit": jobman_proc}
        if shutil.which("tsp"):
            env = dict(os.environ, TS_SOCKET=str(tmp / "tsp.sock"), TMPDIR=str(tmp), TS_SLOTS="1", TS_MAXFINISHED="100000")
            subprocess.run(["tsp", "sleep", "3600"], env=env, stdout=subprocess.DEVNULL, check=True)
            took, lat, failed = timed_processes(lambda i: ["env", f"TS_SOCKET={env['TS_SOCKET']}", f"TMPDIR={tmp}", "tsp", "-n", "true"],
                                                PROCESSES, CLIENTS)
            rates["tsp"] = figures("tsp -n true (baseline)", lat, took, PROCESSES - len(failed))
            if failed:
                print(f"    failed: {len(failed)}, e.g. {failed[0]}")
            subprocess.run(["tsp", "-K"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            print("  tsp: not installed (apt-get install task-spooler): no baseline")
        if shutil.which("sbatch") and subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout.count("UP"):
            took, lat, failed = timed_processes(lambda i: ["sbatch", "--hold", "--quiet", "-J", f"jmbench-{i}", "-o", "/dev/null", "--wrap", "true"],
                                                PROCESSES, CLIENTS)
            rates["sbatch"] = figures("sbatch --hold --wrap true (baseline)", lat, took, PROCESSES - len(failed))
            if failed:
                print(f"    failed: {len(failed)}, e.g. {failed[0]}")
            subprocess.run(["scancel", "--name", ",".join(f"jmbench-{i}" for i in range(PROCESSES))], capture_output=True)
        else:
            print("  sbatch: no Slurm cluster answers here (tests/slurm/cluster.sh start, then SLURM_CONF): no baseline")
        if "tsp" in rates and rates["tsp"]:
            print(f"  ratio jobman submit / tsp (enqueues per second): {rates['jobman submit'] / rates['tsp']:.2f}")
        if "sbatch" in rates and rates["sbatch"]:
            print(f"  ratio jobman submit / sbatch: {rates['jobman submit'] / rates['sbatch']:.2f}")

        # ------------------------------------------------ kill -9 in the middle
        clients = run_clients(daemon, users, CLIENTS, SUBMITS, "k")
        time.sleep(KILL_AFTER)
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        acked, _, silent = read_clients(clients)
        daemon.start()
        with daemon.db() as db:
            stored = {row[0]: row[1] for row in db.execute("SELECT id, name FROM jobs")}
        lost = [a for a in acked if stored.get(a["id"]) != a["name"]]
        print(f"\nkill -9 of jobmand {KILL_AFTER} s into {CLIENTS} x {SUBMITS} submits, then a restart: {len(acked)} were acknowledged, "
              f"{silent} got no answer (cut by the kill); acknowledged but missing from the database after the restart: {len(lost)}")
    finally:
        daemon.stop()
        daemon.remove_containers()
        conftest.engine("rmi", "-f", "localhost/jobman-bench-load:1.0", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
