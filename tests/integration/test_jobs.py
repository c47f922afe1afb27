"""Jobs end to end: real jobmand, real engine, real containers."""
import json
import os
import pty
import re
import subprocess
import time

from conftest import ENGINE, ENGINE_BINARY, JOBMAN, containers, engine, wait_for_container


def submit(daemon, *args, user=None):
    out = daemon.cli_json("submit", *args, user=user)
    return out["job"]


def test_output_comes_back_through_logs(daemon):
    result = daemon.cli("submit", "-i", "jt", "-j", "hello", "--wait", "--", "echo out-line; echo err-line >&2")
    assert result.returncode == 0, result.stderr
    logs = daemon.cli("logs", "-j", "hello")
    assert logs.returncode == 0
    assert "out-line\n" in logs.stdout and "err-line\n" in logs.stdout
    assert daemon.cli("logs", "-j", "hello", "--tail", "1").stdout.count("-line") == 1


def test_exit_codes_are_recorded(daemon):
    ok = submit(daemon, "-i", "jt", "--", "exit 0")
    bad = submit(daemon, "-i", "jt", "--", "exit 7")
    assert daemon.cli("wait", "-j", str(ok["id"])).returncode == 0
    waited = daemon.cli("wait", "-j", str(bad["id"]))
    assert waited.returncode == 1, "wait must fail for a failed job"
    assert "FAILED" in waited.stdout and "code 7" in waited.stdout
    with daemon.db() as db:
        rows = {r["id"]: r for r in db.execute("SELECT id, state, exit_code FROM jobs")}
        assert (rows[ok["id"]]["state"], rows[ok["id"]]["exit_code"]) == ("SUCCEEDED", 0)
        assert (rows[bad["id"]]["state"], rows[bad["id"]]["exit_code"]) == ("FAILED", 7)
        events = [r["to_state"] for r in db.execute("SELECT to_state FROM job_events WHERE job_id = ? ORDER BY id", (bad["id"],))]
    assert events == ["QUEUED", "STARTING", "RUNNING", "FAILED"]


def test_details_show_argv_with_every_forced_flag(daemon):
    job = submit(daemon, "-i", "jt", "--", "true")
    daemon.wait_state(job["id"], {"SUCCEEDED"})
    details = daemon.cli_json("details", "-j", str(job["id"]))
    argv = details["job"]["argv"]
    joined = " ".join(argv)
    for flag in ("--network none", "--cap-drop ALL", "--security-opt no-new-privileges", "--user 0:0", "--read-only",
                 "--tmpfs /tmp", "--pids-limit", "--init", "--pull never", "--log-driver none",
                 f"--label jobman.job={job['id']}", f"--name {details['job']['container']}"):
        assert flag in joined, f"{flag!r} missing from {argv}"
    assert argv[0] == ENGINE_BINARY
    assert argv[argv.index("run") + 1:argv.index("run") + 5] == ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    assert argv[-2].startswith("sha256:"), "jobs are pinned to the image id"
    assert argv[-1] == "true"
    assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]


def test_job_runs_as_submitter_without_network(daemon, users):
    alice = users["jmtest1"]
    result = daemon.cli("submit", "-i", "jt", "--wait", "--", "id -u; id -g; ls /sys/class/net", user=alice)
    assert result.returncode == 0, result.stderr + result.stdout
    job_id = result.stdout.split()[2]
    out = daemon.cli("logs", "-j", job_id, user=alice).stdout.split()
    assert out == [str(alice.pw_uid), str(alice.pw_gid), "lo"]


def test_unlabeled_image_is_refused_naming_the_label(daemon, images):
    result = daemon.cli("submit", "-i", images["unlabeled"], "--", "true")
    assert result.returncode == 4
    assert "'version' label" in result.stderr
    result = daemon.cli("submit", "-i", "unlabeled")
    assert result.returncode == 4 and "'version' label" in result.stderr
    with daemon.db() as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0, "a refused submit changes nothing"


def test_images_and_version_resolution(daemon):
    listing = daemon.cli_json("images")["images"]
    jt = [i for i in listing if i["name"] == "jt"]
    assert jt and jt[0]["versions"][:2] == ["2.0", "1.0"]
    assert "unlabeled" not in [i["name"] for i in listing]
    assert submit(daemon, "-i", "jt", "--dry-run")["image"] == "jt:2.0"
    assert submit(daemon, "-i", "jt:latest", "--dry-run")["image"] == "jt:2.0"
    assert submit(daemon, "-i", "jt:1.0", "--dry-run")["image"] == "jt:1.0"
    assert submit(daemon, "-i", "localhost/jobman-test:1.0", "--dry-run")["image"] == "jt:1.0"
    missing = daemon.cli("submit", "-i", "jt:9.9")
    assert missing.returncode == 3 and "available: 2.0, 1.0" in missing.stderr
    details = daemon.cli_json("image-details", "-i", "jt:1.0")
    assert details["labels"]["version"] == "1.0" and details["entrypoint"] == ["/bin/sh", "-c"]


def test_dry_run_runs_nothing(daemon):
    result = daemon.cli("submit", "-i", "jt", "--dry-run", "--", "echo hi")
    assert result.returncode == 0
    assert "--network" in result.stdout and "none" in result.stdout
    with daemon.db() as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_entrypoint_args_env_and_command_override(daemon):
    result = daemon.cli("submit", "-i", "jt", "-j", "envjob", "-e", "GREETING=hello world", "--wait", "--",
                        "echo $GREETING $OTHER $JOBMAN_JOB_NAME", "--", "OTHER=x=y")
    assert result.returncode == 0, result.stderr
    assert daemon.cli("logs", "-j", "envjob").stdout == "hello world x=y envjob\n"
    result = daemon.cli("submit", "-i", "jt", "-j", "override", "-c", "--wait", "--", "/bin/echo", "--privileged", "$HOME")
    assert result.returncode == 0, result.stderr
    assert daemon.cli("logs", "-j", "override").stdout == "--privileged $HOME\n", "no shell, no flag injection"
    bad = daemon.cli("submit", "-i", "jt", "-e", "JOBMAN_USER=root")
    assert bad.returncode == 2 and "reserved" in bad.stderr
    bad = daemon.cli("submit", "-i", "jt", "-e", "1X=2")
    assert bad.returncode == 2 and "'1X'" in bad.stderr


def test_job_names_are_validated_and_unique(daemon):
    assert daemon.cli("submit", "-i", "jt", "-j", "bad/name").returncode == 2
    assert daemon.cli("submit", "-i", "jt", "-j", "12").returncode == 2
    first = submit(daemon, "-i", "jt", "-j", "unique", "--", "true")
    dup = daemon.cli("submit", "-i", "jt", "-j", "unique")
    assert dup.returncode == 2 and "already have a job named 'unique'" in dup.stderr
    daemon.wait_state(first["id"], {"SUCCEEDED"})
    assert daemon.cli("delete", "-j", "unique").returncode == 0
    assert daemon.cli("details", "-j", "unique").returncode == 3
    submit(daemon, "-i", "jt", "-j", "unique", "--", "true")  # the name is free again


def test_delete_cancels_a_running_job_and_removes_its_container(daemon):
    job = submit(daemon, "-i", "jt", "--", "sleep 600")
    daemon.wait_state(job["id"], {"RUNNING"})
    container = job["container"]
    wait_for_container(container)
    assert daemon.cli("delete", "-j", str(job["id"])).returncode == 0
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        with daemon.db() as db:
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0]
        if state == "CANCELLED" and container not in containers():
            break
        time.sleep(0.2)
    assert state == "CANCELLED"
    assert container not in containers()
    assert daemon.cli("list").stdout.count("\n") == 1, "deleted jobs are not listed"


def test_logs_follow_until_the_job_ends(daemon):
    job = submit(daemon, "-i", "jt", "--", "for i in 1 2 3; do echo tick $i; sleep 0.3; done")
    result = daemon.cli("logs", "-j", str(job["id"]), "-f", timeout=60)
    assert result.returncode == 0
    assert result.stdout == "tick 1\ntick 2\ntick 3\n"


def test_users_cannot_see_each_others_jobs(daemon, users):
    alice, bob, admin = users["jmtest1"], users["jmtest2"], users["jmadmin"]
    a = submit(daemon, "-i", "jt", "-j", "alice-job", "--", "echo secret", user=alice)
    b = submit(daemon, "-i", "jt", "-j", "bob-job", "--", "true", user=bob)
    assert a["user"] == "jmtest1" and a["uid"] == alice.pw_uid
    bob_list = daemon.cli_json("list", user=bob)["jobs"]
    assert [j["id"] for j in bob_list] == [b["id"]]
    for command in (["details", "-j"], ["logs", "-j"], ["wait", "-j"], ["delete", "-j"]):
        for ref in (str(a["id"]), "alice-job"):
            result = daemon.cli(*command, ref, user=bob)
            assert result.returncode == 3, (command, ref, result.stdout, result.stderr)
            assert "secret" not in result.stdout
    denied = daemon.cli("list", "--all-users", user=bob)
    assert denied.returncode == 4
    for admin_user in (None, admin):  # root, and a member of admin_group
        everyone = {j["id"] for j in daemon.cli_json("list", "--all-users", user=admin_user)["jobs"]}
        assert {a["id"], b["id"]} <= everyone
    daemon.wait_state(a["id"], {"SUCCEEDED"}, user=admin)
    assert daemon.cli("logs", "-j", str(a["id"]), user=admin).stdout == "secret\n"
    assert daemon.cli("details", "-j", str(a["id"]), user=alice).returncode == 0


def test_jobs_queue_behind_max_running(daemon):
    jobs = [submit(daemon, "-i", "jt", "--", "sleep 1") for _ in range(6)]
    time.sleep(0.5)
    with daemon.db() as db:
        running = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('STARTING', 'RUNNING')").fetchone()[0]
    assert running <= 4
    for job in jobs:
        assert daemon.cli("wait", "-j", str(job["id"])).returncode == 0


def on_tty(daemon, *args, **env):
    """Runs jobman with stdin and stdout on a pseudo-terminal; returns (status, what the
    terminal showed with its CR LF turned back into LF, stderr)."""
    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    environ.update(env)
    proc = subprocess.Popen([str(JOBMAN), "--socket", str(daemon.socket), *args], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, env=environ)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    err = proc.stderr.read().decode()
    return proc.wait(timeout=120), shown.decode().replace("\r\n", "\n"), err


ESC = "\x1b["


def test_a_terminal_gets_progress_and_colored_states_pipes_get_plain_text(daemon):
    job = submit(daemon, "-i", "jt", "-j", "tty-job", "--", "sleep 1")
    status, shown, _ = on_tty(daemon, "wait", "-j", str(job["id"]))
    assert status == 0, shown
    assert re.search(r"^\[\s*\d+s\] \x1b\[\d+m(QUEUED|STARTING|RUNNING)\x1b\[0m$", shown, re.M), shown
    assert f"Job {job['id']} (tty-job) {ESC}32mSUCCEEDED{ESC}0m" in shown

    # NO_COLOR keeps the progress lines and drops the colors; so does TERM=dumb.
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        status, shown, _ = on_tty(daemon, "submit", "-i", "jt", "--wait", "--", "sleep 1", **env)
        assert status == 0, shown
        assert ESC not in shown, (env, shown)
        assert re.search(r"^\[\s*\d+s\] RUNNING$", shown, re.M), (env, shown)
        assert re.search(r"^Job \d+ \(\S+\) SUCCEEDED", shown, re.M), (env, shown)

    # A pipe: the final line only, never an escape.
    piped = daemon.cli("submit", "-i", "jt", "--wait", "--", "exit 3")
    assert piped.returncode == 1 and ESC not in piped.stdout
    assert re.fullmatch(r"Submitted job (\d+) \(\S+\) with image jt:2.0\nJob \1 \(\S+\) FAILED: the job exited with exit code 3\n",
                        piped.stdout), piped.stdout

    # Tables color the state and still line up as the terminal shows them.
    status, shown, _ = on_tty(daemon, "list")
    assert status == 0
    assert f"{ESC}32mSUCCEEDED{ESC}0m" in shown and f"{ESC}31mFAILED{ESC}0m" in shown
    plain = re.sub(r"\x1b\[\d+m", "", shown).splitlines()
    column = plain[0].index("EXIT")
    assert all(len(line) > column and line[column - 2:column] == "  " for line in plain[1:]), plain
    assert ESC not in daemon.cli("list").stdout
    status, shown, _ = on_tty(daemon, "--json", "list")
    assert status == 0 and ESC not in shown


def test_tmp_is_a_writable_tmpfs_for_the_submitter(daemon, users):
    """The test image's /tmp is root's, mode 0755 (as many images have it): the job's /tmp is
    still a tmpfs the submitter can write (runc 1.1 applies the image dir's mode to it)."""
    alice = users["jmtest1"]
    result = daemon.cli("submit", "-i", "jt", "--wait", "--",
                        "echo data > /tmp/f && cat /tmp/f && grep ' /tmp ' /proc/mounts | cut -d' ' -f3 && "
                        "ls -ldn /tmp | tr -s ' ' | cut -d' ' -f3", user=alice)
    assert result.returncode == 0, result.stdout + result.stderr
    job = result.stdout.split()[2]
    logs = daemon.cli("logs", "-j", job, user=alice).stdout.split()
    assert logs == ["data", "tmpfs", str(alice.pw_uid)], logs


def test_every_job_command_takes_chaimeleons_job_name_spelling(daemon, users):
    """CHAIMELEON's jobman spells -j as --job-name on every command (issue 10)."""
    alice = users["jmtest1"]
    daemon.cli_json("submit", "--job-name", "spelled", "-i", "jt", "--", "echo spelled-out", user=alice)
    assert daemon.cli("wait", "--job-name", "spelled", user=alice).returncode == 0
    assert daemon.cli_json("details", "--job-name", "spelled", user=alice)["job"]["state"] == "SUCCEEDED"
    assert "spelled-out" in daemon.cli("logs", "--job-name", "spelled", user=alice).stdout
    assert daemon.cli("delete", "--job-name", "spelled", user=alice).returncode == 0
    assert daemon.cli("details", "--job-name", "spelled", user=alice).returncode == 3
