#!/usr/bin/env python3
"""How soon a new line reaches `jobman logs -f` (issue 12, item 8), against `tail -F` on the
same file (coreutils tail: inotify) in the same run, and jobmand's CPU while followers sit
idle. Prints figures only; never passes or fails on time.

  bench/logs_follow.py            (as root; podman; uses the build in $JOBMAN_BUILD_DIR or build/)

It starts a private jobmand on a temp socket and state dir (the end-to-end tests' fixture
code) with an image localhost/jobman-bench-logs:1.0 imported from busybox, runs one job
that only sleeps, follows its log with `jobman logs -f` and with `tail -n0 -F`, and appends
LOGS_FOLLOW_LINES lines (default 200) to the log file itself, one every 10-30 ms, each
stamped with the time it was written; a reader thread per follower stamps each line as it
arrives. Then LOGS_FOLLOW_IDLE_FOLLOWERS (10) `jobman logs -f` sit on a silent job for
LOGS_FOLLOW_IDLE_SECONDS (10) while jobmand's CPU time is read from /proc.
"""
import os
import random
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

LINES = int(os.environ.get("LOGS_FOLLOW_LINES", "200"))
IDLE_FOLLOWERS = int(os.environ.get("LOGS_FOLLOW_IDLE_FOLLOWERS", "10"))
IDLE_SECONDS = float(os.environ.get("LOGS_FOLLOW_IDLE_SECONDS", "10"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def follow(cmd, arrivals, ready):
    """Runs `cmd`, stamping each "seq N" line it prints into `arrivals[N]`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def reader():
        buffer = b""
        while True:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return
            now = time.monotonic_ns()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"seq "):
                    arrivals[int(line.split()[1])] = now
                elif line == b"ready":
                    ready.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return proc, thread


def stats_ms(delays):
    if not delays:
        return "no lines arrived"
    xs = sorted(delays)
    pick = lambda p: xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]
    return f"median {statistics.median(xs):.1f} ms, p90 {pick(0.9):.1f} ms, max {xs[-1]:.1f} ms over {len(xs)} lines"


def main():
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-logs-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-logs:1.0", {"name": "logsbench", "version": "1.0"})
    daemon = conftest.Daemon(tmp, {"images": {"repositories": ["localhost/jobman-bench-logs"], "required_labels": ["name", "version"]}}).start()
    procs = []
    try:
        job = daemon.cli_json("submit", "-i", "logsbench", "--", "sleep 600")["job"]
        daemon.wait_state(job["id"], {"RUNNING"})
        log = daemon.state / "logs" / f"{job['id']}.log"
        with open(log, "ab") as f:
            f.write(b"ready\n")
        got = {"jobman logs -f": {}, "tail -n0 -F (baseline)": {}}
        readies = {name: threading.Event() for name in got}
        jm, jm_thread = follow([str(conftest.JOBMAN), "--socket", str(daemon.socket), "logs", "-f", "-j", str(job["id"])],
                               got["jobman logs -f"], readies["jobman logs -f"])
        tl, tl_thread = follow(["tail", "-n0", "-F", str(log)], got["tail -n0 -F (baseline)"], readies["tail -n0 -F (baseline)"])
        procs += [jm, tl]
        readies["jobman logs -f"].wait(10)
        time.sleep(1)  # tail -n0 starts at the end: give it time to open the file
        written = {}
        rng = random.Random(12)
        with open(log, "ab", buffering=0) as f:
            for i in range(LINES):
                time.sleep(rng.uniform(0.010, 0.030))
                written[i] = time.monotonic_ns()
                f.write(f"seq {i}\n".encode())
        time.sleep(1)
        print(f"jobman logs -f latency — {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, nproc {os.cpu_count()}, "
              f"load {open('/proc/loadavg').read().split()[0]}; {LINES} lines appended to the job's log, one every 10-30 ms:")
        medians = {}
        for name, arrivals in got.items():
            delays = [(arrivals[i] - written[i]) / 1e6 for i in written if i in arrivals]
            medians[name] = statistics.median(delays) if delays else float("nan")
            print(f"  {name:26} {stats_ms(delays)}")
        base = medians["tail -n0 -F (baseline)"]
        print(f"  jobman - tail: {medians['jobman logs -f'] - base:+.1f} ms at the median")
        for p in procs:
            p.terminate()
        procs.clear()

        # Idle followers: what they cost jobmand while nothing is written.
        quiet = daemon.cli_json("submit", "-i", "logsbench", "--", "sleep 600")["job"]
        daemon.wait_state(quiet["id"], {"RUNNING"})
        for _ in range(IDLE_FOLLOWERS):
            procs.append(subprocess.Popen([str(conftest.JOBMAN), "--socket", str(daemon.socket), "logs", "-f", "-j", str(quiet["id"])],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(2)
        before = cpu_seconds(daemon.proc.pid)
        time.sleep(IDLE_SECONDS)
        used = cpu_seconds(daemon.proc.pid) - before
        print(f"  jobmand CPU with {IDLE_FOLLOWERS} idle followers: {used:.2f} s over {IDLE_SECONDS:.0f} s "
              f"(utime+stime, resolution 0.01 s)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        # Its jobs ended (their staging unmounted) before jobmand stops.
        daemon.cli("delete", "--all")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and daemon.cli_json("queue")["running"] > 0:
            time.sleep(0.2)
        daemon.finish()
        conftest.engine("rmi", "-f", "localhost/jobman-bench-logs:1.0", check=False)
        conftest.unmount_under(tmp)
        subprocess.run(["rm", "-rf", str(tmp)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
