#!/usr/bin/env python3
"""How long one user's big request stalls everyone else (issue 9, V5): another user's
`jobman list` latency while a 10,000-job `submit --from FILE --dry-run` with three mount
templates is served, against the same `list` with nothing else going on (the baseline, in
the same run). Prints figures only; never passes or fails on time.

  bench/batch_stall.py            (as root; podman; uses the build in $JOBMAN_BUILD_DIR or build/)

It starts a private jobmand on a temp socket and state dir (the end-to-end tests' fixture
code) with an image localhost/jobman-bench-stall:1.0 imported from busybox.
"""
import json
import os
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

JOBS = int(os.environ.get("BATCH_JOBS", "10000"))


def main():
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-stall-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-stall:1.0", {"name": "stall", "version": "1.0"})
    data = tmp / "data"
    for sub in ("datasets", "persistent"):
        (data / "root" / sub).mkdir(parents=True)
    config = {"mounts": [{"source": f"{data}/{{user}}/datasets"}, {"source": f"{data}/{{user}}/persistent", "read_only": False},
                         {"source": f"{data}/{{user}}/extra", "optional": True}],
              "limits": {"max_queued_per_user": 10000000}}
    daemon = conftest.Daemon(tmp, config).start()
    try:
        batch = tmp / "batch.json"
        batch.write_text(json.dumps([{"image": "stall", "args": ["true"]}] * JOBS))

        baseline = list_latencies(daemon, seconds=3)
        done = threading.Event()
        during = []
        poller = threading.Thread(target=lambda: during.extend(list_latencies(daemon, until=done)))
        poller.start()
        t = time.monotonic()
        result = daemon.cli("submit", "--from", str(batch), "--dry-run", timeout=1800)
        took = time.monotonic() - t
        done.set()
        poller.join()
        if result.returncode != 0:
            sys.exit(f"the batch failed: {result.stderr}")
        b_med, b_max = median_and_max_ms(baseline)
        d_med, d_max = median_and_max_ms(during)
        print(f"{JOBS}-job dry-run batch with 3 mount templates: {took:.2f} s")
        print(f"another client's `jobman list --limit 1` (whole CLI process), ms:")
        print(f"  alone:             median {b_med:.1f}, max {b_max:.1f} (n={len(baseline)})")
        print(f"  during the batch:  median {d_med:.1f}, max {d_max:.1f} (n={len(during)})")
        print(f"  ratio of maxima:   {d_max / b_max:.2f}")
    finally:
        daemon.stop()
        conftest.engine("rmi", "localhost/jobman-bench-stall:1.0", check=False)


if __name__ == "__main__":
    main()
