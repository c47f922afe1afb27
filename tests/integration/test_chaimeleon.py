"""Issue 10: CHAIMELEON's own images and commands, unchanged, on both engines.

The image is built the way CHAIMELEON's reference batch image is (chaimeleon-eu/
workstation-images, ubuntu-python/Dockerfile and run.sh): a Dockerfile FROM a local base
(busybox plus bash, with a `chaimeleon` user, uid 1000), `COPY --chown=chaimeleon` of its
home, `USER chaimeleon:chaimeleon`, `WORKDIR /home/chaimeleon`, and an entrypoint run.sh
that ends with `echo "$@" >.runcmd` then `source .runcmd` in the WORKDIR. `python` in it
is a stand-in (a shell script that runs the script it is given with sh): no network here
to install Python. The daemon runs CHAIMELEON's shipped policy
(packaging/examples/chaimeleon.json), with test paths, 1 CPU and small memory per flavor.
"""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BACKEND, REPO, TEST_ENGINE, Daemon, engine

EXAMPLE = REPO / "packaging" / "examples" / "chaimeleon.json"
POLICY_USERS = ("jmchai1", "jmchai2", "jmchai3", "jmchai4", "jmchai5")

RUN_SH = """#!/usr/bin/env bash
# The last lines of CHAIMELEON's ubuntu-python/run.sh.
export PATH=$PATH:/home/chaimeleon/.local/bin
if [ -f /home/chaimeleon/persistent-home/init.sh ]; then
    bash /home/chaimeleon/persistent-home/init.sh
fi
echo "$@" >.runcmd
source .runcmd
"""

DOCKERFILE = """FROM localhost/jobman-chaimeleon-base:1
LABEL name="ubuntu-python"
LABEL version="{version}"
LABEL description="Container with busybox, bash and a python stand-in{cuda}."
LABEL usage="jobman submit -i ubuntu-python -- python persistent-home/myScript.py"
LABEL license="MIT"
COPY --chown=1000:1000 home/ /home/chaimeleon/
USER chaimeleon:chaimeleon
WORKDIR /home/chaimeleon
ENTRYPOINT ["/home/chaimeleon/.init/run.sh"]
"""


def _base_rootfs(root: Path):
    """busybox, bash with its libraries, /etc/passwd with chaimeleon (uid 1000)."""
    for d in ("bin", "usr/bin", "etc", "tmp", "home"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy(shutil.which("busybox"), root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "id", "ls", "sleep", "env", "touch", "stat", "mkdir", "find", "head", "wc"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "usr" / "bin" / "env").symlink_to("/bin/busybox")
    bash = shutil.which("bash")
    libs = subprocess.run(["ldd", bash], capture_output=True, text=True, check=True).stdout
    for path in [bash] + [word for word in libs.split() if word.startswith("/")]:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    (root / "bin" / "bash").exists() or (root / "bin" / "bash").symlink_to(bash)
    python = root / "usr" / "bin" / "python"
    python.write_text('#!/bin/sh\nexec sh "$@"\n')
    python.chmod(0o755)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nchaimeleon:x:1000:1000::/home/chaimeleon:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\nchaimeleon:x:1000:\n")


def _home(context: Path):
    home = context / "home"
    (home / ".init").mkdir(parents=True)
    (home / ".init" / "run.sh").write_text(RUN_SH)
    (home / ".init" / "run.sh").chmod(0o755)
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".cache").mkdir()
    (home / ".bashrc").write_text("# chaimeleon's\n")


@pytest.fixture(scope="module")
def chaimeleon_images(images):
    """ubuntu-python 3.4 (tags 3.4, latest) and 3.4cuda11 (tags 3.4cuda11, latest-cuda)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _base_rootfs(tmp / "rootfs")
        subprocess.run(["tar", "-C", str(tmp / "rootfs"), "-cf", str(tmp / "base.tar"), "."], check=True)
        engine("import", *TEST_ENGINE.spec.import_args, str(tmp / "base.tar"), "localhost/jobman-chaimeleon-base:1")
        for version, tags in (("3.4", ("3.4", "latest")), ("3.4cuda11", ("3.4cuda11", "latest-cuda"))):
            context = tmp / f"ctx-{version}"
            context.mkdir()
            _home(context)
            (context / "Dockerfile").write_text(DOCKERFILE.format(version=version, cuda=", cuda11" if "cuda" in version else ""))
            args = []
            for tag in tags:
                args += ["-t", f"localhost/ubuntu-python:{tag}"]
            engine("build", "-q", *args, str(context))
    yield "ubuntu-python"


@pytest.fixture(scope="module")
def policy_users():
    for name in POLICY_USERS:
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    return [pwd.getpwnam(name) for name in POLICY_USERS]


def chaimeleon_config(base: Path, gpus=None):
    """CHAIMELEON's shipped policy, with this test's paths and a machine's worth of CPUs."""
    config = json.loads(EXAMPLE.read_text())
    for flavor in config["flavors"]:
        flavor.update({"cpus": 1, "memory": "256M", "shm": "16M"})
    config["limits"].update({"home_size": "64M", "kill_grace": "2s"})
    config["mounts"] = [m | {"source": m["source"].replace("/home/{user}", f"{base}/{{user}}")} for m in config["mounts"]]
    config["gpus"] = {"devices": gpus or "auto"}  # auto: no nvidia-smi here, so no GPUs
    return {k: config[k] for k in ("images", "limits", "flavors", "default_flavor", "gpus", "mounts")}


def user_dirs(base: Path, user):
    """The user's persistent home (as CHAIMELEON's volumes), theirs, with their script in it."""
    home = base / user.pw_name / "persistent-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "myScript.py").write_text('echo "results of $(id -u)" > persistent-home/result.txt\n'
                                      'echo "HOME=$HOME PWD=$(pwd)"\n'
                                      'touch "$HOME/.cache/pip-like"\n'
                                      'find "$HOME" -xdev -exec stat -c "OWNER %u:%g %n" {} +\n')
    for path in (base / user.pw_name, home, home / "myScript.py"):
        os.chown(path, user.pw_uid, user.pw_gid)
    return home


@pytest.fixture
def chaimeleon(chaimeleon_images, users, policy_users, daemon_dir):
    base = daemon_dir / "homes"
    base.mkdir()
    base.chmod(0o755)
    d = Daemon(daemon_dir, extra_config=chaimeleon_config(base)).start()
    d.base = base
    yield d
    log = d.finish()
    assert "internal error" not in log.lower(), log


def test_the_guides_example_runs_unchanged_and_its_results_are_the_users(chaimeleon, users):
    alice = users["jmtest1"]
    home = user_dirs(chaimeleon.base, alice)
    out = chaimeleon.cli("submit", "-i", "ubuntu-python", "-j", "job1", "-r", "no-gpu", "--wait", "--", "python",
                         "persistent-home/myScript.py", user=alice)
    logs = chaimeleon.cli("logs", "-j", "job1", user=alice)
    assert out.returncode == 0, out.stdout + out.stderr + logs.stdout + logs.stderr
    assert "HOME=/home/chaimeleon PWD=/home/chaimeleon" in logs.stdout
    result = home / "result.txt"
    assert result.read_text() == f"results of {alice.pw_uid}\n"
    assert result.stat().st_uid == alice.pw_uid and result.stat().st_gid == alice.pw_gid
    # Every file of the job's home copy is the submitter's: none is uid 1000's (a host user's, maybe).
    owned = dict(line.split()[2:0:-1] for line in logs.stdout.splitlines() if line.startswith("OWNER "))
    for path in ("/home/chaimeleon/.runcmd", "/home/chaimeleon/.init/run.sh", "/home/chaimeleon/.cache/pip-like", "/home/chaimeleon/.bashrc"):
        assert path in owned, logs.stdout
    assert set(owned.values()) == {f"{alice.pw_uid}:{alice.pw_gid}"}, logs.stdout
    job = chaimeleon.cli_json("details", "-j", "job1", user=alice)["job"]
    assert job["image"] == "ubuntu-python:3.4" and job["image_home"] == "/home/chaimeleon"
    copies = [m for m in job["mounts"] if m.get("image_copy")]
    assert [m["target"] for m in copies] == ["/home/chaimeleon"]
    # The copy is gone once the job has ended; nothing stays mounted.
    with open("/proc/self/mountinfo") as f:
        assert str(chaimeleon.state) not in f.read()


def test_the_image_itself_is_not_changed_for_other_users(chaimeleon, users):
    alice, bob = users["jmtest1"], users["jmtest2"]
    user_dirs(chaimeleon.base, alice)
    user_dirs(chaimeleon.base, bob)
    first = chaimeleon.cli("submit", "-j", "w", "--wait", "--", "set -e; echo mine > .cache/alice; ls .cache", user=alice)
    assert first.returncode == 0, first.stderr
    assert chaimeleon.cli("logs", "-j", "w", user=alice).stdout.split() == ["alice"]  # written, in her job
    second = chaimeleon.cli("submit", "-j", "r", "--wait", "--", "set -e; ls -a .cache; id -u", user=bob)
    assert second.returncode == 0, second.stderr
    logs = chaimeleon.cli("logs", "-j", "r", user=bob).stdout
    assert "alice" not in logs and str(bob.pw_uid) in logs and ".." in logs, logs


def test_every_example_of_the_jobman_client_tool_section(chaimeleon, users):
    alice = users["jmtest1"]
    user_dirs(chaimeleon.base, alice)
    banner = chaimeleon.cli()
    assert banner.returncode == 0 and banner.stdout.startswith("jobman version '")
    examples = [line.strip() for line in banner.stdout.splitlines() if line.startswith("  jobman ")]
    assert len(examples) == 7
    images = chaimeleon.cli("images", user=alice)
    assert images.returncode == 0 and "ubuntu-python" in images.stdout and "latest-cuda=3.4cuda11" in images.stdout, images.stdout
    details = chaimeleon.cli("image-details", "-i", "ubuntu-python", user=alice)
    assert details.returncode == 0 and "Version:     3.4\n" in details.stdout and "Usage:" in details.stdout, details.stdout
    assert "License:     MIT" in details.stdout
    submit = chaimeleon.cli("submit", "-i", "ubuntu-python", "-j", "job1", "-r", "no-gpu", "--", "python", "persistent-home/myScript.py",
                            user=alice)
    assert submit.returncode == 0, submit.stderr
    chaimeleon.wait_state("job1", {"SUCCEEDED"}, user=alice)
    listed = chaimeleon.cli("list", user=alice)
    assert "FLAVOR" in listed.stdout and "no-gpu" in listed.stdout
    logs = chaimeleon.cli("logs", "-j", "job1", user=alice)
    assert logs.returncode == 0 and "HOME=/home/chaimeleon" in logs.stdout
    # CHAIMELEON spells -j as --job-name.
    assert chaimeleon.cli("details", "--job-name", "job1", user=alice).returncode == 0
    assert chaimeleon.cli("delete", "-j", "job1", user=alice).returncode == 0
    gpu = chaimeleon.cli("submit", "-i", "ubuntu-python:latest-cuda", "-r", "small-gpu", "--", "nvidia-smi", user=alice)
    if BACKEND == "local":  # this machine has no GPU: a clear refusal naming the numbers
        assert gpu.returncode == 2 and "1 GPUs asked, but this machine has 0" in gpu.stderr, gpu.stderr
    else:  # the cluster's GPUs count: Slurm refuses it, in its words (the test cluster has none)
        assert gpu.returncode == 0, gpu.stderr
        job = chaimeleon.cli_json("list", user=alice)["jobs"][0]
        assert chaimeleon.wait_state(job["id"], {"FAILED"}, user=alice) == "FAILED"
        reason = chaimeleon.cli_json("details", "-j", str(job["id"]), user=alice)["job"]["reason"]
        assert reason.startswith("Slurm refused the job: ") and "gres" in reason, reason
        chaimeleon.cli("delete", "-j", str(job["id"]), user=alice)
    # The guide's submit without -i runs the platform's default image, and says so.
    default = chaimeleon.cli("submit", "--wait", "--", "echo default image", user=alice)
    assert default.returncode == 0 and "default image ubuntu-python:3.4" in default.stderr, default.stderr


@pytest.mark.only_backend("local")  # this machine's GPUs; on Slurm test_slurm.py checks the placeholder and --gres
def test_the_gpu_example_as_a_dry_run_with_a_gpu(chaimeleon_images, users, policy_users, daemon_dir):
    base = daemon_dir / "homes"
    base.mkdir()
    d = Daemon(daemon_dir, extra_config=chaimeleon_config(base, gpus=["0"])).start()
    try:
        alice = users["jmtest1"]
        out = d.cli("--json", "submit", "--dry-run", "-i", "ubuntu-python:latest-cuda", "-r", "small-gpu", "--", "nvidia-smi", user=alice)
        assert out.returncode == 0, out.stderr
        job = json.loads(out.stdout)["job"]
        assert job["image"] == "ubuntu-python:3.4cuda11"
        argv = job["argv"]
        gpu_flag = ["--device", "nvidia.com/gpu=0"] if TEST_ENGINE.kind == "podman" else ["--gpus", "device=0"]
        assert any(argv[i:i + 2] == gpu_flag for i in range(len(argv))), argv
        assert "--env=HOME=/home/chaimeleon" in argv and "--read-only" in argv
    finally:
        assert d.finish() is not None


def test_chaimeleons_flavor_policy_holds_for_several_users(chaimeleon, policy_users):
    """no-gpu runs 4 jobs at once, FIFO; each user has one active job (queued or running)."""
    ids = []
    for user in policy_users:
        out = chaimeleon.cli("--json", "submit", "-r", "no-gpu", "--", "sleep 600", user=user)
        assert out.returncode == 0, out.stderr
        ids.append(json.loads(out.stdout)["job"]["id"])
    # Handed to Slurm, a job may wait there for a node (the test cluster has 3): STARTING.
    started = {"RUNNING"} if BACKEND == "local" else {"RUNNING", "STARTING"}
    for job, user in zip(ids[:4], policy_users):
        chaimeleon.wait_state(job, started, timeout=60, user=user)
    fifth = chaimeleon.cli_json("details", "-j", str(ids[4]), user=policy_users[4])["job"]
    assert fifth["state"] == "QUEUED"
    queue = chaimeleon.cli_json("queue", user=policy_users[4])
    (mine,) = queue["yours"]
    assert mine["waits_for"] == "flavor_full" and "(4/4)" in mine["detail"], mine
    flavors = {f["flavor"]: f for f in queue["flavors"]}
    assert flavors["no-gpu"]["running"] == 4 and flavors["no-gpu"]["slots"] == 4
    assert flavors["large-gpu"]["slots"] == 5 and flavors["small-gpu"]["slots"] == 8
    table = chaimeleon.cli("queue", user=policy_users[4]).stdout
    assert "4/4" in table and "0/8" in table, table
    flavors_table = chaimeleon.cli("resources-flavors", user=policy_users[0]).stdout
    assert "4/4" in flavors_table and "0/5" in flavors_table, flavors_table

    # One active job per user: a second one is refused, naming the limit and the active job.
    again = chaimeleon.cli("submit", "-r", "no-gpu", "--", "true", user=policy_users[0])
    assert again.returncode == 2 and "limits.max_active_per_user" in again.stderr and str(ids[0]) in again.stderr, again.stderr
    queued_again = chaimeleon.cli("submit", "--", "true", user=policy_users[4])
    assert queued_again.returncode == 2 and "queued or running" in queued_again.stderr

    # A slot frees: the waiting job starts (FIFO within the flavor).
    assert chaimeleon.cli("delete", "-j", str(ids[0]), user=policy_users[0]).returncode == 0
    chaimeleon.wait_state(ids[4], started, timeout=60, user=policy_users[4])
    # Its user's job ended (it no longer held the slot): they may submit again.
    assert chaimeleon.cli("submit", "--dry-run", "--", "true", user=policy_users[0]).returncode == 0
    for job, user in zip(ids[1:], policy_users[1:]):
        chaimeleon.cli("delete", "-j", str(job), user=user)
