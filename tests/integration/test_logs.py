"""retention.max_log_bytes: a job that floods its output keeps the head and the tail of its
log, a line says how much was cut, and the disk never holds much more than the cap."""
import os
import re
import threading
import time

import pytest

from conftest import Daemon

CAP = 256 * 1024
MARKER = re.compile(r"^\[jobman: (\d+(?:\.\d)? (?:B|KiB|MiB|GiB)) truncated\]$", re.M)


@pytest.fixture
def capped(images, users, daemon_dir):
    d = Daemon(daemon_dir, extra_config={"retention": {"days": 30, "max_log_bytes": "256K"}}).start()
    yield d
    d.finish()


def allocated(path):
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def has_holes(path):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return size > 0 and os.lseek(f.fileno(), 0, os.SEEK_HOLE) < size


def test_a_flooding_job_keeps_head_and_tail_within_the_cap(capped):
    """1 GiB of output under a 256 KiB cap: sampled while the job runs, the log's blocks on
    disk stay far below what it wrote; after it ends the log is a plain file of head, marker
    line and tail, and `logs`, `logs --tail` and `details` agree."""
    written = 1 << 30
    job = capped.cli_json("submit", "-i", "jt", "--", f"echo START; yes jobman-flood | head -c {written}; echo; echo END")["job"]
    log = capped.state / "logs" / f"{job['id']}.log"
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], allocated(log))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        assert capped.cli("wait", "-j", str(job["id"]), timeout=300).returncode == 0
    finally:
        stop.set()
        sampler.join()
    print(f"peak blocks on disk while 1 GiB was written under a 256 KiB cap: {peak[0]} bytes")
    assert peak[0] < written // 2, f"the log reached {peak[0]} bytes on disk while the job ran"

    shown = capped.cli("logs", "-j", str(job["id"])).stdout
    assert not has_holes(log), "the ended job's log was rewritten as a plain file"
    assert log.read_text() == shown
    assert len(shown) <= CAP + 100
    assert shown.startswith("START\njobman-flood\n")
    assert shown.endswith("\njobman-flood\nEND\n")  # 2**30 % 13 == 12: the last line lacks its newline
    markers = MARKER.findall(shown)
    assert len(markers) == 1, shown[CAP // 2 - 200:CAP // 2 + 200]
    # What was cut plus what was kept is what the job wrote (to the marker's precision).
    value, unit = markers[0].split()
    cut = float(value) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
    total = len("START\n") + written + len("\nEND\n")
    kept = len(shown) - len(f"[jobman: {markers[0]} truncated]\n")
    assert abs(cut + kept - total) <= 0.05 * total
    assert capped.cli("logs", "-j", str(job["id"]), "--tail", "2").stdout == "jobman-flood\nEND\n"
    assert capped.cli_json("details", "-j", str(job["id"]))["log_bytes"] == len(shown.encode())


def test_a_running_jobs_cut_log_reads_with_its_marker(capped):
    """While the job still runs, the log has a hole: `logs` shows the marker in its place and
    `--tail` reaches across it; small logs are never touched."""
    small = capped.cli_json("submit", "-i", "jt", "--wait", "--", "seq 1 1000")["job"]
    assert capped.cli("logs", "-j", str(small["id"])).stdout == "".join(f"{i}\n" for i in range(1, 1001))

    job = capped.cli_json("submit", "-i", "jt", "--", "seq 1 200000; echo DONE; sleep 8")["job"]
    log = capped.state / "logs" / f"{job['id']}.log"
    def settled():
        """All output written and cut down to the cap (the check runs every 100 ms)."""
        details = capped.cli_json("details", "-j", str(job["id"]))
        return (log.exists() and has_holes(log) and capped.cli("logs", "-j", str(job["id"]), "--tail", "1").stdout == "DONE\n"
                and details["log_bytes"] <= CAP + 4096 and details["job"]["state"] != "STARTING")  # RUNNING a moment after it starts

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not settled():
        time.sleep(0.1)
    assert capped.cli_json("details", "-j", str(job["id"]))["job"]["state"] == "RUNNING", "read while the job still runs"
    shown = capped.cli("logs", "-j", str(job["id"])).stdout
    assert shown.startswith("1\n2\n3\n") and shown.endswith("199999\n200000\nDONE\n")
    assert len(MARKER.findall(shown)) == 1
    lines = shown.splitlines()
    assert capped.cli("logs", "-j", str(job["id"]), "--tail", "3").stdout == "199999\n200000\nDONE\n"
    assert capped.cli("wait", "-j", str(job["id"])).returncode == 0
    assert not has_holes(log)
    assert log.read_text().splitlines() == lines
