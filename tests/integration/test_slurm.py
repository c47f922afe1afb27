"""The Slurm backend on a real multi-node cluster (tests/slurm/cluster.sh: slurmctld and
slurmd n1..n3 on this host). Run with JOBMAN_TEST_BACKEND=slurm; the local run deselects
them. What every backend must do is in the rest of the suite, which runs here too."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BACKEND, Daemon, containers, engine

pytestmark = pytest.mark.only_backend("slurm")


def slurm(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def slurm_jobs(name_prefix):
    """Slurm's jobs (squeue, all states) whose name starts with `name_prefix`: id -> (name, state, node)."""
    out = slurm("squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%N").stdout
    jobs = {}
    for line in out.splitlines():
        jid, name, state, node = line.split("|")
        if name.startswith(name_prefix):
            jobs[jid] = (name, state, node)
    return jobs


def submit(daemon, user, script, flags=()):
    """Submits `script` (the test image runs its args with sh -c) as `user`; the job's id."""
    return daemon.cli_json("submit", "-i", "jt", *flags, "--", script, user=user)["job"]["id"]


def job(daemon, jid, user):
    return daemon.cli_json("details", "-j", str(jid), user=user)["job"]


def wait_running_on_node(daemon, jid, user, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = job(daemon, jid, user)
        if j["state"] == "RUNNING" and j["node"]:
            return j
        assert j["state"] in ("QUEUED", "STARTING", "RUNNING"), j
        time.sleep(0.2)
    raise AssertionError(f"job {jid} did not run on a node within {timeout} s: {j}")


def wait_no_container(name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in containers():
            return
        time.sleep(0.2)
    raise AssertionError(f"container {name} is still there after {timeout} s")


@pytest.fixture
def cluster():
    """Every node up before and after the test (a test takes one down)."""
    for n in ("n1", "n2", "n3"):
        slurm("scontrol", "update", f"nodename={n}", "state=resume", check=False)
    yield
    for n in ("n1", "n2", "n3"):
        slurm("scontrol", "update", f"nodename={n}", "state=resume", check=False)


def test_a_job_runs_on_a_node_and_details_say_where(daemon, users, cluster):
    alice = users["jmtest1"]
    jid = submit(daemon, alice, "echo on node as $(id -u); echo err >&2; exit 3")
    assert daemon.wait_state(jid, {"FAILED"}, timeout=60, user=alice) == "FAILED"
    j = job(daemon, jid, alice)
    assert j["exit_code"] == 3, j
    assert j["backend_id"].isdigit() and j["node"] in ("n1", "n2", "n3"), j
    log = daemon.cli("logs", "-j", str(jid), user=alice).stdout
    assert f"as {alice.pw_uid}" in log and "err" in log
    details = daemon.cli("details", "-j", str(jid), user=alice).stdout
    assert f"Slurm job:   {j['backend_id']} on node {j['node']}" in details
    assert "sbatch:      sbatch --parsable" in details
    # The batch ran as root with the user recorded; Slurm's record says so.
    comment = slurm("scontrol", "show", "job", j["backend_id"], check=False).stdout
    if comment:  # still within MinJobAge
        assert f"user=jmtest1 uid={alice.pw_uid}" in comment
    wait_no_container(f"jobman-{daemon.instance()}-{jid}")


def test_jobs_spread_over_nodes_and_queue_shows_slurms_reason(daemon, users, cluster):
    alice = users["jmtest1"]
    # Each node has one CPU: three 1-CPU jobs take all three nodes, a fourth waits in Slurm.
    ids = [submit(daemon, alice, "sleep 6") for _ in range(4)]
    deadline = time.monotonic() + 60
    reason = None
    while time.monotonic() < deadline:
        queue = daemon.cli_json("queue", user=alice)
        # Slurm's reason is "None" until its scheduler has looked at the job.
        waiting = [y for y in queue["yours"] if y["waits_for"] == "slurm" and "PENDING (" in y["detail"]]
        if waiting:
            reason = waiting[0]["detail"]
            break
        time.sleep(0.2)
    assert reason and ("(Resources)" in reason or "(Priority)" in reason), reason
    text = daemon.cli("queue", user=alice).stdout
    assert "slurm: Slurm job" in text and "PENDING" in text, text
    for jid in ids:
        assert daemon.wait_state(jid, {"SUCCEEDED"}, timeout=90, user=alice) == "SUCCEEDED"
    nodes = {job(daemon, jid, alice)["node"] for jid in ids}
    assert len(nodes) >= 2, nodes


def test_an_outside_scancel_cancels_the_job_and_its_container(daemon, users, cluster):
    alice = users["jmtest1"]
    jid = submit(daemon, alice, "sleep 300")
    j = wait_running_on_node(daemon, jid, alice)
    name = f"jobman-{daemon.instance()}-{jid}"
    deadline = time.monotonic() + 30
    while name not in containers() and time.monotonic() < deadline:
        time.sleep(0.2)
    slurm("scancel", j["backend_id"])
    assert daemon.wait_state(jid, {"CANCELLED"}, timeout=60, user=alice) == "CANCELLED"
    assert "cancelled in Slurm" in job(daemon, jid, alice)["reason"]
    wait_no_container(name)


def test_delete_cancels_pending_and_running_slurm_jobs(daemon, users, cluster):
    alice = users["jmtest1"]
    ids = [submit(daemon, alice, "sleep 300") for _ in range(4)]  # the 4th pends in Slurm
    wait_running_on_node(daemon, ids[0], alice)
    for jid in ids:
        daemon.cli("delete", "-j", str(jid), user=alice)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # deleted jobs leave the owner's list: the database says
        with daemon.db() as db:
            states = [db.execute("SELECT state FROM jobs WHERE id = ?", (jid,)).fetchone()[0] for jid in ids]
        if states == ["CANCELLED"] * 4:
            break
        time.sleep(0.2)
    assert states == ["CANCELLED"] * 4
    prefix = f"jobman-{daemon.instance()}-"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(state not in ("PENDING", "RUNNING", "COMPLETING") for _, state, _ in slurm_jobs(prefix).values()) and \
                not [c for c in containers() if c.startswith(prefix)]:
            break
        time.sleep(0.2)
    assert not [c for c in containers() if c.startswith(prefix)]
    assert all(state in ("CANCELLED", "COMPLETED") for _, state, _ in slurm_jobs(prefix).values()), slurm_jobs(prefix)


def test_the_time_limit_holds_to_the_second_and_leaves_no_container(daemon, users, cluster):
    alice = users["jmtest1"]
    jid = submit(daemon, alice, "sleep 300", flags=("-t", "4s"))
    assert daemon.wait_state(jid, {"TIMEOUT"}, timeout=60, user=alice) == "TIMEOUT"
    j = job(daemon, jid, alice)
    ran = (j["ended_at"] - j["started_at"]) / 1000
    # Slurm alone would stop it on its ~30 s sweep after --time (a minute at least).
    assert 3.5 <= ran < 12, j
    wait_no_container(f"jobman-{daemon.instance()}-{jid}")


def test_a_node_that_goes_down_loses_its_job(daemon, users, cluster):
    alice = users["jmtest1"]
    jid = submit(daemon, alice, "sleep 300")
    j = wait_running_on_node(daemon, jid, alice)
    node = j["node"]
    slurm("scontrol", "update", f"nodename={node}", "state=down", "reason=jobman test")
    assert daemon.wait_state(jid, {"LOST"}, timeout=60, user=alice) == "LOST"
    assert node in job(daemon, jid, alice)["reason"]
    wait_no_container(f"jobman-{daemon.instance()}-{jid}", timeout=60)


def test_kill_9_and_a_slurmctld_restart_lose_nothing_and_submit_nothing_twice(images, users, daemon_dir, cluster):
    alice = users["jmtest1"]
    d = Daemon(daemon_dir).start()
    try:
        codes = {}
        for i in range(5):  # 3 run on the 3 nodes, 2 pend in Slurm
            jid = submit(d, alice, f"sleep 5; exit {i + 1}")
            codes[jid] = i + 1
        wait_running_on_node(d, next(iter(codes)), alice)
        d.stop(signal.SIGKILL)
        # slurmctld restarts while jobmand is away: its state is saved, its jobs go on
        ctld = (os.environ.get("JOBMAN_SLURM_DIR") or "/var/tmp/jobman-slurm") + "/run/slurmctld.pid"
        with open(ctld) as f:
            os.kill(int(f.read()), signal.SIGTERM)
        time.sleep(2)
        subprocess.run(["slurmctld", "-f", os.environ["SLURM_CONF"]], check=True)
        d.start()
        for jid, code in codes.items():
            assert d.wait_state(jid, {"FAILED"}, timeout=120, user=alice) == "FAILED"
            assert job(d, jid, alice)["exit_code"] == code
        prefix = f"jobman-{d.instance()}-"
        names = [name for name, _, _ in slurm_jobs(prefix).values()]
        assert sorted(names) == sorted(f"{prefix}{jid}" for jid in codes), names  # each job once
    finally:
        d.finish()


def test_dry_run_shows_the_sbatch_line_with_the_flavors_resources(images, users, daemon_dir, cluster):
    flavors = [{"name": "gpu", "cpus": 2, "memory": "1G", "gpus": 1, "max_time": "1h"}]
    d = Daemon(daemon_dir, extra_config={"flavors": flavors, "gpus": {"devices": []}}).start()
    try:
        out = d.cli_json("submit", "--dry-run", "-i", "jt", "-t", "10m", "--", "true", user=users["jmtest1"])
        sbatch = out["backend"]["sbatch"]
        assert "--cpus-per-task=2" in sbatch and "--mem=1024M" in sbatch and "--gres=gpu:1" in sbatch
        assert "--time=13" in sbatch  # 10 min + kill_grace 2 s + the 120 s margin, in minutes, rounded up
        assert "--no-requeue" in sbatch and "--export=NONE" in sbatch
        argv = out["job"]["argv"]
        assert "nvidia.com/gpu=@SLURM_JOB_GPUS@" in argv  # the batch script puts Slurm's GPUs there
    finally:
        d.finish()
