"""Notifications (issue 12, item 7): the admin's hook (config `notify`) runs once for each
job that asked (`submit --notify`, Slurm's --mail-type words) when it ends in a state it
asked for, as notify.user, with the job's JSON on stdin; a slow hook is killed at its
timeout while jobmand keeps answering; a failing one is logged and said in the job's
events; a restart runs what the killed daemon had not; the example hook (notify-mail) writes
a well-formed mail that no job value can add a header to."""
import email
import email.policy
import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Daemon

NOTIFY_MAIL = Path(__file__).resolve().parents[2] / "packaging" / "notify-mail"

# Records each call in OUT/call.*: who it ran as, its environment, then its stdin. Sleeps
# while CTL/sleep exists; fails (exit 3) for jobs named fails*.
HOOK = """#!/bin/sh
f=$(mktemp {out}/call.XXXXXX) || exit 9
{{ echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) pid=$$"; env | sort; echo "---stdin---"; cat; }} > "$f.part"
mv "$f.part" "$f"
if [ -e {ctl}/sleep ]; then sleep 30; fi
case $JOBMAN_JOB_NAME in
  fails*) echo "hook broke on purpose" >&2; exit 3 ;;
esac
exit 0
"""


class Hook:
    def __init__(self, root: Path):
        self.out = root / "out"
        self.ctl = root / "ctl"
        for d in (self.out, self.ctl):
            d.mkdir()
        self.out.chmod(0o777)
        self.path = root / "record-hook"
        self.path.write_text(HOOK.format(out=self.out, ctl=self.ctl))
        self.path.chmod(0o755)

    def calls(self):
        calls = []
        for f in sorted(self.out.glob("call.*"), key=lambda p: p.stat().st_mtime):
            text = f.read_text()
            if f.name.endswith(".part") or not text:
                continue  # being written
            head, _, stdin = text.partition("---stdin---\n")
            lines = head.splitlines()
            who = dict(part.split("=", 1) for part in lines[0].split(" ") if "=" in part)
            env = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
            calls.append({"who": who, "env": env, "input": json.loads(stdin) if stdin.strip() else None, "raw": lines[0]})
        return calls

    def calls_for(self, job_id):
        return [c for c in self.calls() if c["env"].get("JOBMAN_JOB_ID") == str(job_id)]


def events(d, job, user):
    """The reasons of job `job`'s events (an array element's too: `details` of an array's id is the array's)."""
    with d.db() as db:
        return [row[0] for row in db.execute("SELECT reason FROM job_events WHERE job_id = ? ORDER BY id", (job,))]


def wait_event(d, job, user, prefix, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events(d, job, user) if e.startswith(prefix)]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"job {job}: no event {prefix!r} within {timeout} s: {events(d, job, user)}\n"
                         f"{d.log.read_text()[-3000:]}")


@pytest.fixture
def hook(daemon_dir):
    (daemon_dir / "hook").mkdir()
    (daemon_dir / "hook").chmod(0o755)
    return Hook(daemon_dir / "hook")


def notify_daemon(daemon_dir, hook, **notify):
    return Daemon(daemon_dir, {"notify": dict({"command": [str(hook.path)], "user": "nobody", "timeout": "3s"}, **notify)}).start()


def test_a_failing_job_that_asked_is_notified_once_as_the_hook_user(images, users, daemon_dir, hook):
    d = notify_daemon(daemon_dir, hook)
    alice = users["jmtest1"]
    try:
        failing = d.cli_json("submit", "-i", "jt", "-j", "bad", "--notify", "FAIL", "-e", "TOKEN=s3cret", "--", "exit 3", user=alice)["job"]
        assert failing["notify"] == ["FAIL"]
        quiet = d.cli_json("submit", "-i", "jt", "-j", "quiet", "--", "exit 3", user=alice)["job"]
        fine = d.cli_json("submit", "-i", "jt", "-j", "fine", "--notify", "fail", "--", "true", user=alice)["job"]
        array = d.cli_json("submit", "-i", "jt", "-j", "arr", "--array", "0-1", "--notify", "END", "--", "true", user=alice)
        for job in (failing, quiet, fine):
            d.wait_state(job["id"], {"FAILED", "SUCCEEDED"}, user=alice)
        assert wait_event(d, failing["id"], alice, "notified") == ["notified (record-hook exit 0)"]
        elements = [e["id"] for e in d.cli_json("list", "--array", "arr", user=alice)["jobs"]]
        assert len(elements) == 2
        for element in elements:  # each element of an array is a job, notified for itself
            wait_event(d, element, alice, "notified")
        time.sleep(1)  # what else would have run by now
        calls = hook.calls_for(failing["id"])
        assert len(calls) == 1, hook.calls()
        call = calls[0]
        nobody = pwd.getpwnam("nobody")
        assert call["who"]["uid"] == str(nobody.pw_uid) and call["who"]["gid"] == str(nobody.pw_gid), call["raw"]
        assert call["who"]["groups"] == str(nobody.pw_gid), call["raw"]  # no supplementary groups (root's dropped)
        assert call["env"]["JOBMAN_NOTIFY_STATE"] == "FAILED"
        assert call["env"]["JOBMAN_USER"] == "jmtest1" and call["env"]["JOBMAN_JOB_NAME"] == "bad"
        assert call["env"]["JOBMAN_EXIT_CODE"] == "3"
        assert call["env"]["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        assert not any(k.startswith("JOBMAN_TEST") or k == "PYTEST_CURRENT_TEST" for k in call["env"]), call["env"]
        given = call["input"]
        assert given["event"] == "FAILED" and given["user"] == "jmtest1" and given["uid"] == alice.pw_uid
        assert given["job"]["id"] == failing["id"] and given["job"]["exit_code"] == 3 and given["job"]["state"] == "FAILED"
        assert "argv" not in given["job"] and "env" not in given["job"] and "s3cret" not in json.dumps(given)
        assert hook.calls_for(quiet["id"]) == [] and hook.calls_for(fine["id"]) == []
        assert len(hook.calls()) == 3  # the failing job and the two elements
        # Recorded as an event, the state unchanged; details says so.
        details = d.cli_json("details", "-j", str(failing["id"]), user=alice)["job"]
        assert details["state"] == "FAILED" and details["notified_at"] is not None
        assert "Notify:      FAIL (done " in d.cli("details", "-j", str(failing["id"]), user=alice).stdout
        # resubmit carries it over; a job file's `notify` key is read as --notify.
        again = d.cli_json("resubmit", "-j", "bad", user=alice)["job"]
        assert again["notify"] == ["FAIL"]
        spec = daemon_dir / "jobs.jsonl"
        spec.write_text(json.dumps({"image": "jt", "name": "from-file", "args": ["true"], "notify": "END,TIMEOUT"}) + "\n")
        spec.chmod(0o644)
        d.cli_json("submit", "--from", str(spec), user=alice)
        assert d.cli_json("details", "-j", "from-file", user=alice)["job"]["notify"] == ["END", "TIMEOUT"]
    finally:
        d.finish()


def test_a_hook_past_its_timeout_is_killed_and_jobmand_keeps_answering(images, users, daemon_dir, hook):
    d = notify_daemon(daemon_dir, hook, timeout="3s")
    alice = users["jmtest1"]
    try:
        (hook.ctl / "sleep").touch()
        job = d.cli_json("submit", "-i", "jt", "-j", "slow", "--notify", "END", "--", "true", user=alice)["job"]
        deadline = time.monotonic() + 30
        while not hook.calls_for(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hook.calls_for(job["id"]), d.log.read_text()[-2000:]
        pid = int(hook.calls_for(job["id"])[0]["who"]["pid"])
        # While the hook sleeps, jobmand answers at once (it never waits for a hook).
        for _ in range(5):
            started = time.monotonic()
            assert d.cli("list", user=alice).returncode == 0
            assert time.monotonic() - started < 2
            time.sleep(0.2)
        assert wait_event(d, job["id"], alice, "notification failed") == \
            ["notification failed: record-hook ran past notify.timeout and was killed"]
        assert "ran past notify.timeout" in d.log.read_text()
        for _ in range(50):  # its whole group was killed (sleep included)
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists()
        assert d.cli_json("details", "-j", str(job["id"]), user=alice)["job"]["state"] == "SUCCEEDED"
    finally:
        (hook.ctl / "sleep").unlink(missing_ok=True)
        d.finish()


def test_a_failing_hook_is_logged_and_the_jobs_events_say_so(images, users, daemon_dir, hook):
    d = notify_daemon(daemon_dir, hook)
    alice = users["jmtest1"]
    try:
        job = d.cli_json("submit", "-i", "jt", "-j", "fails-1", "--notify", "END", "--", "true", user=alice)["job"]
        assert wait_event(d, job["id"], alice, "notification failed") == ["notification failed: record-hook exit code 3"]
        log = d.log.read_text()
        assert "hook broke on purpose" in log  # its stderr is in jobmand's log, not in the user's events
        assert not any("hook broke" in e for e in events(d, job["id"], alice))
        assert d.cli_json("details", "-j", str(job["id"]), user=alice)["job"]["state"] == "SUCCEEDED"
        assert d.cli("list", user=alice).returncode == 0
    finally:
        d.finish()


def test_a_restart_runs_the_notification_the_killed_daemon_had_not(images, users, daemon_dir, hook):
    d = notify_daemon(daemon_dir, hook, timeout="60s")
    alice = users["jmtest1"]
    pid = None
    try:
        (hook.ctl / "sleep").touch()
        job = d.cli_json("submit", "-i", "jt", "-j", "interrupted", "--notify", "END", "--", "true", user=alice)["job"]
        deadline = time.monotonic() + 30
        while not hook.calls_for(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hook.calls_for(job["id"])
        pid = int(hook.calls_for(job["id"])[0]["who"]["pid"])
        d.stop(signal.SIGKILL)  # mid-hook: nothing recorded
        os.killpg(pid, signal.SIGKILL)  # (the orphaned hook, in a group of its own)
        (hook.ctl / "sleep").unlink()
        assert not any(e.startswith("notified") for e in [r["reason"] for r in d.db().execute(
            "SELECT reason FROM job_events WHERE job_id = ?", (job["id"],))])
        d.start()
        assert wait_event(d, job["id"], alice, "notified") == ["notified (record-hook exit 0)"]
        assert len(hook.calls_for(job["id"])) == 2  # at least once: the killed run and this one
        assert "notification the previous jobmand had not run" in d.log.read_text()
    finally:
        (hook.ctl / "sleep").unlink(missing_ok=True)
        d.finish()


def test_submit_notify_without_a_hook_is_refused_and_none_is_accepted(daemon, users):
    alice = users["jmtest1"]
    refused = daemon.cli("submit", "-i", "jt", "--notify", "END", "--", "true", user=alice)
    assert refused.returncode == 2 and "this platform has no notification hook (notify.command" in refused.stderr, refused.stderr
    unknown = daemon.cli("submit", "-i", "jt", "--notify", "END,BOGUS", "--", "true", user=alice)
    assert unknown.returncode == 2 and "unknown word 'BOGUS'" in unknown.stderr, unknown.stderr
    begin = daemon.cli("submit", "-i", "jt", "--notify", "BEGIN,END", "--", "true", user=alice)
    assert begin.returncode == 2 and "only when a job ends" in begin.stderr, begin.stderr
    job = daemon.cli_json("submit", "-i", "jt", "--notify", "NONE", "--", "true", user=alice)["job"]
    assert job["notify"] == []


def fake_sendmail(root: Path) -> Path:
    path = root / "sendmail"
    path.write_text(f"#!/bin/sh\nf=$(mktemp {root}/out/mail.XXXXXX)\nprintf '%s\\n' \"$@\" > \"$f.args\"\ncat > \"$f\"\n")
    path.chmod(0o755)
    return path


def parse_mail(text):
    return email.message_from_string(text, policy=email.policy.default)


def test_notify_mail_mails_the_owner_through_sendmail(images, users, daemon_dir, hook):
    hook_dir = hook.path.parent
    script = hook_dir / "notify-mail"
    script.write_bytes(NOTIFY_MAIL.read_bytes())
    script.chmod(0o755)
    sendmail = fake_sendmail(hook_dir)
    d = Daemon(daemon_dir, {"notify": {"command": [str(script), "--sendmail", str(sendmail)], "user": "nobody", "timeout": "10s"}}).start()
    alice = users["jmtest1"]
    try:
        job = d.cli_json("submit", "-i", "jt", "-j", "mailme", "--notify", "ALL", "--", "exit 4", user=alice)["job"]
        wait_event(d, job["id"], alice, "notified (notify-mail exit 0)")
        mails = [p for p in hook.out.glob("mail.*") if not p.name.endswith(".args")]
        assert len(mails) == 1
        assert Path(f"{mails[0]}.args").read_text().splitlines() == ["-i", "--", "jmtest1"]
        message = parse_mail(mails[0].read_text())
        assert message["To"] == "jmtest1"
        assert message["Subject"] == f"jobman: job {job['id']} (mailme) FAILED"
        assert "Exit code: 4" in message.get_content()
        # No sendmail: exits 0 and says so (the event is still "notified").
        d.stop()
        d.config_path.write_text(d.config_path.read_text().replace(str(sendmail), str(hook_dir / "no-sendmail")))
        d.start()
        other = d.cli_json("submit", "-i", "jt", "--notify", "END", "--", "true", user=alice)["job"]
        wait_event(d, other["id"], alice, "notified (notify-mail exit 0)")
        assert len([p for p in hook.out.glob("mail.*") if not p.name.endswith(".args")]) == 1
    finally:
        d.finish()


@pytest.mark.parametrize("name,reason", [
    ("x\r\nBcc: evil@example.org", "exit 3"),
    ("plain", "exit 3\n\nSubject: forged\r\nBcc: evil@example.org"),
    ("\x1b[2J\nTo: root", "r\x0bz"),
])
def test_notify_mail_cannot_be_header_injected(tmp_path, name, reason):
    (tmp_path / "out").mkdir()
    sendmail = fake_sendmail(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "JOBMAN_JOB_ID": "42", "JOBMAN_JOB_NAME": name, "JOBMAN_NOTIFY_STATE": "FAILED",
           "JOBMAN_USER": "alice", "JOBMAN_JOB_REASON": reason, "JOBMAN_EXIT_CODE": "3"}
    result = subprocess.run(["/bin/sh", str(NOTIFY_MAIL), "--sendmail", str(sendmail)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    mail = next(p for p in (tmp_path / "out").glob("mail.*") if not p.name.endswith(".args"))
    text = mail.read_text()
    head = text.split("\n\n", 1)[0]
    assert [line.split(":", 1)[0] for line in head.split("\n")] == ["To", "Subject", "Auto-Submitted", "Content-Type"], head
    assert "\r" not in text and "\x1b" not in text and "\x0b" not in text
    message = parse_mail(text)
    assert message["To"] == "alice" and message["Bcc"] is None
    assert message["Subject"].startswith("jobman: job 42 (") and message["Subject"].endswith(") FAILED")


@pytest.mark.parametrize("user", ["-oQ/tmp/x", "alice bob", "alice,root", "", "a\nb"])
def test_notify_mail_refuses_a_user_that_is_no_user_name(tmp_path, user):
    (tmp_path / "out").mkdir()
    sendmail = fake_sendmail(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "JOBMAN_JOB_ID": "42", "JOBMAN_USER": user, "JOBMAN_NOTIFY_STATE": "FAILED"}
    result = subprocess.run(["/bin/sh", str(NOTIFY_MAIL), "--sendmail", str(sendmail)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "not a user name" in result.stderr
    assert not list((tmp_path / "out").glob("mail.*"))
