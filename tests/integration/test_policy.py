"""Execution policy end to end: flavors, wall time, OOM, mounts, environment, GPUs."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BACKEND, ENGINE, Daemon, containers, engine, wait_for_container

FLAVORS = [
    {"name": "small", "description": "for tests", "cpus": 0.5, "memory": "32M", "shm": "16M", "gpus": 0, "max_time": "1h"},
    {"name": "medium", "cpus": 1, "memory": "256M", "max_time": "1d"},
    {"name": "gpu2", "cpus": 1, "memory": "256M", "gpus": 2, "max_time": "1d"},
]
GPU_DEVICES = ["0", "1", "2", "3"]
CDI_SPEC = Path("/var/run/cdi/jobman-test-gpus.yaml")


@pytest.fixture
def policy_daemon(images, users, daemon_dir):
    data = daemon_dir / "data"
    config = {
        "flavors": FLAVORS,
        "default_flavor": "medium",
        "gpus": {"devices": GPU_DEVICES},
        "limits": {"max_running": 4, "kill_grace": "2s", "default_time": "2h"},
        "mounts": [
            {"source": f"{data}/{{user}}/datasets", "read_only": True},
            {"source": f"{data}/{{user}}/persistent", "read_only": False},
            {"source": f"{data}/{{user}}/extra", "target": "/extra", "optional": True},
        ],
    }
    for user in users.values():
        for sub in ("datasets", "persistent"):
            path = data / user.pw_name / sub
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, user.pw_uid, user.pw_gid)
        os.chown(data / user.pw_name, user.pw_uid, user.pw_gid)
        (data / user.pw_name / "datasets" / "index.json").write_text('{"patients": 3}\n')
    data.chmod(0o755)
    (data / "root" / "datasets").mkdir(parents=True, exist_ok=True)
    (data / "root" / "persistent").mkdir(parents=True, exist_ok=True)
    d = Daemon(daemon_dir, extra_config=config).start()
    d.data = data
    yield d
    d.finish()


def dry_run(daemon, *args, user=None):
    return daemon.cli_json("submit", "-i", "jt", "--dry-run", *args, user=user)["job"]


def test_flavors_are_listed(policy_daemon):
    listing = policy_daemon.cli_json("resources-flavors")
    assert [f["name"] for f in listing["flavors"]] == ["small", "medium", "gpu2"]
    small = listing["flavors"][0]
    assert (small["cpus"], small["memory"], small["shm"], small["gpus"], small["max_time"]) == (0.5, 32 << 20, 16 << 20, 0, 3600)
    assert [f["name"] for f in listing["flavors"] if f["default"]] == ["medium"]
    assert listing["gpus"] == {"total": 4, "free": 4}
    table = policy_daemon.cli("resources-flavors").stdout
    assert "medium (default)" in table and "32M" in table


def test_flavor_choice_and_refusal(policy_daemon):
    assert dry_run(policy_daemon)["flavor"] == "medium"
    job = dry_run(policy_daemon, "-r", "small")
    assert job["resources"]["memory"] == 32 << 20 and job["resources"]["cpus"] == 0.5
    bad = policy_daemon.cli("submit", "-i", "jt", "-r", "huge")
    assert bad.returncode == 2
    assert "unknown flavor 'huge'; valid flavors: small, medium, gpu2" in bad.stderr


def test_resources_reach_the_container(policy_daemon):
    job = policy_daemon.cli_json("submit", "-i", "jt", "-r", "small", "--", "sleep 30")["job"]
    policy_daemon.wait_state(job["id"], {"RUNNING"})
    argv = policy_daemon.cli_json("details", "-j", str(job["id"]))["job"]["argv"]
    i = argv.index("--memory")
    assert argv[i:i + 4] == ["--memory", str(32 << 20), "--memory-swap", str(32 << 20)]
    assert argv[argv.index("--cpus") + 1] == "0.5"
    assert argv[argv.index("--shm-size") + 1] == str(16 << 20)
    assert argv[argv.index("--stop-timeout") + 1] == "2"
    wait_for_container(job["container"])
    host = json.loads(engine("container", "inspect", job["container"]).stdout)[0]["HostConfig"]
    assert host["Memory"] == 32 << 20
    assert host["MemorySwap"] == 32 << 20
    assert host["NanoCpus"] == 500_000_000
    assert host["ShmSize"] == 16 << 20
    assert host["ReadonlyRootfs"] is True
    assert policy_daemon.cli("delete", "-j", str(job["id"])).returncode == 0


@pytest.mark.parametrize("typed,seconds", [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("01:02:03", 3723)])
def test_time_formats(policy_daemon, typed, seconds):
    assert dry_run(policy_daemon, "-t", typed)["resources"]["time_limit"] == seconds


def test_time_defaults_and_maximum(policy_daemon):
    assert dry_run(policy_daemon)["resources"]["time_limit"] == 7200  # limits.default_time
    assert dry_run(policy_daemon, "-r", "small")["resources"]["time_limit"] == 3600  # capped by max_time
    over = policy_daemon.cli("submit", "-i", "jt", "-r", "small", "-t", "2h")
    assert over.returncode == 2 and "maximum of flavor 'small' (1h)" in over.stderr
    bad = policy_daemon.cli("submit", "-i", "jt", "-t", "soon")
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr


def test_wall_time_limit_stops_a_job_that_ignores_sigterm(policy_daemon):
    job = policy_daemon.cli_json("submit", "-i", "jt", "-t", "3s", "--", "trap '' TERM; while true; do sleep 1; done")["job"]
    result = policy_daemon.cli("wait", "-j", str(job["id"]), timeout=60)
    assert result.returncode == 1
    done = policy_daemon.cli_json("details", "-j", str(job["id"]))["job"]
    assert done["state"] == "TIMEOUT"
    assert "time limit of 3s" in done["reason"]
    ran = (done["ended_at"] - done["started_at"]) / 1000
    # Not before its limit; and killed, since it never ends by itself. (No tighter upper
    # bound: a loaded machine may take its time, and tests assert no wall-clock limits.)
    shortest = 3 if BACKEND == "local" else 3 - 0.5  # as below: on Slurm RUNNING is seen at a poll
    assert shortest <= ran < 30, f"ended {ran:.1f} s after it started; limit 3 s + grace 2 s"


def test_wall_time_limit_of_a_job_that_stops_on_sigterm(policy_daemon):
    job = policy_daemon.cli_json("submit", "-i", "jt", "-t", "3s", "--", "sleep 100000")["job"]
    policy_daemon.cli("wait", "-j", str(job["id"]), timeout=60)
    done = policy_daemon.cli_json("details", "-j", str(job["id"]))["job"]
    assert done["state"] == "TIMEOUT"
    # Not before its limit; stopped. On Slurm the container's own 3 s are timed in the batch
    # script, and jobmand records RUNNING when a poll sees it (up to one poll, 250 ms here,
    # after the container started): the recorded span may be that much shorter.
    shortest = 3 if BACKEND == "local" else 3 - 0.5
    assert shortest <= (done["ended_at"] - done["started_at"]) / 1000 < 30


def test_out_of_memory_is_reported_as_such(policy_daemon):
    job = policy_daemon.cli_json("submit", "-i", "jt", "-r", "small", "--",
                                 "x=0123456789abcdef; while true; do x=$x$x; done")["job"]
    assert policy_daemon.cli("wait", "-j", str(job["id"]), timeout=120).returncode == 1
    done = policy_daemon.cli_json("details", "-j", str(job["id"]))["job"]
    assert done["state"] == "OOM_KILLED", done
    assert "32M of flavor 'small'" in done["reason"]
    assert "medium (256M)" in done["reason"]
    # podman's conmon marks the OOM with a file `oom` in its working directory: jobmand
    # starts engine processes in <state_dir>/engine, never in its own (here: the test dir).
    assert not (policy_daemon.dir / "oom").exists()


def test_a_job_that_exits_137_itself_is_not_oom(policy_daemon):
    job = policy_daemon.cli_json("submit", "-i", "jt", "-r", "small", "--", "kill -9 $$")["job"]
    policy_daemon.cli("wait", "-j", str(job["id"]), timeout=60)
    done = policy_daemon.cli_json("details", "-j", str(job["id"]))["job"]
    assert (done["state"], done["exit_code"]) == ("FAILED", 137)


def test_mounts_read_only_datasets_and_writable_persistent_folder(policy_daemon, users):
    alice = users["jmtest1"]
    base = policy_daemon.data / "jmtest1"
    script = (f"cat {base}/datasets/index.json; "
              f"touch {base}/datasets/new 2>/dev/null && echo dataset-writable || echo dataset-read-only; "
              f"echo result > {base}/persistent/out.txt && echo persistent-ok; ls /extra 2>/dev/null || echo no-extra")
    result = policy_daemon.cli("submit", "-i", "jt", "-j", "mounts", "--wait", "--", script, user=alice)
    assert result.returncode == 0, result.stderr + result.stdout
    out = policy_daemon.cli("logs", "-j", "mounts", user=alice).stdout.split("\n")
    assert out[:4] == ['{"patients": 3}', "dataset-read-only", "persistent-ok", "no-extra"]
    written = base / "persistent" / "out.txt"
    assert written.read_text() == "result\n"
    assert (written.stat().st_uid, written.stat().st_gid) == (alice.pw_uid, alice.pw_gid)
    job = policy_daemon.cli_json("details", "-j", "mounts", user=alice)["job"]
    # Besides the job's writable copy of the image's home (/root for this busybox image).
    assert {(m["target"], m["read_only"]) for m in job["mounts"] if not m.get("image_copy")} == {(f"{base}/datasets", True),
                                                                                               (f"{base}/persistent", False)}


def test_optional_mount_is_added_when_present(policy_daemon, users):
    bob = users["jmtest2"]
    extra = policy_daemon.data / "jmtest2" / "extra"
    extra.mkdir()
    os.chown(extra, bob.pw_uid, bob.pw_gid)
    (extra / "hello").write_text("x")
    result = policy_daemon.cli("submit", "-i", "jt", "-j", "extra", "--wait", "--", "ls /extra", user=bob)
    assert result.returncode == 0, result.stderr
    assert policy_daemon.cli("logs", "-j", "extra", user=bob).stdout == "hello\n"


def test_missing_mount_source_is_a_clear_error(policy_daemon, users):
    alice = users["jmtest1"]
    persistent = policy_daemon.data / "jmtest1" / "persistent"
    persistent.rename(persistent.with_name("moved"))
    try:
        result = policy_daemon.cli("submit", "-i", "jt", "--", "true", user=alice)
        assert result.returncode == 2
        assert f"mount source {persistent} does not exist" in result.stderr
    finally:
        persistent.with_name("moved").rename(persistent)


def test_symlink_out_of_the_users_tree_is_refused(policy_daemon, users):
    alice = users["jmtest1"]
    datasets = policy_daemon.data / "jmtest1" / "datasets"
    datasets.rename(datasets.with_name("real"))
    datasets.symlink_to("/etc")  # as if alice had done it in her own directory
    try:
        result = policy_daemon.cli("submit", "-i", "jt", "--", "cat /etc/shadow", user=alice)
        assert result.returncode == 4
        assert "outside" in result.stderr and "symlinks may not lead out" in result.stderr
        datasets.unlink()
        datasets.symlink_to(datasets.with_name("real"))  # inside her tree: fine
        assert policy_daemon.cli("submit", "-i", "jt", "--wait", "--", "true", user=alice).returncode == 0
    finally:
        if datasets.is_symlink():
            datasets.unlink()
        datasets.with_name("real").rename(datasets)


def test_mount_the_user_cannot_read_is_refused(policy_daemon, users):
    alice = users["jmtest1"]
    datasets = policy_daemon.data / "jmtest1" / "datasets"
    os.chown(datasets, 0, 0)
    datasets.chmod(0o700)
    try:
        result = policy_daemon.cli("submit", "-i", "jt", "--", "true", user=alice)
        assert result.returncode == 4
        assert f"cannot read {datasets}" in result.stderr
    finally:
        os.chown(datasets, alice.pw_uid, alice.pw_gid)
        datasets.chmod(0o755)


def test_environment_set_by_jobman(policy_daemon, users):
    alice = users["jmtest1"]
    result = policy_daemon.cli("submit", "-i", "jt", "-j", "envs", "-e", "A=1", "--wait", "--",
                               "echo $JOBMAN_JOB_ID $JOBMAN_JOB_NAME $JOBMAN_USER $A $B", "--", "B=2", user=alice)
    assert result.returncode == 0
    job = policy_daemon.cli_json("details", "-j", "envs", user=alice)["job"]
    assert policy_daemon.cli("logs", "-j", "envs", user=alice).stdout == f"{job['id']} envs jmtest1 1 2\n"
    for bad in ("JOBMAN_JOB_ID=7", "JOBMAN_ANY=1", "1ABC=x", "A-B=x"):
        result = policy_daemon.cli("submit", "-i", "jt", "-e", bad, user=alice)
        assert result.returncode == 2, bad


@pytest.mark.only_backend("local")  # this machine's GPU allocator; on Slurm the batch script puts Slurm's GPUs in (test_batch_script.py)
def test_gpu_flags_in_the_engine_command(policy_daemon):
    job = dry_run(policy_daemon, "-r", "gpu2")
    argv = job["argv"]
    if ENGINE == "docker":
        assert argv[argv.index("--gpus") + 1] == '"device=0,1"'
    else:
        flags = [argv[i + 1] for i, a in enumerate(argv) if a == "--device"]
        assert flags == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    assert "--env=NVIDIA_VISIBLE_DEVICES=void" not in argv
    one = dry_run(policy_daemon, "-r", "gpu2", "--gpus", "1")["argv"]
    assert (one[one.index("--gpus") + 1] == "device=0") if ENGINE == "docker" else ("nvidia.com/gpu=0" in one)
    none = dry_run(policy_daemon, "-r", "gpu2", "--gpus", "0")["argv"]
    assert "--env=NVIDIA_VISIBLE_DEVICES=void" in none and "--gpus" not in none and "--device" not in none
    assert "--env=NVIDIA_VISIBLE_DEVICES=void" in dry_run(policy_daemon)["argv"]
    over = policy_daemon.cli("submit", "-i", "jt", "--gpus", "1")
    assert over.returncode == 2 and "flavor 'medium' allows at most 0 GPUs" in over.stderr
    over = policy_daemon.cli("submit", "-i", "jt", "-r", "gpu2", "--gpus", "3")
    assert over.returncode == 2 and "at most 2 GPUs" in over.stderr


@pytest.mark.only_engine("docker")
def test_docker_gpu_flags_as_the_engine_reads_them(policy_daemon):
    """docker creates (not starts) a container with jobman's exact GPU flags without the
    NVIDIA runtime; inspect shows the devices it parsed (the quotes matter: CSV). podman's
    CDI devices are checked by really running jobs (test_gpus_are_allocated_exclusively)."""
    argv = dry_run(policy_daemon, "-r", "gpu2")["argv"]
    argv[argv.index("run")] = "create"
    name = argv[argv.index("--name") + 1] + "-gpu-flags"
    argv[argv.index("--name") + 1] = name
    subprocess.run(argv, check=True, capture_output=True, text=True)
    try:
        requests = json.loads(engine("container", "inspect", name).stdout)[0]["HostConfig"]["DeviceRequests"]
        assert [(r["DeviceIDs"], r["Capabilities"]) for r in requests] == [(["0", "1"], [["gpu"]])]
    finally:
        engine("rm", "-f", name, check=False)


@pytest.fixture
def fake_gpus():
    """A CDI spec that makes podman accept nvidia.com/gpu=0..3; each device injects an env var,
    so a job shows which devices it really got. (No GPU exists on these machines.)"""
    CDI_SPEC.parent.mkdir(parents=True, exist_ok=True)
    devices = "\n".join(f'  - name: "{d}"\n    containerEdits:\n      env: ["JOBMAN_TEST_GPU_{d}=1"]' for d in GPU_DEVICES)
    CDI_SPEC.write_text(f'cdiVersion: "0.5.0"\nkind: "nvidia.com/gpu"\ndevices:\n{devices}\n')
    yield
    CDI_SPEC.unlink()


def gpus_seen(daemon, job_id):
    return sorted(w.split("=")[0].rsplit("_", 1)[1] for w in daemon.cli("logs", "-j", str(job_id)).stdout.split() if w.startswith("JOBMAN_TEST_GPU_"))


@pytest.mark.only_engine("podman")  # CDI injection is podman's; docker's --gpus needs the NVIDIA runtime
@pytest.mark.only_backend("local")  # this machine's GPU allocator; on Slurm GPUs are Slurm's (--gres)
def test_gpus_are_allocated_exclusively(policy_daemon, fake_gpus):
    hold = "env | grep JOBMAN_TEST_GPU_ | sort; sleep 4"
    first = policy_daemon.cli_json("submit", "-i", "jt", "-r", "gpu2", "--", hold)["job"]
    second = policy_daemon.cli_json("submit", "-i", "jt", "-r", "gpu2", "--", hold)["job"]
    third = policy_daemon.cli_json("submit", "-i", "jt", "-r", "gpu2", "--", "env | grep JOBMAN_TEST_GPU_ | sort")["job"]
    policy_daemon.wait_state(first["id"], {"RUNNING"})
    policy_daemon.wait_state(second["id"], {"RUNNING"})
    assert policy_daemon.cli_json("details", "-j", str(third["id"]))["job"]["state"] == "QUEUED", "no GPUs left: it waits"
    assert policy_daemon.cli_json("resources-flavors")["gpus"]["free"] == 0
    for job in (first, second, third):
        assert policy_daemon.cli("wait", "-j", str(job["id"]), timeout=60).returncode == 0
    devices = {j["id"]: policy_daemon.cli_json("details", "-j", str(j["id"]))["job"]["gpu_devices"] for j in (first, second, third)}
    assert sorted(devices[first["id"]] + devices[second["id"]]) == GPU_DEVICES, "two running jobs never share a device"
    for job in (first, second, third):
        assert gpus_seen(policy_daemon, job["id"]) == devices[job["id"]], "the container sees exactly its devices"
    assert policy_daemon.cli_json("resources-flavors")["gpus"]["free"] == 4
