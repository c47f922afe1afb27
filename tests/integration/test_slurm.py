"""The Slurm backend on a real multi-node cluster (tests/slurm/cluster.sh: slurmctld and
slurmd n1..n3 on this host). Run with JOBMAN_TEST_BACKEND=slurm; the local run deselects
them. What every backend must do is in the rest of the suite, which runs here too."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BACKEND, Daemon, alice_datasets, backend_config, containers, engine

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


@pytest.fixture
def held(images, users, daemon_dir, cluster):
    """A daemon whose jobs Slurm holds (its sbatch adds --hold) until the test releases them,
    with alice's datasets mounted read-only: the window between jobmand's check of her mounts
    and the node's, made certain."""
    wrapper = daemon_dir / "sbatch-hold"
    wrapper.write_text("#!/bin/sh\nexec sbatch --hold \"$@\"\n")
    wrapper.chmod(0o755)
    data, home, secret = alice_datasets(daemon_dir, users["jmtest1"])
    config = {"backend": backend_config() | {"sbatch": str(wrapper)},
              "mounts": [{"source": f"{data}/{{user}}/datasets", "target": "/data", "read_only": True}]}
    d = Daemon(daemon_dir, extra_config=config).start()
    d.home, d.secret = home, secret
    yield d
    d.finish()


def release_when_held(daemon, jid, user, timeout=30):
    """Releases the job once Slurm holds it; its Slurm id."""
    name = f"jobman-{daemon.instance()}-{jid}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [i for i, (n, state, _) in slurm_jobs(name).items() if n == name and state == "PENDING"]
        if found:
            slurm("scontrol", "release", found[0])
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"Slurm never held job {jid} ({name})")


def test_the_node_pins_the_mounts_itself_and_a_swap_after_jobmands_check_is_caught_there(held, users):
    alice = users["jmtest1"]
    # Checked by jobmand at start, then held in Slurm: alice swaps her dataset for a link to
    # a root-only directory before the node runs it.
    jid = submit(held, alice, "cat /data/*")
    name = f"jobman-{held.instance()}-{jid}"
    deadline = time.monotonic() + 30
    while not slurm_jobs(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    (held.home / "datasets").rename(held.home / "datasets.orig")
    (held.home / "datasets").symlink_to(held.secret)
    release_when_held(held, jid, alice)
    assert held.wait_state(jid, {"SUCCEEDED", "FAILED"}, timeout=60, user=alice) == "FAILED"
    j = job(held, jid, alice)
    assert "mount check on the node" in j["reason"] and "you (jmtest1) cannot read" in j["reason"], j
    log = held.cli("logs", "-j", str(jid), user=alice).stdout
    assert "secret" not in log, log
    # Put back: the node pins what she has, the engine mounts the node's pinned copy, and the
    # node's directory goes when the job ends.
    (held.home / "datasets").unlink()
    (held.home / "datasets.orig").rename(held.home / "datasets")
    jid = submit(held, alice, "cat /data/mine.txt; grep -c ' /data ' /proc/self/mountinfo")
    release_when_held(held, jid, alice)
    assert held.wait_state(jid, {"SUCCEEDED", "FAILED"}, timeout=60, user=alice) == "SUCCEEDED"
    j = job(held, jid, alice)
    node_dir = f"/run/jobman/slurm/jobman-{held.instance()}-{jid}"
    [mount] = [m for m in j["mounts"] if not m.get("image_copy")]
    assert mount["source"] == f"{node_dir}/0" and mount["origin"] == str(held.home / "datasets"), j["mounts"]
    assert held.cli("logs", "-j", str(jid), user=alice).stdout.startswith("alice's data\n")
    deadline = time.monotonic() + 30
    while os.path.exists(node_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(node_dir)
    with open("/proc/self/mountinfo") as f:
        assert node_dir not in f.read()
    # Nothing of the plan stays in the shared state directory once jobmand removed the job's run.
    while list((held.state / "slurm").glob(f"{jid}.*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list((held.state / "slurm").glob(f"{jid}.*"))


def test_the_epilog_unpins_what_a_killed_batch_script_left_and_only_its_jobs(tmp_path):
    epilog = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "slurm", "epilog.sh")
    source = tmp_path / "dataset"
    source.mkdir()
    (source / "x").write_text("x")
    dirs = {jid: f"/run/jobman/slurm/jobman-epilogtest-{jid}" for jid in ("999991", "999992")}
    try:
        for jid, d in dirs.items():
            os.makedirs(f"{d}/0", mode=0o700)
            subprocess.run(["mount", "--bind", str(source), f"{d}/0"], check=True)
            with open(f"{d}/slurm_job", "w") as f:
                f.write(jid + "\n")
        subprocess.run(["sh", epilog], env={"SLURM_JOB_ID": "999991", "PATH": os.environ["PATH"]}, check=True)
        assert not os.path.exists(dirs["999991"])
        with open("/proc/self/mountinfo") as f:  # (ismount cannot tell a bind within one file system)
            assert f" {dirs['999992']}/0 " in f.read()  # another job's: left alone
        assert (source / "x").read_text() == "x"  # unmounted, never removed through the mount
    finally:
        for d in dirs.values():
            subprocess.run(["umount", "-l", f"{d}/0"], capture_output=True)
            subprocess.run(["rm", "-rf", "--one-file-system", d], capture_output=True)
