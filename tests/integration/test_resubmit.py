"""Resubmit and retries (issue 12, item 3): `jobman resubmit` queues a new job with an
earlier job's spec (its image id unless --latest-image) and links the two; `submit
--retries N` queues the same job again after LOST or an engine failure, never after its
own failure, after limits.retry_delay, each attempt an event."""
import os
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Daemon, _busybox_rootfs, _import, engine
from test_engine_failures import broken_engine

FLAVORS = [
    {"name": "one", "cpus": 1, "memory": "256M", "max_time": "1h"},
    # One CPU: the Slurm test cluster's nodes have one each (a 2-CPU job is refused there).
    {"name": "two", "cpus": 1, "memory": "512M", "max_time": "2h"},
]


@pytest.fixture
def retry_daemon(images, users, daemon_dir):
    d = Daemon(daemon_dir, {"flavors": FLAVORS, "default_flavor": "one",
                            "limits": {"max_running": 4, "kill_grace": "2s", "retry_delay": "1s", "max_retries": 3}}).start()
    yield d
    d.finish()


def test_resubmit_queues_the_same_spec_and_links_the_two(retry_daemon, users):
    d, alice = retry_daemon, users["jmtest1"]
    old = d.cli_json("submit", "-i", "jt:1.0", "-j", "seg", "-r", "two", "-t", "10m", "--priority", "5", "-e", "A=1",
                     "--", "echo hi $A", user=alice)["job"]
    assert d.cli("wait", "-j", "seg", user=alice).returncode == 0
    again = d.cli("resubmit", "-j", "seg", "--wait", user=alice)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"Resubmitted job {old['id']} as job "), again.stdout
    new = d.cli_json("details", "-j", "seg-r2", user=alice)["job"]
    assert new["id"] != old["id"] and new["state"] == "SUCCEEDED"
    for key in ("image", "image_id", "args", "env", "flavor", "resources", "priority", "replace_entrypoint"):
        assert new[key] == old[key], key
    assert new["resubmit_of"] == old["id"]
    assert d.cli("logs", "-j", "seg-r2", user=alice).stdout == "hi 1\n"
    # Both ways in details.
    assert d.cli_json("details", "-j", "seg", user=alice)["resubmitted_as"] == [new["id"]]
    assert f"Resubmit of: job {old['id']}" in d.cli("details", "-j", "seg-r2", user=alice).stdout
    assert f"Resubmitted: as job {new['id']}" in d.cli("details", "-j", "seg", user=alice).stdout
    # Another flavor and time limit; the next name counts on; or a name of one's own.
    other = d.cli_json("resubmit", "-j", "seg-r2", "-r", "one", "-t", "5m", user=alice)["job"]
    assert (other["name"], other["flavor"], other["resources"]["time_limit"], other["resources"]["cpus"]) == ("seg-r3", "one", 300, 1)
    named = d.cli_json("resubmit", "-j", str(old["id"]), "--name", "seg-again", user=alice)["job"]
    assert named["name"] == "seg-again" and named["resubmit_of"] == old["id"]
    dry = d.cli("resubmit", "-j", "seg", "--dry-run", user=alice)
    assert dry.returncode == 0 and "nothing was queued" in dry.stdout, dry
    assert len(d.cli_json("list", user=alice)["jobs"]) == 4


def test_resubmit_is_for_the_owner_and_refuses_what_submit_would(retry_daemon, users):
    d, alice, bob, admin = retry_daemon, users["jmtest1"], users["jmtest2"], users["jmadmin"]
    job = d.cli_json("submit", "-i", "jt", "-j", "mine", "--", "true", user=alice)["job"]
    d.wait_state(job["id"], {"SUCCEEDED"}, user=alice)
    count = lambda: len(d.cli_json("list", "--all-users", user=admin)["jobs"])
    before = count()
    stranger = d.cli("resubmit", "-j", str(job["id"]), user=bob)
    assert stranger.returncode == 3 and "no job '1' of yours" in stranger.stderr, stranger.stderr
    by_admin = d.cli("resubmit", "-j", str(job["id"]), user=admin)
    assert by_admin.returncode == 4 and "only its owner" in by_admin.stderr, by_admin.stderr
    too_long = d.cli("resubmit", "-j", "mine", "-t", "3h", user=alice)
    assert too_long.returncode != 0 and "max" in too_long.stderr.lower(), too_long.stderr
    no_flavor = d.cli("resubmit", "-j", "mine", "-r", "huge", user=alice)
    assert no_flavor.returncode == 2 and "huge" in no_flavor.stderr, no_flavor.stderr
    taken = d.cli("resubmit", "-j", "mine", "--name", "mine", user=alice)
    assert taken.returncode == 2 and "already have a job named 'mine'" in taken.stderr, taken.stderr
    odd = d.cli("resubmit", "-j", "mine", "--name", "x; reboot", user=alice)
    assert odd.returncode == 2 and "x; reboot" in odd.stderr, odd.stderr
    assert d.cli("delete", "-j", "mine", user=alice).returncode == 0
    gone = d.cli("resubmit", "-j", str(job["id"]), user=alice)
    assert gone.returncode == 3, gone.stderr
    assert count() == before - 1


def test_resubmit_runs_the_image_id_the_job_ran_unless_asked_for_the_latest(users, daemon_dir):
    repo = f"localhost/jobman-rstest-{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        tar = _busybox_rootfs(Path(tmp))
        _import(tar, f"{repo}:1.0", {"name": "rs", "version": "1.0", "description": "first"})
        d = Daemon(daemon_dir, {"images": {"repositories": [f"{repo}"], "required_labels": ["name", "version"], "refresh": "0s"}}).start()
        try:
            old = d.cli_json("submit", "-i", "rs", "-j", "first", "--", "true", user=users["jmtest1"])["job"]
            d.wait_state(old["id"], {"SUCCEEDED"}, user=users["jmtest1"])
            # The same name and version, rebuilt: another image id.
            _import(tar, f"{repo}:1.0", {"name": "rs", "version": "1.0", "description": "rebuilt"})
            refused = d.cli("resubmit", "-j", "first", user=users["jmtest1"])
            assert refused.returncode == 2 and "--latest-image" in refused.stderr and old["image_id"][:19] in refused.stderr, refused.stderr
            latest = d.cli_json("resubmit", "-j", "first", "--latest-image", user=users["jmtest1"])["job"]
            assert latest["image_id"] != old["image_id"] and latest["image"] == old["image"]
        finally:
            d.finish()
            engine("rmi", "-f", f"{repo}:1.0", check=False)


@pytest.mark.only_backend("local")
def test_a_lost_job_with_retries_is_queued_again_and_runs(retry_daemon, users):
    d, alice = retry_daemon, users["jmtest1"]
    job = d.cli_json("submit", "-i", "jt", "-j", "flaky", "--retries", "1", "--", "echo attempt; sleep 4", user=alice)["job"]
    assert job["retries"] == 1 and job["attempt"] == 1
    d.wait_state(job["id"], {"RUNNING"}, user=alice)
    # Its container vanishes while no jobmand runs: the next one finds it lost.
    assert d.stop() == 0
    engine("rm", "-f", job["container"])
    d.start()
    assert d.cli("wait", "-j", "flaky", user=alice, timeout=90).returncode == 0
    details = d.cli_json("details", "-j", "flaky", user=alice)
    final = details["job"]
    assert final["id"] == job["id"] and final["state"] == "SUCCEEDED" and final["attempt"] == 2
    assert final["reason"].endswith("(attempt 2 of 2)"), final["reason"]
    steps = [(e["from"], e["to"]) for e in details["events"]]
    assert steps == [(None, "QUEUED"), ("QUEUED", "STARTING"), ("STARTING", "RUNNING"), ("RUNNING", "QUEUED"),
                     ("QUEUED", "STARTING"), ("STARTING", "RUNNING"), ("RUNNING", "SUCCEEDED")], steps
    requeued = details["events"][3]
    assert requeued["reason"].startswith("attempt 1 of 2 ended LOST: its container disappeared"), requeued["reason"]
    assert "queued again to start in 1s" in requeued["reason"]
    # Each attempt's output is kept, one after the other.
    assert d.cli("logs", "-j", "flaky", user=alice).stdout.count("attempt\n") == 2


def test_a_job_s_own_failure_is_not_retried(retry_daemon, users):
    d, alice = retry_daemon, users["jmtest1"]
    job = d.cli_json("submit", "-i", "jt", "--retries", "3", "--", "exit 3", user=alice)["job"]
    d.wait_state(job["id"], {"FAILED"}, user=alice)
    details = d.cli_json("details", "-j", str(job["id"]), user=alice)
    assert details["job"]["attempt"] == 1 and details["job"]["reason"].endswith("(attempt 1 of 4)")
    assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "RUNNING", "FAILED"]
    too_many = d.cli("submit", "-i", "jt", "--retries", "4", "--", "true", user=alice)
    assert too_many.returncode == 2 and "limits.max_retries" in too_many.stderr, too_many.stderr


@pytest.mark.only_backend("local")  # a broken engine set up through jobmand's environment, which a Slurm job does not inherit (--export=NONE)
def test_an_engine_failure_is_retried_until_the_attempts_are_spent(tmp_path, daemon_dir, images, users):
    env, engine_config, _, reason_words = broken_engine(tmp_path)
    d = Daemon(daemon_dir, {"engine": engine_config, "limits": {"max_running": 2, "retry_delay": "3s"}}, env=env).start()
    try:
        job = d.cli_json("submit", "-i", "jt", "--retries", "2", "--", "true")["job"]
        # While it waits for its next attempt, queue says so.
        deadline = time.monotonic() + 30
        waiting = []
        while time.monotonic() < deadline and not waiting:
            waiting = [j for j in d.cli_json("queue")["yours"] if j["id"] == job["id"] and j["waits_for"] == "retry"]
            time.sleep(0.2)
        assert waiting and waiting[0]["detail"].startswith("retries in "), waiting
        waited = d.cli("wait", "-j", str(job["id"]), timeout=90)
        assert waited.returncode == 1
        details = d.cli_json("details", "-j", str(job["id"]))
        assert details["job"]["state"] == "FAILED" and details["job"]["attempt"] == 3
        assert details["job"]["reason"] == f"the container engine failed: {reason_words} (attempt 3 of 3)"
        requeues = [e["reason"] for e in details["events"] if e["to"] == "QUEUED" and e["from"] is not None]
        assert len(requeues) == 2 and requeues[0].startswith("attempt 1 of 3 ended FAILED: the container engine failed"), requeues
    finally:
        d.finish()
