"""Environment set by the admin (issue 12, item 11): config `env`, globally and per flavor,
with placeholders resolved per job. A job sees exactly the resolved values; a secret is
*** in details, details --json and --dry-run, and in no argv (the stored one, the engine
client's /proc/PID/cmdline), the database or jobmand's log; a user's -e of a name the admin
sets is refused."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BACKEND, JOBMAND, Daemon

SECRET = "s3cr3t-t0ken-9f2c"
FLAVOR_SECRET = "fl4vor-s3cret-77a1"
# A value with everything a shell or an env-file parser would read: it must arrive as is.
ODD = " sp  'q' \"d\" $HOME `x` \\n #h =e {lit} "
ENV = {
    "GC_API_ROOT": "https://gc.example/api/v1",
    "GC_SESSION": "session-{job_id}-{job_name}-{flavor}-{uid}",
    "GC_TOKEN": {"value": "{user}-" + SECRET, "secret": True},
    "GC_ODD": ODD.replace("{lit}", "{{lit}}"),
}
FLAVORS = [
    {"name": "small", "cpus": 1, "memory": "256M", "max_time": "1h"},
    {"name": "pool", "cpus": 1, "memory": "256M", "max_time": "1h",
     "env": {"GC_API_ROOT": "https://pool.example/api", "GC_POOL": {"value": "{user}-" + FLAVOR_SECRET, "secret": True}}},
]


@pytest.fixture
def env_daemon(images, users, daemon_dir):
    d = Daemon(daemon_dir, {"env": ENV, "flavors": FLAVORS, "default_flavor": "small"}).start()
    yield d
    d.finish()


def printed_env(d, job, user):
    """NAME -> value of the GC_ variables the job printed (one `NAME=[value]` line each)."""
    out = d.cli("logs", "-j", str(job), user=user).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("GC_"))


# The job prints each as NAME=[value] ("unset" when it has none).
PRINT = "; ".join(f"printf '%s=[%s]\\n' {v} \"${{{v}-unset}}\"" for v in ("GC_API_ROOT", "GC_SESSION", "GC_TOKEN", "GC_ODD", "GC_POOL"))


def command_lines():
    """Every process's command line on this machine, as any local user can read them."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return lines


def test_a_job_sees_the_resolved_values_and_no_argv_shows_a_secret(env_daemon, users):
    d, alice = env_daemon, users["jmtest1"]
    job = d.cli_json("submit", "-i", "jt", "-j", "envjob", "--", PRINT + "; sleep 4", user=alice)["job"]
    assert d.wait_state(job["id"], ["RUNNING"], user=alice) == "RUNNING"
    if BACKEND == "local":
        # While it runs: the engine client's command line names the variables, never a value.
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline and not seen:
            lines = command_lines()
            seen = [line for line in lines if "--env=GC_TOKEN" in line]
            assert not [line for line in lines if SECRET in line or "gc.example" in line], lines
            time.sleep(0.1)
        assert seen, "no run client with --env=GC_TOKEN was seen"
    assert d.cli("wait", "-j", "envjob", user=alice).returncode == 0
    got = printed_env(d, job["id"], alice)
    assert got["GC_API_ROOT"] == "[https://gc.example/api/v1]"
    assert got["GC_SESSION"] == f"[session-{job['id']}-envjob-small-{alice.pw_uid}]"
    assert got["GC_TOKEN"] == f"[jmtest1-{SECRET}]"
    assert got["GC_ODD"] == f"[{ODD}]"
    assert got["GC_POOL"] == "[unset]"  # another flavor's

    details = d.cli_json("details", "-j", "envjob", user=alice)
    shown = {v["name"]: (v["value"], v["secret"]) for v in details["platform_env"]}
    assert shown == {"GC_API_ROOT": ("https://gc.example/api/v1", False),
                     "GC_SESSION": (f"session-{job['id']}-envjob-small-{alice.pw_uid}", False),
                     "GC_TOKEN": ("***", True), "GC_ODD": (ODD, False)}
    argv = details["job"]["argv"]
    assert "--env=GC_TOKEN" in argv and "--env=GC_API_ROOT" in argv
    assert SECRET not in json.dumps(details) and "gc.example/api/v1" not in json.dumps(argv)
    text = d.cli("details", "-j", "envjob", user=alice).stdout
    assert "Platform env:\n" in text and "  GC_TOKEN=*** (secret)\n" in text and "  GC_API_ROOT=https://gc.example/api/v1\n" in text
    assert SECRET not in text
    # Nowhere jobmand keeps or writes things: its database (every column of every row) and its log.
    with d.db() as db:
        for table in ("jobs", "job_events"):
            for row in db.execute(f"SELECT * FROM {table}"):
                assert SECRET not in " ".join(str(value) for value in tuple(row)), table
    assert SECRET not in d.log.read_text(errors="replace")
    # No file of the job's values is left behind (on Slurm: slurm/<id>.env).
    leftovers = [p for p in d.state.rglob("*") if p.is_file() and not p.name.endswith(".log") and SECRET.encode() in p.read_bytes()]
    assert leftovers == []


def test_a_flavor_overrides_the_global_entry_and_adds_its_own(env_daemon, users):
    d, bob = env_daemon, users["jmtest2"]
    job = d.cli_json("submit", "-i", "jt", "-j", "pooled", "-r", "pool", "--", PRINT, user=bob)["job"]
    assert d.cli("wait", "-j", "pooled", user=bob).returncode == 0
    got = printed_env(d, job["id"], bob)
    assert got["GC_API_ROOT"] == "[https://pool.example/api]"
    assert got["GC_POOL"] == f"[jmtest2-{FLAVOR_SECRET}]"
    assert got["GC_TOKEN"] == f"[jmtest2-{SECRET}]"
    assert got["GC_SESSION"] == f"[session-{job['id']}-pooled-pool-{bob.pw_uid}]"
    shown = {v["name"]: v["value"] for v in d.cli_json("details", "-j", "pooled", user=bob)["platform_env"]}
    assert shown["GC_POOL"] == "***" and shown["GC_API_ROOT"] == "https://pool.example/api"
    assert FLAVOR_SECRET not in d.log.read_text(errors="replace")


def test_a_users_env_of_a_name_the_admin_sets_is_refused(env_daemon, users):
    d, alice = env_daemon, users["jmtest1"]
    for args, name in ((["-e", "GC_TOKEN=mine"], "GC_TOKEN"), (["-r", "pool", "-e", "GC_POOL=x"], "GC_POOL")):
        refused = d.cli("submit", "-i", "jt", *args, "--", "true", user=alice)
        assert refused.returncode == 2, (refused.returncode, refused.stdout)  # INVALID_ARGUMENT
        assert f"environment variable '{name}' is set by the platform" in refused.stderr, refused.stderr
        assert "cannot be set with -e" in refused.stderr
    # Another flavor's name is the user's own.
    ok = d.cli_json("submit", "-i", "jt", "-r", "small", "-e", "GC_POOL=mine", "--", PRINT, user=alice)["job"]
    assert d.cli("wait", "-j", str(ok["id"]), user=alice).returncode == 0
    assert printed_env(d, ok["id"], alice)["GC_POOL"] == "[mine]"
    assert [j["id"] for j in d.cli_json("list", user=alice)["jobs"]] == [ok["id"]]  # nothing else was queued


def test_dry_run_shows_the_platform_env_without_its_secrets(env_daemon, users):
    d, alice = env_daemon, users["jmtest1"]
    text = d.cli("submit", "-i", "jt", "--dry-run", "-r", "pool", "--", "true", user=alice)
    assert text.returncode == 0, text.stderr
    assert "Platform env" in text.stdout and "GC_POOL=*** (secret)" in text.stdout and "--env=GC_POOL" in text.stdout
    as_json = d.cli("--json", "submit", "-i", "jt", "--dry-run", "-r", "pool", "--", "true", user=alice)
    reply = json.loads(as_json.stdout)
    assert {v["name"]: v["value"] for v in reply["platform_env"]}["GC_TOKEN"] == "***"
    for out in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        assert SECRET not in out and FLAVOR_SECRET not in out


def test_check_config_shows_secrets_as_stars(daemon_dir):
    path = daemon_dir / "jobman.json"
    path.write_text(json.dumps({"state_dir": str(daemon_dir / "state"), "env": ENV, "flavors": FLAVORS, "default_flavor": "small"}))
    result = subprocess.run([str(JOBMAND), "--config", str(path), "--check-config"], capture_output=True, text=True, timeout=60)
    shown = json.loads(result.stdout)
    assert shown["env"]["GC_TOKEN"] == {"value": "***", "secret": True}
    assert shown["env"]["GC_API_ROOT"] == "https://gc.example/api/v1"
    assert SECRET not in result.stdout + result.stderr and FLAVOR_SECRET not in result.stdout + result.stderr
