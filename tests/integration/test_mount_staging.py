"""Mounts are pinned when a job starts (issue 9, V2): what the submitter opened is bind-
mounted under the state dir (on Slurm: by the node, under /run/jobman/slurm/<container>)
and the engine mounts that, so swapping a directory for a symlink afterwards, however long
the engine takes, reaches nothing else. The staging mounts go when the job ends, and at the
next start for jobs that ended meanwhile."""
import signal
import subprocess
import time

from pathlib import Path

import pytest

from conftest import BACKEND, ENGINE_BINARY, TEST_ENGINE, Daemon, alice_datasets

# Where a Slurm node pins a job's mounts (the test cluster's nodes run on this host).
NODE_STAGING = "/run/jobman/slurm/"


def staging_mounts(state):
    """The user's directories pinned under the state dir, or by a node (not the jobs' home
    copies, homeN)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if line.split()[4].startswith((f"{state}/mounts/", NODE_STAGING)) and not Path(line.split()[4]).name.startswith("home")]


def pinned_at(daemon, job_id):
    """Where the job's mounts are pinned: locally under the state dir, on Slurm on its node."""
    if BACKEND == "slurm":
        return f"{NODE_STAGING}jobman-{daemon.instance()}-{job_id}"
    return f"{daemon.state}/mounts/{job_id}"


@pytest.fixture
def slow_start(images, users, daemon_dir):
    """A daemon whose engine takes 3 s before each `run` (a wrapper around the real one):
    the window in which the old check could be raced, made certain."""
    wrapper = daemon_dir / "slow-engine"
    wrapper.write_text("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = run ] && sleep 3 && break; done\n"
                       f"exec {ENGINE_BINARY if ENGINE_BINARY.startswith('/') else '/usr/bin/' + ENGINE_BINARY} \"$@\"\n")
    wrapper.chmod(0o755)
    data, home, secret = alice_datasets(daemon_dir, users["jmtest1"])
    engine = TEST_ENGINE.config()
    engine["binary"] = str(wrapper)
    config = {"engine": engine, "mounts": [{"source": f"{data}/{{user}}/datasets", "target": "/data", "read_only": True}]}
    d = Daemon(daemon_dir, extra_config=config).start()
    d.home, d.secret = home, secret
    yield d
    d.finish()


def swap_for_symlink(home, target):
    """What the user can do to their own directory at any moment."""
    (home / "datasets").rename(home / "datasets.orig")
    (home / "datasets").symlink_to(target)


@pytest.mark.parametrize("target", ["secret", "db-wal"])
def test_v2_a_symlink_swapped_in_after_the_check_changes_nothing(slow_start, users, target):
    alice = users["jmtest1"]
    job = slow_start.cli_json("submit", "-i", "jt", "--", "ls /data; cat /data/* 2>&1 | head -c 200", user=alice)["job"]
    slow_start.wait_state(job["id"], {"STARTING", "RUNNING"}, user=alice)
    # Checked at start and pinned (STARTING comes just before the check); the engine still waits.
    deadline = time.monotonic() + 30
    while not staging_mounts(slow_start.state) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging_mounts(slow_start.state), "the job's mounts were never pinned"
    swap_for_symlink(slow_start.home, slow_start.secret if target == "secret" else slow_start.state)
    slow_start.cli("wait", "-j", str(job["id"]), user=alice, timeout=60)
    logs = slow_start.cli("logs", "-j", str(job["id"]), user=alice).stdout
    assert "mine.txt" in logs and "alice's data" in logs, logs
    assert "secret" not in logs and "jobman.db" not in logs, logs
    details = slow_start.cli_json("details", "-j", str(job["id"]), user=alice)["job"]
    # What was really mounted: the directory as it was when alice's job opened it.
    [mount] = [m for m in details["mounts"] if not m.get("image_copy")]  # besides the writable copy of the image's /root
    assert mount["origin"] == str(slow_start.home / "datasets") and mount["target"] == "/data"
    assert mount["source"] == f"{pinned_at(slow_start, job['id'])}/0"
    assert f"source={mount['source']}," in " ".join(details["argv"])
    # Unmounted once it ended (on Slurm the batch script does so just after it wrote the end).
    deadline = time.monotonic() + 30
    while Path(pinned_at(slow_start, job["id"])).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert staging_mounts(slow_start.state) == []
    assert not Path(pinned_at(slow_start, job["id"])).exists()


def test_v2_a_swap_before_the_start_is_caught_at_the_start(slow_start, users):
    alice = users["jmtest1"]
    swap_for_symlink(slow_start.home, slow_start.secret)
    result = slow_start.cli("submit", "-i", "jt", "--", "cat /data/*", user=alice)
    # Opened as alice, the root-only directory is simply not hers to read; nothing is said
    # about where the link leads (V8).
    assert result.returncode == 4 and "you (jmtest1) cannot read" in result.stderr, result.stderr
    assert "root-only" not in result.stderr and "secret" not in result.stderr


def test_staging_mounts_survive_a_restart_and_go_when_the_job_ends(slow_start, users):
    alice = users["jmtest1"]
    job = slow_start.cli_json("submit", "-i", "jt", "--", "sleep 6; cat /data/mine.txt", user=alice)["job"]
    slow_start.wait_state(job["id"], {"RUNNING"}, user=alice)
    deadline = time.monotonic() + 30  # on Slurm RUNNING comes before the node pins them
    while not staging_mounts(slow_start.state) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(staging_mounts(slow_start.state)) == 1
    slow_start.proc.send_signal(signal.SIGKILL)
    slow_start.proc.wait(timeout=20)
    swap_for_symlink(slow_start.home, slow_start.secret)
    slow_start.start()
    assert slow_start.cli("wait", "-j", str(job["id"]), user=alice, timeout=60).returncode == 0
    assert slow_start.cli("logs", "-j", str(job["id"]), user=alice).stdout == "alice's data\n"
    deadline = time.monotonic() + 30
    while staging_mounts(slow_start.state) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert staging_mounts(slow_start.state) == []


def test_staging_mounts_of_a_job_that_ended_while_jobmand_was_down_are_swept(slow_start, users):
    alice = users["jmtest1"]
    job = slow_start.cli_json("submit", "-i", "jt", "--", "sleep 1", user=alice)["job"]
    slow_start.wait_state(job["id"], {"RUNNING"}, user=alice)
    slow_start.proc.send_signal(signal.SIGKILL)
    slow_start.proc.wait(timeout=20)
    time.sleep(3)  # it ends while no jobmand runs
    slow_start.start()
    slow_start.wait_state(job["id"], {"SUCCEEDED"}, user=alice)
    deadline = time.monotonic() + 10
    while staging_mounts(slow_start.state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert staging_mounts(slow_start.state) == []
