"""Faults outside any user's control (issue 9): the engine missing or hanging, the state
disk full, the database locked by another process. In each, jobs end with a clear reason,
clients get a clear error, the daemon keeps answering, and the database stays whole."""
import shutil
import sqlite3
import subprocess
import time

import pytest

from conftest import ENGINE_BINARY, TEST_ENGINE, Daemon

from test_hostile import assert_alive, jobs_in_db

FAST = {"max_running": 4, "kill_grace": "1s"}


def integrity(daemon):
    with daemon.db() as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


# --- the engine hangs ---------------------------------------------------------------------

@pytest.fixture
def hanging(images, users, daemon_dir):
    """A jobmand whose engine binary is a wrapper around the real one that sleeps for an
    hour, never answering, whenever one of its words names a file in `hang/` (`images`,
    `run`, `stop`): an engine whose daemon or storage lock is stuck."""
    hang = daemon_dir / "hang"
    hang.mkdir()
    real = shutil.which(ENGINE_BINARY)
    wrapper = daemon_dir / "engine-wrapper"
    wrapper.write_text(f"""#!/bin/sh
for word in "$@"; do
  [ -e "{hang}/$word" ] && exec sleep 3600
done
exec {real} "$@"
""")
    wrapper.chmod(0o755)
    engine = dict(TEST_ENGINE.config(), binary=str(wrapper), command_timeout="3s")
    d = Daemon(daemon_dir, {"engine": engine, "limits": FAST, "images": {"repositories": ["localhost/"], "refresh": "0s"}}).start()
    d.hang = lambda *words: [(hang / w).touch() for w in words]
    d.unhang = lambda: [p.unlink() for p in hang.iterdir()]
    yield d
    d.unhang()
    d.finish()


def test_a_hung_image_listing_gives_a_clear_error_and_blocks_no_one(hanging, users):
    hanging.hang("images")
    before = jobs_in_db(hanging)
    started = time.monotonic()
    result = hanging.cli("submit", "-i", "jt", "--", "true", user=users["jmtest1"])
    took = time.monotonic() - started
    assert result.returncode != 0 and "did not answer within 3s" in result.stderr, result.stderr
    assert took < 30, took
    assert jobs_in_db(hanging) == before
    # Meanwhile and after, other requests are answered.
    assert_alive(hanging, users)
    hanging.unhang()
    job = hanging.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=users["jmtest1"])["job"]
    assert job["state"] == "SUCCEEDED", job


def test_an_engine_that_never_starts_the_container_fails_the_job(hanging, users):
    hanging.hang("run", "stop")  # the run client hangs, and so does the stop jobmand then sends
    job = hanging.cli_json("submit", "-i", "jt", "--", "true", user=users["jmtest1"])["job"]
    assert hanging.wait_state(job["id"], {"FAILED", "SUCCEEDED", "CANCELLED", "TIMEOUT"}, timeout=60) == "FAILED"
    details = hanging.cli_json("details", "-j", str(job["id"]), user=users["jmtest1"])
    assert "did not start the container within 3s (engine.command_timeout)" in details["job"]["reason"], details["job"]["reason"]
    assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "FAILED"], details["events"]
    assert_alive(hanging, users)
    assert integrity(hanging) == "ok"


def test_a_hung_stop_still_ends_a_job_at_its_time_limit(hanging, users):
    job = hanging.cli_json("submit", "-i", "jt", "-t", "3s", "--", "sleep 60", user=users["jmtest1"])["job"]
    hanging.wait_state(job["id"], {"RUNNING"})
    hanging.hang("stop")
    state = hanging.wait_state(job["id"], {"FAILED", "SUCCEEDED", "CANCELLED", "TIMEOUT"}, timeout=40)
    details = hanging.cli_json("details", "-j", str(job["id"]), user=users["jmtest1"])["job"]
    assert state == "TIMEOUT" and "time limit of 3s" in details["reason"], details
    assert "ending its run client instead" in hanging.log.read_text()
    assert_alive(hanging, users)


# --- the engine is missing ----------------------------------------------------------------

def test_a_missing_engine_binary_is_a_clear_error_and_nothing_is_stored(images, users, daemon_dir):
    engine = dict(TEST_ENGINE.config(), binary="/nonexistent/jobman-test/engine")
    d = Daemon(daemon_dir, {"engine": engine, "limits": FAST}).start()  # it starts, and says what is wrong
    try:
        for args in (["images"], ["submit", "-i", "jt", "--", "true"]):
            result = d.cli(*args, user=users["jmtest1"])
            assert result.returncode != 0 and "/nonexistent/jobman-test/engine" in result.stderr, (args, result.stderr)
            assert "internal error" not in result.stderr
        assert jobs_in_db(d) == 0
        assert_alive(d, users)
        assert "/nonexistent/jobman-test/engine" in d.log.read_text()
        # Each failed exec is reaped (Boost left every one a zombie).
        children = subprocess.run(["ps", "--ppid", str(d.proc.pid), "-o", "stat="], capture_output=True, text=True).stdout.split()
        assert not [s for s in children if s.startswith("Z")], children
    finally:
        d.finish()


# --- the state disk is full ---------------------------------------------------------------

@pytest.fixture
def small_disk(images, users, daemon_dir):
    """A jobmand whose state_dir is a 16 MiB tmpfs, with no min_free_disk to stop it first."""
    state = daemon_dir / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(state)], check=True)
    d = Daemon(daemon_dir, {"limits": dict(FAST, min_free_disk=0)})
    try:
        yield d.start()
        d.finish()
    finally:
        d.stop()
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_full_state_disk_ends_jobs_clearly_and_corrupts_nothing(small_disk, users):
    alice = users["jmtest1"]
    # The job's log fills the state disk (16 MiB) before the job ends.
    job = small_disk.cli_json("submit", "-i", "jt", "--", "yes 0123456789abcdef | head -c 40000000; echo done", user=alice)["job"]
    deadline = time.monotonic() + 90
    while "cannot record its end" not in small_disk.log.read_text():
        assert time.monotonic() < deadline, small_disk.log.read_text()
        time.sleep(0.2)
    df = subprocess.run(["df", "--output=avail", "-B1", str(small_disk.state)], capture_output=True, text=True).stdout.split()[-1]
    assert int(df) < 1 << 20, f"the disk was not filled ({df} bytes free)"
    # While it is full: clear errors, never an internal error or a dead daemon.
    before = jobs_in_db(small_disk)
    result = small_disk.cli("submit", "-i", "jt", "--", "true", user=alice)
    assert result.returncode != 0 and "state disk is full" in result.stderr, result.stderr
    assert jobs_in_db(small_disk) == before
    assert_alive(small_disk, users)
    assert integrity(small_disk) == "ok"
    # The admin frees space (the log): the end jobmand kept trying to record is recorded,
    # and everything works again.
    (small_disk.state / "logs" / f"{job['id']}.log").unlink()
    assert small_disk.wait_state(job["id"], {"FAILED", "SUCCEEDED", "CANCELLED", "TIMEOUT"}, timeout=30) in {"SUCCEEDED", "FAILED"}
    assert "its end recorded at attempt" in small_disk.log.read_text()
    after = small_disk.cli_json("submit", "--wait", "-i", "jt", "--", "echo back", user=alice)["job"]
    assert after["state"] == "SUCCEEDED", after
    assert integrity(small_disk) == "ok"
    assert "internal error" not in small_disk.log.read_text().lower()


# --- the database is locked by another process --------------------------------------------

def test_a_locked_database_gives_clear_errors_and_loses_no_end(images, users, daemon_dir):
    d = Daemon(daemon_dir, {"limits": FAST}).start()
    alice = users["jmtest1"]
    try:
        job = d.cli_json("submit", "-i", "jt", "--", "sleep 3", user=alice)["job"]
        d.wait_state(job["id"], {"RUNNING"})
        before = jobs_in_db(d)
        lock = sqlite3.connect(d.state / "jobman.db", timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # an admin's sqlite3 shell, a backup tool
        try:
            result = d.cli("submit", "-i", "jt", "--", "true", user=alice, timeout=60)
            assert result.returncode != 0 and "locked by another process" in result.stderr, result.stderr
            started = time.monotonic()
            assert_alive(d, users)  # reads go on (WAL)
            list_seconds = time.monotonic() - started
            time.sleep(4)  # the job ends meanwhile: its end cannot be written yet
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert d.wait_state(job["id"], {"SUCCEEDED", "FAILED"}, timeout=30) == "SUCCEEDED"
        assert jobs_in_db(d) == before
        assert integrity(d) == "ok"
        after = d.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=alice)["job"]
        assert after["state"] == "SUCCEEDED", after
        log = d.log.read_text()
        assert "cannot record its end" in log and "its end recorded at attempt" in log, log
        assert "internal error" not in log.lower(), log
        print(f"another user's list while the database was locked: {list_seconds:.2f} s")
    finally:
        d.finish()


def test_a_job_that_ends_while_starting_under_a_lock_is_recorded_once(images, users, daemon_dir):
    """The container runs and ends before jobmand has marked it RUNNING, and the database is
    locked meanwhile: its end must still go through RUNNING (STARTING -> SUCCEEDED is
    refused), or the job stays STARTING and the next daemon would start it again."""
    d = Daemon(daemon_dir, {"limits": FAST}).start()
    alice = users["jmtest1"]
    try:
        job = d.cli_json("submit", "-i", "jt", "--", "true", user=alice)["job"]
        lock = sqlite3.connect(d.state / "jobman.db", timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        time.sleep(3)  # the job has ended; its RUNNING mark and its end wait for the lock
        lock.execute("ROLLBACK")
        lock.close()
        assert d.wait_state(job["id"], {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout=30) == "SUCCEEDED"
        events = [e["to"] for e in d.cli_json("details", "-j", str(job["id"]), user=alice)["events"]]
        assert events == ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"], events
        # A restart finds nothing to start again.
        d.stop()
        d.start()
        time.sleep(1)
        events = [e["to"] for e in d.cli_json("details", "-j", str(job["id"]), user=alice)["events"]]
        assert events == ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"], events
    finally:
        d.finish()
