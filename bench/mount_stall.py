#!/usr/bin/env python3
"""How long a mount source that never answers (a hung NFS server, a user's own FUSE server)
stalls everyone else (issue 9: no blocking work on the daemon's thread): another client's
`jobman list --limit 1` latency while 8 clients keep submitting jobs whose mount source
hangs (each submit's check runs in a child of its own and times out after 5 s), against the
same `list` with nothing else going on (the baseline, in the same run). Prints figures only;
never passes or fails on time.

  bench/mount_stall.py            (as root; podman; uses the build in $JOBMAN_BUILD_DIR or build/)

It starts a private jobmand on a temp socket and state dir (the end-to-end tests' fixture
code) with an image localhost/jobman-bench-mount:1.0 imported from busybox, and mounts
tests/integration/hanging_fuse.py on root's datasets.
"""
import os
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
from latency import list_latencies, median_and_max_ms  # noqa: E402

CLIENTS = int(os.environ.get("MOUNT_STALL_CLIENTS", "8"))
SECONDS = float(os.environ.get("MOUNT_STALL_SECONDS", "12"))


def main():
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-mount-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-mount:1.0", {"name": "mountstall", "version": "1.0"})
    datasets = tmp / "data" / "root" / "datasets"
    datasets.mkdir(parents=True)
    config = {"mounts": [{"source": f"{tmp}/data/{{user}}/datasets", "target": "/data"}]}
    daemon = conftest.Daemon(tmp, config).start()
    server = None
    try:
        baseline = list_latencies(daemon, seconds=3)
        server = subprocess.Popen([sys.executable, str(REPO / "tests/integration/hanging_fuse.py"), str(datasets)],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        stop, submits, lock = threading.Event(), [], threading.Lock()

        def submitter():
            while not stop.is_set():
                t = time.monotonic()
                result = daemon.cli("submit", "-i", "mountstall", "--", "true")
                with lock:
                    submits.append((time.monotonic() - t, result.returncode != 0 and "did not answer within" in result.stderr))

        threads = [threading.Thread(target=submitter) for _ in range(CLIENTS)]
        done = threading.Event()
        during = []
        poller = threading.Thread(target=lambda: during.extend(list_latencies(daemon, until=done)))
        poller.start()
        for th in threads:
            th.start()
        time.sleep(SECONDS)
        stop.set()
        for th in threads:
            th.join()
        done.set()
        poller.join()
        b_med, b_max = median_and_max_ms(baseline)
        d_med, d_max = median_and_max_ms(during)
        timed_out = sum(1 for _, ok in submits if ok)
        print(f"{CLIENTS} clients submitting for {SECONDS:.0f} s into a mount source that never answers: "
              f"{len(submits)} submits, {timed_out} refused with 'did not answer within 5s', "
              f"each took median {statistics.median(s for s, _ in submits):.2f} s")
        print("another client's `jobman list --limit 1` (whole CLI process), ms:")
        print(f"  alone:                 median {b_med:.1f}, max {b_max:.1f} (n={len(baseline)})")
        print(f"  during the hung checks: median {d_med:.1f}, max {d_max:.1f} (n={len(during)})")
        print(f"  ratio of maxima:       {d_max / b_max:.2f}")
    finally:
        if server:
            server.terminate()
            server.wait()
            subprocess.run(["umount", "-l", str(datasets)], check=False)
        daemon.stop()
        conftest.engine("rmi", "localhost/jobman-bench-mount:1.0", check=False)


if __name__ == "__main__":
    main()
