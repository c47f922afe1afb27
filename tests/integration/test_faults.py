"""Faults outside any user's control (issue 9): the engine missing or hanging, the state
disk full, the database locked by another process, a mount source that never answers. In each, jobs end with a clear reason,
clients get a clear error, the daemon keeps answering, and the database stays whole."""
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BACKEND, ENGINE_BINARY, JOBMAN, TEST_ENGINE, Daemon, engine

from test_hostile import assert_alive, jobs_in_db

FAST = {"max_running": 4, "kill_grace": "1s"}
# engine.command_timeout of the hanging engine: short, for quick tests, but long enough for
# the engine's own answers on a machine busy compiling (3 s was not, in CI and here).
ENGINE_TIMEOUT_S = 6


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
    engine = dict(TEST_ENGINE.config(), binary=str(wrapper), command_timeout=f"{ENGINE_TIMEOUT_S}s")
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
    assert result.returncode != 0 and f"did not answer within {ENGINE_TIMEOUT_S}s" in result.stderr, result.stderr
    assert took < 30, took
    assert jobs_in_db(hanging) == before
    # Meanwhile and after, other requests are answered.
    assert_alive(hanging, users)
    hanging.unhang()
    job = hanging.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=users["jmtest1"])["job"]
    assert job["state"] == "SUCCEEDED", job


@pytest.mark.only_backend("local")  # the local start timeout; a Slurm job may wait in Slurm for hours
def test_an_engine_that_never_starts_the_container_fails_the_job(hanging, users):
    hanging.hang("run", "stop")  # the run client hangs, and so does the stop jobmand then sends
    job = hanging.cli_json("submit", "-i", "jt", "--", "true", user=users["jmtest1"])["job"]
    assert hanging.wait_state(job["id"], {"FAILED", "SUCCEEDED", "CANCELLED", "TIMEOUT"}, timeout=60) == "FAILED"
    details = hanging.cli_json("details", "-j", str(job["id"]), user=users["jmtest1"])
    assert f"did not start the container within {ENGINE_TIMEOUT_S}s (engine.command_timeout)" in details["job"]["reason"], details["job"]["reason"]
    assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "FAILED"], details["events"]
    assert_alive(hanging, users)
    assert integrity(hanging) == "ok"


@pytest.mark.only_backend("local")  # the local run client; on Slurm scancel and the batch script's timer stop it
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


def test_an_engine_binary_gone_before_a_queued_job_starts_fails_that_job(images, users, daemon_dir):
    """The engine binary goes while a job waits: the job ends FAILED saying why, and the
    daemon lives (this path freed the reason twice, a GCC 12 coroutine bug, until Outcome
    stopped being an aggregate)."""
    wrapper = daemon_dir / "engine"
    wrapper.write_text(f"#!/bin/sh\nexec {shutil.which(ENGINE_BINARY)} \"$@\"\n")
    wrapper.chmod(0o755)
    engine = dict(TEST_ENGINE.config(), binary=str(wrapper))
    d = Daemon(daemon_dir, {"engine": engine, "limits": dict(FAST, max_running=1)}).start()
    alice = users["jmtest1"]
    try:
        first = d.cli_json("submit", "-i", "jt", "--", "sleep 2", user=alice)["job"]
        waiting = d.cli_json("submit", "-i", "jt", "--", "true", user=alice)["job"]
        d.wait_state(first["id"], {"RUNNING"}, user=alice)
        wrapper.unlink()
        assert d.wait_state(waiting["id"], {"FAILED", "SUCCEEDED", "CANCELLED"}, user=alice) == "FAILED"
        reason = d.cli_json("details", "-j", str(waiting["id"]), user=alice)["job"]["reason"]
        assert str(wrapper) in reason, reason
        assert_alive(d, users)
        assert integrity(d) == "ok"
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
        instance = d.instance()
        lock = sqlite3.connect(d.state / "jobman.db", timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # an admin's sqlite3 shell, a backup tool
        try:
            result = d.cli("submit", "-i", "jt", "--", "true", user=alice, timeout=60)
            assert result.returncode != 0 and "locked by another process" in result.stderr, result.stderr
            started = time.monotonic()
            assert_alive(d, users)  # reads go on (WAL)
            list_seconds = time.monotonic() - started
            # The job ends meanwhile: its end cannot be written yet. (Waited for, not slept:
            # on Slurm the container starts a moment after Slurm says the job runs.)
            def running():
                return engine("ps", "--filter", "status=running", "--filter", f"label=jobman.instance={instance}",
                              "--filter", f"label=jobman.job={job['id']}", "--format", "{{.Names}}", check=False).stdout.split()
            deadline = time.monotonic() + 30
            seen = False
            while time.monotonic() < deadline:
                now = bool(running())
                seen = seen or now
                if seen and not now:
                    break
                time.sleep(0.2)
            assert seen, "the job's container never ran" 
            time.sleep(1)  # jobmand sees the end and tries to record it
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


# --- a mount source hangs (a hung NFS server; a user's own FUSE server) -------------------

HANGING_FUSE = Path(__file__).resolve().parent / "hanging_fuse.py"


@pytest.fixture
def hung_mounts(images, users, daemon_dir):
    """A jobmand with one mount template, data/{user}/datasets, and `hang(user)`: puts a FUSE
    file system that never answers (hanging_fuse.py) on that user's datasets;
    `release()` ends those servers (every request waiting in them fails) and unmounts."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse on this machine: the kernel has no FUSE to hang a mount source with")
    data = daemon_dir / "data"
    for name in ("jmtest1", "jmtest2"):
        (data / name / "datasets").mkdir(parents=True)
        os.chown(data / name / "datasets", users[name].pw_uid, users[name].pw_gid)
    d = Daemon(daemon_dir, {"mounts": [{"source": f"{data}/{{user}}/datasets", "target": "/data"}], "limits": FAST}).start()
    servers = []

    def hang(user, answer_init=False):
        path = data / user / "datasets"
        server = subprocess.Popen([sys.executable, str(HANGING_FUSE), str(path), *(["--answer-init"] if answer_init else [])],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        servers.append((server, path))

    def release():
        while servers:
            server, path = servers.pop()
            server.terminate()
            server.wait(timeout=10)
            subprocess.run(["umount", "-l", str(path)], check=False)

    d.hang, d.release = hang, release
    yield d
    release()
    d.finish()


def jobs_of(daemon, uid):
    with daemon.db() as db:
        return db.execute("SELECT count(*) FROM jobs WHERE uid = ?", (uid,)).fetchone()[0]


def jobmand_children(daemon, state=None):
    """Pids of jobmand's forks that run no other program (its mount-checking children), in
    `state` ('Z', 'D') if given; engine commands it runs are not counted."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 1:].split()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == daemon.proc.pid and comm == "jobmand" and (state is None or fields[0] == state):
            pids.append(int(entry.name))
    return pids


def wait_for_children(daemon, count, timeout=10):
    """Waits until jobmand has exactly `count` checking children (see jobmand_children), or
    `timeout` seconds; returns how many it has then (the same reading the wait ended on),
    saying what each is doing if that is not `count`."""
    deadline = time.monotonic() + timeout
    pids = jobmand_children(daemon)
    while len(pids) != count and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = jobmand_children(daemon)
    if len(pids) != count:
        for pid in pids:
            print(f"jobmand child {pid}: {describe_process(pid)}")
    return len(pids)


def wait_for_new_child(daemon, known, timeout=60):
    """The pid of a checking child of jobmand's that is not in `known`, once there is one
    (None after `timeout` seconds: a submit first asks the engine about the image, which
    takes a while on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(jobmand_children(daemon)) - set(known)
        if new:
            return new.pop()
        time.sleep(0.05)
    return None


def wait_until_gone(pid, timeout=10):
    """Whether process `pid` is gone (reaped: no zombie left) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (Path("/proc") / str(pid)).exists():
        if time.monotonic() >= deadline:
            print(f"process {pid}: {describe_process(pid)}")
            return False
        time.sleep(0.05)
    return True


def describe_process(pid):
    """State, wait channel and signals of process `pid`, for a failure's message."""
    facts = []
    for name in ("status", "wchan", "stack"):
        try:
            text = (Path("/proc") / str(pid) / name).read_text()
        except OSError as error:
            text = f"({error.strerror})"
        if name == "status":
            text = " ".join(line for line in text.splitlines() if line.split(":")[0] in ("State", "SigPnd", "ShdPnd", "Uid"))
        facts.append(f"{name}: {text.strip()}")
    return "; ".join(facts)


def test_a_mount_source_that_hangs_holds_only_its_own_submit(hung_mounts, users):
    """The mount check runs as the submitter in a child, awaited on the event loop: while
    alice's datasets hang, bob's requests (his own mount check included) are answered, and
    alice's submit ends at the check's 5 s timeout with a clear error, storing nothing."""
    alice, bob = users["jmtest1"], users["jmtest2"]
    hung_mounts.hang("jmtest1")
    started = time.monotonic()
    hung = submit_as(hung_mounts, alice)
    wait_for_children(hung_mounts, 1)  # until alice's check is in the hung file system
    job = hung_mounts.cli_json("submit", "-i", "jt", "--", "true", user=bob)["job"]  # his own mount check included
    assert_alive(hung_mounts, users)
    assert hung.poll() is None, "alice's submit ended before bob's requests were answered"
    assert hung_mounts.wait_state(job["id"], {"SUCCEEDED", "FAILED"}, user=bob) == "SUCCEEDED"
    _, stderr = hung.communicate(timeout=60)
    took = time.monotonic() - started
    assert hung.returncode != 0, stderr
    assert "datasets did not answer within 5s (a hung network or FUSE file system)" in stderr, stderr
    assert 4.5 <= took < 30, took
    assert jobs_of(hung_mounts, alice.pw_uid) == 0
    hung_mounts.release()
    assert hung_mounts.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=alice)["job"]["state"] == "SUCCEEDED"
    assert jobmand_children(hung_mounts, "Z") == []


def test_a_job_whose_mounts_hang_at_start_fails_and_holds_no_one(hung_mounts, users):
    """Checked again at start, as the submitter and awaited: alice's queued job fails when
    its datasets hang by then, one she deletes meanwhile ends CANCELLED, and bob's job
    starts and ends meanwhile."""
    alice, bob = users["jmtest1"], users["jmtest2"]
    first = hung_mounts.cli_json("submit", "-i", "jt", "--", "sleep 5", user=alice)["job"]
    fails = hung_mounts.cli_json("submit", "--after", str(first["id"]), "-i", "jt", "--", "true", user=alice)["job"]
    deleted = hung_mounts.cli_json("submit", "--after", str(first["id"]), "-i", "jt", "--", "true", user=alice)["job"]
    # Once the first job's datasets are pinned (locally by jobmand at start; on Slurm by the
    # node, after Slurm says it runs).
    pinned = (f"/run/jobman/slurm/jobman-{hung_mounts.instance()}-{first['id']}/0" if BACKEND == "slurm"
              else f"{hung_mounts.state}/mounts/{first['id']}/0")
    deadline = time.monotonic() + 30
    while f" {pinned} " not in Path("/proc/self/mountinfo").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    hung_mounts.hang("jmtest1")  # after submit's check and the first job's pinning
    # The premise: the dependents' start (and its check) comes after the hang. A first job
    # that had ended by now would have let them be checked before it.
    still = hung_mounts.cli_json("details", "-j", str(first["id"]), user=alice)["job"]["state"]
    assert still in {"QUEUED", "STARTING", "RUNNING"}, f"job {first['id']} ended before its datasets were hung: {still}"
    hung_mounts.wait_state(fails["id"], {"STARTING"}, user=alice)
    hung_mounts.wait_state(deleted["id"], {"STARTING"}, user=alice)
    delete = hung_mounts.cli("delete", "-j", str(deleted["id"]), user=alice)
    assert delete.returncode == 0, delete.stderr
    job = hung_mounts.cli_json("submit", "-i", "jt", "--", "true", user=bob)["job"]
    assert hung_mounts.cli_json("details", "-j", str(fails["id"]), user=alice)["job"]["state"] == "STARTING"
    assert hung_mounts.wait_state(job["id"], {"SUCCEEDED", "FAILED"}, user=bob) == "SUCCEEDED"
    ended = hung_mounts.wait_state(fails["id"], {"FAILED", "SUCCEEDED", "CANCELLED"}, user=alice)
    details = hung_mounts.cli_json("details", "-j", str(fails["id"]), user=alice)
    assert ended == "FAILED", f"{details}\njobmand's log ends:\n{hung_mounts.log.read_text()[-3000:]}"
    assert "mount check at start: " in details["job"]["reason"] and "did not answer within 5s" in details["job"]["reason"], details
    assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "FAILED"], details["events"]
    deadline = time.monotonic() + 30
    while True:  # a deleted job is no longer shown to its user
        with hung_mounts.db() as db:
            state, reason = db.execute("SELECT state, reason FROM jobs WHERE id = ?", (deleted["id"],)).fetchone()
        if state != "STARTING" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (state, reason) == ("CANCELLED", "deleted by jmtest1"), (state, reason)
    assert hung_mounts.cli_json("details", "-j", str(first["id"]), user=alice)["job"]["state"] == "SUCCEEDED"
    assert integrity(hung_mounts) == "ok"


def test_mount_checks_stuck_for_good_are_capped_per_user(hung_mounts, users):
    """A FUSE server that answers INIT and then nothing keeps the checking child in an
    uninterruptible wait even after SIGKILL: jobmand reaps it whenever it dies, and a user
    with 4 such children gets no new check (a clear error) until they die."""
    alice, bob = users["jmtest1"], users["jmtest2"]
    hung_mounts.hang("jmtest1", answer_init=True)
    submits = [submit_as(hung_mounts, alice) for _ in range(4)]
    wait_for_children(hung_mounts, 4)  # until all four checks are in the hung file system
    for left in submits[2:]:  # two clients leave mid-check: their children are killed (and stuck) at once
        left.kill()
        left.wait()
    for submit in submits[:2]:
        _, stderr = submit.communicate(timeout=60)
        assert submit.returncode != 0 and "did not answer within 5s" in stderr, stderr
    time.sleep(2)  # each child outlived its kill by a second: counted as stuck
    assert len(jobmand_children(hung_mounts, "D")) == 4, jobmand_children(hung_mounts)
    refused = hung_mounts.cli("submit", "-i", "jt", "--", "true", user=alice)
    assert refused.returncode != 0, refused.stderr
    assert f"4 mount checks for uid {alice.pw_uid} are stuck in a path that does not answer" in refused.stderr, refused.stderr
    assert hung_mounts.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=bob)["job"]["state"] == "SUCCEEDED"
    hung_mounts.release()  # the server goes: the stuck children fail and die, and are reaped
    assert wait_for_children(hung_mounts, 0, timeout=15) == 0, "the stuck children were not reaped once they died"
    assert hung_mounts.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=alice)["job"]["state"] == "SUCCEEDED"
    assert jobs_of(hung_mounts, alice.pw_uid) == 1


def test_a_client_that_leaves_during_a_hung_check_leaves_no_child_behind(hung_mounts, users):
    """A request whose client goes away is cancelled: its checking child is killed and
    reaped all the same (it was left a zombie, and never counted as stuck), well before the
    check's own 5 s timeout would have ended it. Each client
    leaves once its own check hangs, and its child must be gone before the next submits
    (the daemon notices a client that left within a fraction of a second, so for a moment
    the last one's child and the next one's may both be there)."""
    alice = users["jmtest1"]
    hung_mounts.hang("jmtest1")
    for _ in range(3):
        before = jobmand_children(hung_mounts)
        client = submit_as(hung_mounts, alice)
        child = wait_for_new_child(hung_mounts, before)
        seen = time.monotonic()
        if child is None:
            client.kill()
            out, err = client.communicate()
            pytest.fail(f"no checking child while the check hangs; the client said {out!r} {err!r} (exit {client.returncode}); "
                        f"jobmand's log ends: {hung_mounts.log.read_text()[-3000:]}")
        client.kill()
        client.wait()
        assert wait_until_gone(child), f"the checking child {child} of a client that left was not killed and reaped"
        # Killed for the client that left, not at the check's own 5 s timeout (which would
        # also end it, but later).
        assert time.monotonic() - seen < 4.5, f"the checking child {child} lasted until the check timed out"
    assert wait_for_children(hung_mounts, 0) == 0, "checking children are left"
    assert jobs_of(hung_mounts, alice.pw_uid) == 0
    hung_mounts.release()
    assert hung_mounts.cli_json("submit", "--wait", "-i", "jt", "--", "true", user=alice)["job"]["state"] == "SUCCEEDED"


def submit_as(daemon, user):
    return subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                             str(JOBMAN), "--socket", str(daemon.socket), "submit", "-i", "jt", "--", "true"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
