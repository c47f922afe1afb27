"""Hostile input, one row per case (issue 9): frames a local user can write to the socket,
CLI arguments, config files an admin could get wrong, paths and environment. Each row
asserts a clear error (the code and words that name the problem), no change to the jobs,
events or per-user counts, and a daemon that still answers another user."""
import json
import subprocess

import pytest

from conftest import JOBMAND, JOBMAN

OTHER = "jmtest2"


def snapshot(daemon):
    with daemon.db() as db:
        return (db.execute("SELECT count(*) FROM jobs").fetchone()[0],
                db.execute("SELECT count(*) FROM job_events").fetchone()[0],
                db.execute("SELECT coalesce(sum(stored_bytes), 0), coalesce(sum(log_bytes), 0) FROM user_usage").fetchone()[:])


def frames_as(daemon, user, frames, timeout=20):
    """Sends hello and `frames` on one connection from `user`'s own process (the daemon
    takes identity from the socket); returns the replies to `frames`."""
    script = ("import socket,sys,json\n"
              "frames=[bytes.fromhex(h) for h in sys.argv[2:]]\n"
              "s=socket.socket(socket.AF_UNIX); s.settimeout(15); s.connect(sys.argv[1])\n"
              "s.sendall(b'{\"id\":1,\"op\":\"hello\",\"args\":{\"version\":1}}\\n')\n"
              "f=s.makefile('rb')\n"
              "f.readline()\n"
              "for fr in frames:\n"
              "    s.sendall(fr)\n"
              "    line=f.readline()\n"
              "    sys.stdout.write(line.decode('utf-8','replace'))\n"
              "    sys.stdout.flush()\n")
    result = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                             "/usr/bin/python3", "-c", script, str(daemon.socket), *(f.hex() for f in frames)],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def frame(op, args=None, **top):
    body = {"id": 7, "op": op, **top}
    if args is not None:
        body["args"] = args
    return (json.dumps(body) + "\n").encode()


def submit(**args):
    return frame("submit", dict({"image": "jt"}, **args))


# (name, frame bytes, expected code, words the message must carry)
PROTOCOL = [
    ("unknown op", frame("format_disk"), "BAD_REQUEST", "format_disk"),
    ("unknown top-level field", frame("list", {}, sudo=True), "BAD_REQUEST", "sudo"),
    ("args null", b'{"id":7,"op":"list","args":null}\n', "BAD_REQUEST", "args"),
    ("args an array", b'{"id":7,"op":"list","args":[1]}\n', "BAD_REQUEST", "args"),
    ("op not a string", b'{"id":7,"op":["submit"]}\n', "BAD_REQUEST", "op"),
    ("id a fraction", b'{"id":7.5,"op":"list"}\n', "BAD_REQUEST", "id"),
    ("invalid UTF-8 in a string", b'{"id":7,"op":"submit","args":{"image":"jt","args":["\xff\xfe"]}}\n', "BAD_REQUEST", "JSON"),
    ("a NUL byte in an argument", submit(args=["a\u0000b"]), "INVALID_ARGUMENT", "NUL"),
    ("a NUL byte in an env value", submit(env=["A=a\u0000b"]), "INVALID_ARGUMENT", "NUL"),
    # No -i and no images.default on this platform (issue 10: with one, it is used).
    ("submit without image", frame("submit", {"args": ["x"]}), "INVALID_ARGUMENT", "images.default"),
    ("image of the wrong type", frame("submit", {"image": 5}), "BAD_REQUEST", "image"),
    ("args not all strings", submit(args=["a", 1]), "BAD_REQUEST", "args"),
    ("unknown submit argument", submit(privileged=True), "BAD_REQUEST", "privileged"),
    ("env without =", submit(env=["NOEQUALS"]), "INVALID_ARGUMENT", "NOEQUALS"),
    ("env with an empty name", submit(env=["=x"]), "INVALID_ARGUMENT", "environment"),
    ("env name with a space", submit(env=["A B=1"]), "INVALID_ARGUMENT", "A B"),
    ("env JOBMAN_ reserved", submit(env=["JOBMAN_JOB_ID=1"]), "INVALID_ARGUMENT", "reserved"),
    ("env steering GPUs", submit(env=["ROCR_VISIBLE_DEVICES=0"]), "INVALID_ARGUMENT", "reserved"),
    ("job name with a slash", submit(name="../etc/passwd"), "INVALID_ARGUMENT", "name"),
    ("job name of 300 bytes", submit(name="a" * 300), "INVALID_ARGUMENT", "name"),
    ("job name all digits (an id)", submit(name="12345"), "INVALID_ARGUMENT", "name"),
    ("negative time", submit(time="-5s"), "INVALID_ARGUMENT", "-5s"),
    ("time past int64", submit(time="99999999999999999999s"), "INVALID_ARGUMENT", "99999999999999999999s"),
    ("time over the flavor's max", submit(time="1000d"), "LIMIT_EXCEEDED", "max"),
    ("gpus out of range", submit(gpus=65), "INVALID_ARGUMENT", "gpus"),
    ("gpus on a machine without", submit(gpus=1), "LIMIT_EXCEEDED", "GPU"),
    ("unknown flavor", submit(flavor="huge; rm -rf /"), "INVALID_ARGUMENT", "flavor"),
    ("priority past int64", b'{"id":7,"op":"submit","args":{"image":"jt","priority":18446744073709551615}}\n', "INVALID_ARGUMENT", "priority"),
    ("priority above a user's range", submit(priority=500), "INVALID_ARGUMENT", "priority"),
    ("image path traversal", frame("submit", {"image": "../../etc/passwd"}), "IMAGE_NOT_FOUND", "../../etc/passwd"),
    ("image from a repository not allowed", frame("submit", {"image": "docker.io/library/busybox:latest"}), "IMAGE_NOT_FOUND", "busybox"),
    ("4097 arguments", submit(args=["x"] * 4097), "INVALID_ARGUMENT", "at most 4096"),
    ("after an unknown job", submit(after=["999999"]), "JOB_NOT_FOUND", "999999"),
    ("after with an unknown kind", submit(after=["sideways:1"]), "INVALID_ARGUMENT", "'sideways' is not a kind of dependency"),
    ("after with an empty kind", submit(after=[":1"]), "INVALID_ARGUMENT", "not a kind of dependency"),
    ("after with escapes in its kind", submit(after=["\u001b[2J:1"]), "INVALID_ARGUMENT", "\\e[2J"),
    ("after any of an unknown job", submit(after=["any:999999"]), "JOB_NOT_FOUND", "999999"),
    ("after notok of two kinds", submit(after=["notok:any:1"]), "INVALID_ARGUMENT", "job name 'any:1'"),
    ("after 101 jobs", submit(after=[str(i) for i in range(1, 102)]), "INVALID_ARGUMENT", "at most 100"),
    ("empty batch", frame("submit_batch", {"jobs": []}), "INVALID_ARGUMENT", "batch"),
    ("batch of non-objects", frame("submit_batch", {"jobs": [1, 2]}), "BAD_REQUEST", "jobs"),
    ("an array in a batch", frame("submit_batch", {"jobs": [{"image": "jt", "array": "0-3"}]}), "BAD_REQUEST", "array"),
    ("array not a string", submit(array=[0, 3]), "BAD_REQUEST", "array"),
    ("array of a million indices", submit(array="0-999999"), "INVALID_ARGUMENT", "limits.max_array_size"),
    ("array with a huge index", submit(array="0-99999999999999999999"), "INVALID_ARGUMENT", "not an index"),
    ("array spec of 60 KB", submit(array="1," * 30000), "INVALID_ARGUMENT", "4096"),
    ("array with a zero limit", submit(array="0-3%0"), "INVALID_ARGUMENT", "at least 1"),
    ("list of an array that is a job", frame("list", {"array": "999999"}), "JOB_NOT_FOUND", "999999"),
    ("list with an unknown state", frame("list", {"state": "PWNED"}), "INVALID_ARGUMENT", "PWNED"),
    ("list with a negative limit", frame("list", {"limit": -1}), "INVALID_ARGUMENT", "limit"),
    ("list of everyone by a user", frame("list", {"all_users": True}), "PERMISSION_DENIED", "admin"),
    ("list with an unknown view", frame("list", {"view": "everything"}), "INVALID_ARGUMENT", "everything"),
    ("list with a view not a string", frame("list", {"view": ["table"]}), "BAD_REQUEST", "view"),
    ("details of an empty reference", frame("details", {"job": ""}), "INVALID_ARGUMENT", "job"),
    ("details of a shell-looking reference", frame("details", {"job": "1; rm -rf /"}), "INVALID_ARGUMENT", "1; rm -rf /"),
    ("details with an unknown argument", frame("details", {"job": "999", "verbose": True}), "BAD_REQUEST", "verbose"),
    ("wait with an unknown argument", frame("wait", {"job": "999", "timeout": 5}), "BAD_REQUEST", "timeout"),
    ("logs with a negative tail", frame("logs", {"job": "1", "tail": -5}), "INVALID_ARGUMENT", "tail"),
    ("delete with both a job and all", frame("delete", {"job": "1", "all": True}), "INVALID_ARGUMENT", "either"),
    ("cleanup by a user", frame("cleanup", {}), "PERMISSION_DENIED", "admin"),
    ("image_details of an empty image", frame("image_details", {"image": ""}), "INVALID_ARGUMENT", "image"),
    ("retries negative", submit(retries=-1), "INVALID_ARGUMENT", "retries"),
    ("retries past the platform's most", submit(retries=50), "LIMIT_EXCEEDED", "limits.max_retries"),
    ("retries as a string", submit(retries="3"), "BAD_REQUEST", "retries"),
    ("resubmit of an empty reference", frame("resubmit", {"job": ""}), "INVALID_ARGUMENT", "job"),
    ("resubmit of a job that does not exist", frame("resubmit", {"job": "999999"}), "JOB_NOT_FOUND", "999999"),
    ("resubmit with args of its own", frame("resubmit", {"job": "999999", "args": ["rm", "-rf", "/"]}), "BAD_REQUEST", "args"),
    ("hold of an empty reference", frame("hold", {"job": ""}), "INVALID_ARGUMENT", "job"),
    ("hold of a job that does not exist", frame("hold", {"job": "999999"}), "JOB_NOT_FOUND", "999999"),
    ("hold with an unknown argument", frame("hold", {"job": "1", "forever": True}), "BAD_REQUEST", "forever"),
    ("release without a job", frame("release", {}), "BAD_REQUEST", "job"),
    ("hold as a number", submit(hold=1), "BAD_REQUEST", "hold"),
    # Notifications (issue 12, item 7): this daemon has no notify section.
    ("notify without a hook on this platform", submit(notify=["END"]), "INVALID_ARGUMENT", "notify.command"),
    ("notify with an unknown word", submit(notify=["END,PWNED"]), "INVALID_ARGUMENT", "'PWNED'"),
    ("notify at BEGIN", submit(notify=["BEGIN"]), "INVALID_ARGUMENT", "only when a job ends"),
    ("notify with escapes", submit(notify=["\u001b[2J"]), "INVALID_ARGUMENT", "\\e[2J"),
    ("notify with an empty word", submit(notify=["END,,FAIL"]), "INVALID_ARGUMENT", "empty word"),
    ("notify of 2,000 words", submit(notify=["END"] * 2000), "INVALID_ARGUMENT", "more than 16"),
    ("notify NONE and another", submit(notify=["NONE", "FAIL"]), "INVALID_ARGUMENT", "NONE cannot be combined"),
    ("notify as a string", submit(notify="END"), "BAD_REQUEST", "notify"),
    ("notify not all strings", submit(notify=["END", 1]), "BAD_REQUEST", "notify"),
    ("stats of another user", frame("stats", {"user": OTHER}), "PERMISSION_DENIED", "admin"),
    ("stats of another uid", frame("stats", {"user": "0"}), "PERMISSION_DENIED", "admin"),
    ("stats of an unknown user", frame("stats", {"user": "nosuchuser\u001b[2J" + "x" * 5000}), "INVALID_ARGUMENT", "no user named"),
    ("stats grouped by a column name", frame("stats", {"by": "uid; DROP TABLE jobs"}), "INVALID_ARGUMENT", "--by takes"),
    ("stats since after until", frame("stats", {"since": 2000, "until": 1000}), "INVALID_ARGUMENT", "--since is after --until"),
    ("stats since negative", frame("stats", {"since": -1}), "INVALID_ARGUMENT", "since"),
    ("stats until past year 9999", frame("stats", {"until": 2 ** 62}), "INVALID_ARGUMENT", "until"),
    ("stats since a string", frame("stats", {"since": "yesterday"}), "BAD_REQUEST", "since"),
    ("stats with an unknown argument", frame("stats", {"sql": "SELECT 1"}), "BAD_REQUEST", "sql"),
]


@pytest.mark.parametrize("name,data,code,words", PROTOCOL, ids=[row[0] for row in PROTOCOL])
def test_hostile_frame(daemon, users, name, data, code, words):
    before = snapshot(daemon)
    replies = frames_as(daemon, users["jmtest1"], [data])
    assert len(replies) == 1 and replies[0].get("ok") is False, replies
    error = replies[0]["error"]
    assert error["code"] == code and words.lower() in error["message"].lower(), error
    assert snapshot(daemon) == before
    alive = daemon.cli("list", user=users[OTHER])
    assert alive.returncode == 0, alive.stderr


def test_hostile_frame_from_an_admin(daemon, users):
    """Admins are trusted with more, not with overflows: an age in ms past int64 was UB."""
    before = snapshot(daemon)
    replies = frames_as(daemon, users["jmadmin"], [frame("cleanup", {"older_than": "999999999999d"})])
    assert replies[0]["ok"] is False and replies[0]["error"]["code"] == "INVALID_ARGUMENT", replies
    assert "100 years" in replies[0]["error"]["message"]
    assert snapshot(daemon) == before
    assert daemon.cli("list", user=users[OTHER]).returncode == 0


# CLI arguments: the client refuses what it can (exit 2) or passes the daemon's error on.
CLI = [
    ("unknown option", ["submit", "--privileged", "-i", "jt"], "privileged"),
    ("env flag without =", ["submit", "-i", "jt", "-e", "JUSTNAME", "--", "true"], "JUSTNAME"),
    ("a non-number limit", ["list", "--limit", "lots"], "limit"),
    ("a job reference with escapes", ["logs", "-j", "\x1b]0;x\x07"], "\\e]0;x\\x07"),
    ("time with garbage", ["submit", "-i", "jt", "-t", "2h; reboot", "--", "true"], "2h; reboot"),
    ("a socket path that is a directory", ["--socket", "/tmp", "list"], "/tmp"),
    ("a mistyped command", ["log", "-j", "1"], "unknown command 'log'; did you mean 'logs'?"),
    ("resubmit without a job", ["resubmit"], "--job"),
    ("retries that are not a number", ["submit", "-i", "jt", "--retries", "many", "--", "true"], "--retries"),
    ("stats since no time", ["stats", "--since", "last tuesday"], "--since 'last tuesday' is not a time"),
    ("stats until an impossible date", ["stats", "--until", "2026-02-30"], "'2026-02-30' is not a time"),
    ("stats by something else", ["stats", "--by", "name"], "--by"),
    ("stats of another user", ["stats", "--user", "root"], "admin group"),
    ("an unknown command with escapes", ["\x1b[2Jwipe"], "unknown command '\\e[2Jwipe'; the commands are: images,"),
]


@pytest.mark.parametrize("name,args,words", CLI, ids=[row[0] for row in CLI])
def test_hostile_cli(daemon, users, name, args, words):
    before = snapshot(daemon)
    if args[0] == "--socket":
        result = subprocess.run([str(JOBMAN), *args], capture_output=True, text=True, timeout=30)
    else:
        result = daemon.cli(*args, user=users["jmtest1"])
    assert result.returncode != 0, result.stdout
    assert words in result.stderr and "\x1b" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr
    assert snapshot(daemon) == before
    assert daemon.cli("list", user=users[OTHER]).returncode == 0


# Config files: --check-config refuses them, naming the key; jobmand would not start on them.
CONFIG = [
    ("nested 10,000 deep", '{"limits":' + "[" * 10000 + "]" * 10000 + "}", "deeper than"),
    ("engine flag that is not allowed", '{"engine":{"run_args":["--privileged"]}}', "engine.run_args"),
    ("a memory that is negative", '{"flavors":[{"name":"x","cpus":1,"memory":"-1G","gpus":0,"max_time":"1h"}],"default_flavor":"x"}', "memory"),
    ("a NUL in a run arg", '{"engine":{"run_args":["--hostname=a\\u0000b"]}}', "engine.run_args"),
    ("max_running past int", '{"limits":{"max_running":99999999999999999999}}', "limits.max_running"),
    ("a default flavor that does not exist", '{"default_flavor":"nosuch"}', "default_flavor"),
    # The admin's env (issue 12, item 11): names, placeholders and bytes are checked at load.
    ("env of a JOBMAN_ name", '{"env":{"JOBMAN_USER":"root"}}', "env.JOBMAN_USER"),
    ("env of a name with an escape", '{"env":{"A\\u001b[2J":"x"}}', "env.A\\e[2J"),
    ("env of a name the engine client reads", '{"env":{"LD_PRELOAD":"/tmp/x.so"}}', "env.LD_PRELOAD"),
    ("env steering GPUs", '{"env":{"NVIDIA_VISIBLE_DEVICES":"all"}}', "env.NVIDIA_VISIBLE_DEVICES"),
    ("env with an unknown placeholder", '{"env":{"A":"{home}"}}', "unknown placeholder {home}"),
    ("env with an unclosed brace", '{"env":{"A":"{user"}}', "env.A"),
    ("env with a NUL", '{"env":{"A":"a\\u0000b"}}', "env.A"),
    ("env with a line break", '{"env":{"A":"a\\nFORGED=1"}}', "line break"),
    ("env value of 1 MB", '{"env":{"A":"' + "x" * 1000000 + '"}}', "at most 4096"),
    ("env of 1000 variables", '{"env":{' + ",".join(f'"V{i}":"x"' for i in range(1000)) + '}}', "at most 64"),
    ("env as a list", '{"env":["A=1"]}', "env"),
    ("env value a number", '{"env":{"A":5}}', "env.A"),
    ("env secret not a boolean", '{"env":{"A":{"value":"x","secret":"yes"}}}', "env.A.secret"),
    ("notify as root", '{"notify":{"command":["/usr/lib/jobman/notify-mail"],"user":"root"}}', "notify.user"),
    ("notify as uid 0", '{"notify":{"command":["/usr/lib/jobman/notify-mail"],"user":0}}', "notify.user"),
    ("notify through PATH", '{"notify":{"command":["notify-mail"]}}', "notify.command"),
    ("notify as a user that does not exist", '{"notify":{"command":["/bin/true"],"user":"no-such-jobman-user"}}', "notify.user"),
    ("notify on a state that is not an end", '{"notify":{"command":["/bin/true"],"states":["RUNNING"]}}', "notify.states"),
    ("notify with no time", '{"notify":{"command":["/bin/true"],"timeout":"0s"}}', "notify.timeout"),
    ("flavor env of a JOBMAN_ name", '{"flavors":[{"name":"f","env":{"JOBMAN_JOB_ID":"1"}}]}', "flavors[0].env.JOBMAN_JOB_ID"),
]


@pytest.mark.parametrize("name,text,words", CONFIG, ids=[row[0] for row in CONFIG])
def test_hostile_config(tmp_path, name, text, words):
    path = tmp_path / "jobman.json"
    path.write_text(text)
    result = subprocess.run([str(JOBMAND), "--config", str(path), "--check-config"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout
    assert words in result.stderr + result.stdout, result.stderr
    assert str(path) in result.stderr + result.stdout
