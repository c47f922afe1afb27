"""The Slurm batch script (daemon/backend/slurm_script.sh) on its own, with a fake engine:
every word of the engine command reaches the engine as it is (hostile words included),
the Slurm label and the GPUs Slurm allocated go where the spec says, TERM and jobman's
timer stop the container, and the result file says how it ended. No Slurm, no root.
Run by ctest as slurm.batch_script (or: python3 -m pytest tests/slurm)."""
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "daemon" / "backend" / "slurm_script.sh"

# A fake engine: `run` records its argv (NUL-separated) and behaves as FAKE_RUN says;
# `stop`, `container inspect` and `rm` are recorded and answer as a real one would.
FAKE = r"""#!/bin/bash
log=$FAKE_DIR/calls
case $1 in
  --runtime) shift 2;;
esac
sub=$1
printf '%s\0' "$@" > "$FAKE_DIR/argv.$sub"
case "$*" in
  *State.Running*) ;;  # a poll: not logged
  *State.Pid*) echo "container-pid" >> "$log";;
  *) echo "$sub" >> "$log";;
esac
case $sub in
  run)
    cat /proc/$$/environ > "$FAKE_DIR/environ.run"  # as exec gave it (bash itself would change RANDOM)
    trap 'echo term >> "$log"; exit 143' TERM
    case ${FAKE_RUN:-exit3} in
      exit3) echo "container output"; exit 3;;
      sleep) touch "$FAKE_DIR/running"; while [ ! -e "$FAKE_DIR/stopped" ]; do sleep 0.05; done; exit 143;;
      never) echo "Error: no such image" >&2; exit 125;;
    esac;;
  stop) touch "$FAKE_DIR/stopped";;
  container)
    case "$*" in *State.Running*)
      [ -e "$FAKE_DIR/running" ] && [ ! -e "$FAKE_DIR/stopped" ] && echo true || echo false
      exit 0;;
    esac
    case "$*" in *State.Pid*)
      echo "${FAKE_PID-4242} ${FAKE_ID:-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa} ${FAKE_LABEL-$SLURM_JOB_ID}"
      exit 0;;
    esac
    case ${FAKE_RUN:-exit3} in
      never) echo "false 0 ${FAKE_LABEL-$SLURM_JOB_ID} 0001-01-01 00:00:00 +0000 UTC";;
      sleep) echo "false 143 ${FAKE_LABEL-$SLURM_JOB_ID} 2026-12-02 10:00:00.5 +0000 UTC";;
      *) echo "${FAKE_OOM:-false} 3 ${FAKE_LABEL-$SLURM_JOB_ID} 2026-12-02 10:00:00.5 +0000 UTC";;  # as podman prints it
    esac;;
  rm) ;;
esac
"""

HOSTILE = ["$(touch /tmp/jobman-pwned)", "a b", "'", '"', "\n", "*", "-v", "--privileged", "`id`", "; rm -rf /", ""]


def spec(tmp, argv, label, gpu, kind="podman"):
    prefix = argv.index("run") if "run" in argv else 1  # the engine's binary and global args
    if label is None:
        label = prefix + 1  # right after "run", as jobmand writes it
    words = [str(prefix), str(label), str(gpu), kind, *argv]
    path = tmp / "1.spec"
    path.write_bytes(b"".join(w.encode() + b"\0" for w in words))
    return path


# A fake node helper (jobmand --node-stage / --node-unstage): records its calls; FAKE_STAGE=fail
# makes staging fail as the real one does (its Error line on stderr, a non-zero exit).
HELPER = r"""#!/bin/bash
echo "helper $1 $2" >> "$FAKE_DIR/calls"
case $1 in
  --node-stage)
    [ "${FAKE_STAGE:-}" = slow ] && { touch "$FAKE_DIR/staging"; sleep 1; }
    [ "${FAKE_STAGE:-}" = fail ] && { echo "Error: jobman on node n1: mount check on the node: you (alice) cannot read /d" >&2; exit 1; }
    echo /run/jobman/slurm/jobman-x-1;;
  --node-unstage) ;;
  --node-usage)  # as jobmand --node-usage PID ID NAME: replaces /run/jobman/usage/NAME with each sample, deaf to TERM
    echo "helper $1 $2 $3 $4" >> "$FAKE_DIR/calls.usage"
    out=/run/jobman/usage/$4
    mkdir -p /run/jobman/usage
    n=0
    while :; do
      n=$((n + 1))
      printf 'peak_memory=%s\ncpu_ms=%s\nusage_source=cgroup v1\n' "$((n * 1048576))" "$((n * 10))" >"$out.tmp" && mv -f "$out.tmp" "$out"
      sleep 0.05
    done;;
  *) exit 2;;
esac
"""


def run_script(tmp, argv, label=None, gpu=-1, kind="podman", limit=0, env=None, wait=True, stage=None, helper=None, envfile=None):
    fake = tmp / "engine"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    argv = [str(fake) if w == "ENGINE" else w for w in argv]
    path = spec(tmp, argv, label, gpu, kind)
    e = {"PATH": "/usr/bin:/bin", "FAKE_DIR": str(tmp), "SLURM_JOB_ID": "77", **(env or {})}
    cmd = ["bash", str(SCRIPT), str(path), str(tmp / "1.result"), "jobman-x-1", str(limit), "2"]
    if stage or helper or envfile:
        if helper is None:
            helper = tmp / "helper"
            helper.write_text(HELPER)
            helper.chmod(0o755)
        cmd += [stage or "-", str(helper)]
    if envfile:
        cmd.append(str(envfile))
    p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return p
    out, _ = p.communicate(timeout=60)
    return p.returncode, out


def recorded(tmp, sub):
    data = (tmp / f"argv.{sub}").read_bytes()
    return [w.decode() for w in data.split(b"\0")[:-1]]


def result(tmp):
    return dict(line.split("=", 1) for line in (tmp / "1.result").read_text().splitlines())


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def test_every_word_reaches_the_engine_as_it_is_with_the_slurm_label(tmp):
    argv = ["ENGINE", "--runtime", "runc", "run", "--name", "jobman-x-1", "img", *HOSTILE]
    rc, out = run_script(tmp, argv)
    assert rc == 3 and "container output" in out
    assert recorded(tmp, "run") == ["run", "--label", "jobman.slurm_job=77", "--name", "jobman-x-1", "img", *HOSTILE]
    assert not Path("/tmp/jobman-pwned").exists()
    assert result(tmp) == {"exit": "3", "oom": "0", "started": "1", "stopped": ""}
    calls = (tmp / "calls").read_text().split()
    assert calls == ["run", "container", "rm"]  # inspected, then removed


def test_with_a_plan_the_node_pins_the_mounts_before_the_container_and_unpins_them_after(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    rc, out = run_script(tmp, argv, stage=str(tmp / "1.stage"))
    assert rc == 3 and "container output" in out
    calls = (tmp / "calls").read_text().splitlines()
    assert calls == [f"helper --node-stage {tmp}/1.stage", "run", "container", "rm", "helper --node-unstage /run/jobman/slurm/jobman-x-1"]


JOBMAND = Path(os.environ.get("JOBMAN_BUILD_DIR", Path(__file__).resolve().parents[2] / "build")) / "daemon" / "jobmand"


def test_the_platform_env_reaches_the_engine_through_the_helper_never_through_an_argv(tmp):
    if not JOBMAND.exists():
        pytest.skip(f"build jobmand first ({JOBMAND}): the helper is its --node-exec")
    secret = "s3cr3t 'q' $HOME #x"
    envfile = tmp / "1.env"
    envfile.write_bytes(b"GC_TOKEN=" + secret.encode() + b"\0RANDOM=fixed\0SECONDS=12\0")
    envfile.chmod(0o600)
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "--env=GC_TOKEN", "--env=RANDOM", "img"]
    rc, out = run_script(tmp, argv, helper=JOBMAND, envfile=envfile)
    assert rc == 3 and "container output" in out, out
    # Exactly the file's values, bash's dynamic names too; none in the engine's argv.
    environ = dict(w.split(b"=", 1) for w in (tmp / "environ.run").read_bytes().split(b"\0") if w)
    assert environ[b"GC_TOKEN"] == secret.encode()
    assert environ[b"RANDOM"] == b"fixed" and environ[b"SECONDS"] == b"12"
    assert recorded(tmp, "run") == ["run", "--label", "jobman.slurm_job=77", "--name", "jobman-x-1", "--env=GC_TOKEN", "--env=RANDOM", "img"]
    assert not envfile.exists()  # read once, then removed
    assert result(tmp)["exit"] == "3"


def test_a_platform_env_file_that_is_not_jobmands_or_no_helper_runs_nothing(tmp):
    if not JOBMAND.exists():
        pytest.skip(f"build jobmand first ({JOBMAND})")
    envfile = tmp / "1.env"
    envfile.write_bytes(b"GC_TOKEN=x\0")
    envfile.chmod(0o644)  # readable by others: not what jobmand writes
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    rc, out = run_script(tmp, argv, helper=JOBMAND, envfile=envfile)
    assert rc != 0 and "is not a root-only file of jobmand's" in out, out
    assert not (tmp / "argv.run").exists()
    envfile.chmod(0o600)
    rc, out = run_script(tmp, argv, helper=tmp / "no-such-helper", envfile=envfile)
    assert rc == 125 and "node helper" in out and "not installed" in out, out
    assert not (tmp / "argv.run").exists()
    assert result(tmp) == {"exit": "", "oom": "0", "started": "0", "stopped": ""}


def test_a_plan_the_node_refuses_never_runs_the_container_and_says_why(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    rc, out = run_script(tmp, argv, stage=str(tmp / "1.stage"), env={"FAKE_STAGE": "fail"})
    assert rc == 125
    assert "Error: jobman on node n1: mount check on the node: you (alice) cannot read /d" in out
    assert not (tmp / "argv.run").exists()
    assert result(tmp) == {"exit": "", "oom": "0", "started": "0", "stopped": ""}
    # Pinned, then a failure before the container (GPUs Slurm did not give): unpinned.
    gpu_argv = ["ENGINE", "run", "--gpus", "device=@SLURM_JOB_GPUS@", "img"]
    (tmp / "calls").unlink()
    rc, out = run_script(tmp, gpu_argv, gpu=3, kind="docker", stage=str(tmp / "1.stage"))
    assert rc == 125 and not (tmp / "argv.run").exists()
    assert (tmp / "calls").read_text().splitlines() == [f"helper --node-stage {tmp}/1.stage",
                                                        "helper --node-unstage /run/jobman/slurm/jobman-x-1"]
    # A helper that is not there is named.
    missing = subprocess.run(["bash", str(SCRIPT), str(tmp / "1.spec"), str(tmp / "1.result"), "jobman-x-1", "0", "2",
                              str(tmp / "1.stage"), "/nonexistent/jobmand"],
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "FAKE_DIR": str(tmp)})
    assert missing.returncode == 125
    assert "node helper /nonexistent/jobmand is not installed here" in missing.stderr, missing.stderr


def test_a_term_while_the_node_pins_unpins_and_never_runs_the_container(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    p = run_script(tmp, argv, stage=str(tmp / "1.stage"), env={"FAKE_STAGE": "slow"}, wait=False)
    deadline = time.monotonic() + 10
    while not (tmp / "staging").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 143
    assert not (tmp / "argv.run").exists()
    assert (tmp / "calls").read_text().splitlines() == [f"helper --node-stage {tmp}/1.stage",
                                                        "helper --node-unstage /run/jobman/slurm/jobman-x-1"]
    assert result(tmp) == {"exit": "", "oom": "0", "started": "0", "stopped": "term"}


def test_podman_gets_one_cdi_device_per_gpu_slurm_allocated(tmp):
    argv = ["ENGINE", "--runtime", "runc", "run", "--device", "nvidia.com/gpu=@SLURM_JOB_GPUS@", "img"]
    rc, _ = run_script(tmp, argv, gpu=5, env={"SLURM_JOB_GPUS": "1,3"})
    assert rc == 3
    assert recorded(tmp, "run") == ["run", "--label", "jobman.slurm_job=77", "--device", "nvidia.com/gpu=1", "--device",
                                    "nvidia.com/gpu=3", "img"]


def test_docker_gets_the_gpus_slurm_allocated_in_one_flag(tmp):
    argv = ["ENGINE", "run", "--gpus", "device=@SLURM_JOB_GPUS@", "img"]
    rc, _ = run_script(tmp, argv, gpu=3, kind="docker", env={"SLURM_JOB_GPUS": "0,2"})
    assert rc == 3
    assert recorded(tmp, "run") == ["run", "--label", "jobman.slurm_job=77", "--gpus", '"device=0,2"', "img"]


def test_a_gpu_job_without_gpus_from_slurm_or_with_odd_ones_never_runs(tmp):
    argv = ["ENGINE", "run", "--gpus", "device=@SLURM_JOB_GPUS@", "img"]
    for env in ({}, {"SLURM_JOB_GPUS": "0;id"}, {"SLURM_JOB_GPUS": "$(id)"}):
        rc, out = run_script(tmp, argv, gpu=3, kind="docker", env=env)
        assert rc == 125 and "Error: jobman on node" in out
        assert not (tmp / "argv.run").exists()
        assert result(tmp)["started"] == "0"


def test_a_bad_spec_or_arguments_never_run_anything(tmp):
    argv = ["ENGINE", "run", "img"]
    for label, gpu in (("x", -1), (2, "1;id"), ("", -1)):
        rc, out = run_script(tmp, argv, label=label, gpu=gpu)
        assert rc == 125, out
        assert not (tmp / "argv.run").exists()
    (tmp / "1.spec").unlink()
    rc, out = subprocess.run(["bash", str(SCRIPT), str(tmp / "missing.spec"), str(tmp / "1.result"), "n", "0", "2"],
                             capture_output=True, text=True).returncode, ""
    assert rc == 125


def test_a_container_that_never_started_says_so(tmp):
    rc, out = run_script(tmp, ["ENGINE", "run", "img"], env={"FAKE_RUN": "never"})
    assert rc == 125 and "no such image" in out
    assert result(tmp) == {"exit": "125", "oom": "0", "started": "0", "stopped": ""}


def test_oom_as_the_engine_reports_it(tmp):
    run_script(tmp, ["ENGINE", "run", "img"], env={"FAKE_OOM": "true"})
    assert result(tmp)["oom"] == "1"


def test_term_stops_the_container_and_says_so(tmp):
    p = run_script(tmp, ["ENGINE", "run", "img"], env={"FAKE_RUN": "sleep"}, wait=False)
    deadline = time.monotonic() + 10
    while not (tmp / "running").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert "stop" in (tmp / "calls").read_text().split()
    assert recorded(tmp, "stop") == ["stop", "--time", "2", "jobman-x-1"]
    assert result(tmp)["stopped"] == "term"


def test_jobmans_timer_stops_the_container_at_the_limit(tmp):
    start = time.monotonic()
    rc, _ = run_script(tmp, ["ENGINE", "run", "img"], limit=1, env={"FAKE_RUN": "sleep"})
    assert time.monotonic() - start < 20
    assert result(tmp)["stopped"] == "timeout"
    assert result(tmp)["exit"] == "143"


def test_an_engine_that_is_not_installed_on_the_node_is_named(tmp):
    rc, out = run_script(tmp, ["/nonexistent/podman", "run", "img"], env={"SLURMD_NODENAME": "n7"})
    assert rc == 125
    assert "Error: jobman on node n7: the container engine /nonexistent/podman is not installed here" in out
    assert result(tmp)["started"] == "0"


def test_a_container_of_that_name_from_another_slurm_job_is_neither_read_nor_removed(tmp):
    # An earlier attempt's container still holds the name: this run's `run` fails, and the
    # other container (labelled with another Slurm job) must stay as it is.
    rc, _ = run_script(tmp, ["ENGINE", "run", "img"], env={"FAKE_LABEL": "76"})
    assert result(tmp)["started"] == "0"
    assert "rm" not in (tmp / "calls").read_text().split()


USAGE = Path("/run/jobman/usage/jobman-x-1")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the node's samples live in /run/jobman/usage, root's")


@needs_root
def test_the_helper_samples_the_running_container_and_its_last_sample_is_in_the_result(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    # A container that runs until jobman's 1 s timer stops it; the helper samples meanwhile.
    rc, out = run_script(tmp, argv, limit=1, env={"FAKE_RUN": "sleep"}, stage=str(tmp / "1.stage"))
    assert rc == 143, out
    got = result(tmp)
    assert got["stopped"] == "timeout" and got["usage_source"] == "cgroup v1", got
    assert int(got["peak_memory"]) >= 1048576 and int(got["cpu_ms"]) >= 10, got
    usage = (tmp / "calls.usage").read_text().split()
    assert usage == ["helper", "--node-usage", "4242", "a" * 64, "jobman-x-1"]
    # The sampler was ended with the container (it ignores TERM): nothing is left of it.
    assert not USAGE.exists()
    time.sleep(0.3)
    assert not USAGE.exists() and not USAGE.with_name("jobman-x-1.tmp").exists(), "the sampler still runs"
    calls = (tmp / "calls").read_text().splitlines()
    assert calls.index("container-pid") > calls.index("run") and "stop" in calls


@needs_root
def test_no_sampler_for_a_container_that_ended_before_it_ran_or_without_a_helper(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    rc, _ = run_script(tmp, argv, stage=str(tmp / "1.stage"))  # exits at once
    assert rc == 3 and "usage_source" not in result(tmp)
    assert not (tmp / "calls.usage").exists()
    rc, _ = run_script(tmp, argv, limit=1, env={"FAKE_RUN": "sleep"})  # no helper given
    assert rc == 143 and "usage_source" not in result(tmp)
    assert not (tmp / "calls.usage").exists()


@needs_root
def test_a_pid_that_is_not_a_number_or_another_slurm_job_s_container_starts_no_sampler(tmp):
    argv = ["ENGINE", "run", "--name", "jobman-x-1", "img"]
    cases = [{"FAKE_PID": pid} for pid in ("x", "-1", "0", "$(touch /tmp/jobman-pwned)", "")]
    cases.append({"FAKE_LABEL": "76"})  # an earlier attempt's container of that name, still running
    for env in cases:
        rc, _ = run_script(tmp, argv, limit=1, env={"FAKE_RUN": "sleep", **env}, stage=str(tmp / "1.stage"))
        assert "usage_source" not in result(tmp), env
        assert not (tmp / "calls.usage").exists(), env
        (tmp / "stopped").unlink(missing_ok=True)
        (tmp / "running").unlink(missing_ok=True)
    assert not Path("/tmp/jobman-pwned").exists()
