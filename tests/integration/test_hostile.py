"""Hostile input against a real jobmand: each case asserts a clear error, no change to the
jobs, and a daemon that still answers another user (issue 9)."""
import json
import socket
import subprocess
import time

import pytest

from conftest import Daemon

from test_daemon import raw

HELLO = b'{"id":1,"op":"hello","args":{"version":1}}\n'


def jobs_in_db(daemon):
    with daemon.db() as db:
        return db.execute("SELECT count(*) FROM jobs").fetchone()[0]


def assert_alive(daemon, users):
    result = daemon.cli("list", user=users["jmtest2"])
    assert result.returncode == 0, f"jobmand stopped answering: {result.stderr}\n{daemon.log.read_text()[-3000:]}"


def session(daemon, *frames: bytes):
    """Sends hello and then `frames` on one connection; returns the reply lines."""
    data = raw(daemon, HELLO + b"".join(frames), lines=1 + len(frames), timeout=10)
    return [json.loads(line) for line in data.splitlines() if line]


def test_v1_a_frame_nested_100000_deep_before_hello(daemon, users):
    frame = b'{"id":1,"op":"hello","args":{"x":' + b"[" * 100000 + b"]" * 100000 + b"}}\n"
    reply = json.loads(raw(daemon, frame))
    assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
    assert "deeper than 64 levels" in reply["error"]["message"]
    assert_alive(daemon, users)


def test_v1_deep_nesting_in_submit_args_and_env(daemon, users):
    before = jobs_in_db(daemon)
    deep_args = b'{"id":2,"op":"submit","args":{"image":"jt","args":' + b"[" * 60000 + b"]" * 60000 + b"}}\n"
    deep_env = b'{"id":3,"op":"submit","args":{"image":"jt","env":{"A":' + b'{"a":' * 30000 + b"1" + b"}" * 30000 + b"}}}\n"
    replies = session(daemon, deep_args, deep_env)
    assert [r.get("ok") for r in replies] == [True, False, False], replies
    for reply in replies[1:]:
        assert reply["error"]["code"] == "BAD_REQUEST" and "deeper than" in reply["error"]["message"]
    assert jobs_in_db(daemon) == before
    assert_alive(daemon, users)


def test_v7_gpu_steering_environment_is_refused(daemon, users):
    before = jobs_in_db(daemon)
    for item in ("NVIDIA_VISIBLE_DEVICES=all", "CUDA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=all"):
        for how in (["-e", item, "--", "true"], ["--", "true", "--", item]):
            result = daemon.cli("submit", "-i", "jt", *how, user=users["jmtest1"])
            assert result.returncode != 0
            assert "reserved" in result.stderr and item.split("=")[0] in result.stderr, result.stderr
    assert jobs_in_db(daemon) == before
    assert_alive(daemon, users)


def test_users_words_reach_an_admins_terminal_escaped(daemon, users):
    """details/list print users' args and env: escape sequences come out as text."""
    arg = "echo hi \x1b[2J\x1b]0;owned\x07 \u009b31m"
    job = daemon.cli_json("submit", "-i", "jt", "-e", "NOTE=a\x1bb", "--", arg, user=users["jmtest1"])["job"]
    daemon.wait_state(job["id"], {"SUCCEEDED", "FAILED"}, user=users["jmtest1"])  # how busybox sh takes it does not matter
    details = daemon.cli("details", "-j", str(job["id"]), user=users["jmadmin"])
    assert details.returncode == 0, details.stderr
    assert "\x1b" not in details.stdout and "\x07" not in details.stdout and "\u009b" not in details.stdout
    assert "\\e[2J" in details.stdout and "NOTE=a\\eb" in details.stdout
    # --json keeps the exact bytes (JSON escapes them itself); logs show the job's output as written.
    raw_details = daemon.cli_json("details", "-j", str(job["id"]), user=users["jmadmin"])
    assert raw_details["job"]["args"] == [arg]
    # Errors that quote what was typed are escaped too.
    missing = daemon.cli("details", "-j", "no\x1b[2Jsuch", user=users["jmtest1"])
    assert missing.returncode != 0 and "\x1b" not in missing.stderr and "\\e[2J" in missing.stderr, missing.stderr


def test_submit_from_a_device_a_fifo_or_a_huge_file_is_refused(daemon, users, tmp_path):
    import os
    import subprocess
    before = jobs_in_db(daemon)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(17 << 20)
    cases = {"/dev/zero": "not a regular file", str(fifo): "not a regular file", str(tmp_path): "is a directory",
             str(huge): "at most 16777216", str(tmp_path / "missing"): "cannot open it"}
    for path, words in cases.items():
        try:
            result = daemon.cli("submit", "--from", path, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"--from {path} hangs")
        assert result.returncode != 0 and words in result.stderr, (path, result.stderr)
    assert jobs_in_db(daemon) == before
    assert_alive(daemon, users)


# --- V3: one user cannot lock others out -------------------------------------------------

LIMITS = {"max_connections": 24, "max_connections_per_user": 4, "admin_reserve": 4, "idle_timeout": "30s", "frame_timeout": "2s"}


@pytest.fixture
def limited(images, users, daemon_dir, request):
    limits = dict(LIMITS, **getattr(request, "param", {}))
    d = Daemon(daemon_dir, {"server": limits}).start()
    d.limits = limits
    yield d
    d.finish()


def hold_connections(daemon, user, n, payload):
    """`n` connections from `user` (its own process: the peer credentials are the process's)
    that each send `payload` and stay open until the returned process's stdin closes."""
    script = ("import socket,sys\n"
              "ss=[]\n"
              f"for _ in range({n}):\n"
              "    s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(bytes.fromhex(sys.argv[2])); ss.append(s)\n"
              "print('open', flush=True)\n"
              "sys.stdin.read()\n")
    proc = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                             "/usr/bin/python3", "-c", script, str(daemon.socket), payload.hex()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    time.sleep(0.3)  # the daemon has accepted them
    return proc


def release(proc):
    proc.stdin.close()
    proc.wait(timeout=10)


def until_accepted(daemon, user, seconds, why):
    deadline = time.monotonic() + seconds
    while daemon.cli("list", user=user).returncode != 0:
        assert time.monotonic() < deadline, why
        time.sleep(0.2)


def test_v3_closed_wait_streams_free_their_connections_at_once(limited, users):
    alice = users["jmtest1"]
    job = limited.cli_json("submit", "-i", "jt", "--", "sleep 60", user=alice)["job"]
    wait = HELLO + json.dumps({"id": 2, "op": "wait", "args": {"job": str(job["id"])}}).encode() + b"\n"
    holder = hold_connections(limited, alice, limited.limits["max_connections_per_user"], wait)
    try:
        refused = limited.cli("list", user=alice)
        assert refused.returncode != 0 and "max_connections_per_user" in refused.stderr, refused.stderr
        assert_alive(limited, users)  # bob
        assert limited.cli("list").returncode == 0  # root
    finally:
        release(holder)
    # The job has not changed state: only noticing the closed peers frees the slots.
    until_accepted(limited, alice, 3, "closed wait streams still hold alice's connections")
    assert limited.cli_json("details", "-j", str(job["id"]))["job"]["state"] in ("STARTING", "RUNNING")
    limited.cli("delete", "-j", str(job["id"]))


def test_v3_half_sent_frames_before_hello_are_capped_and_dropped(limited, users):
    alice = users["jmtest1"]
    holder = hold_connections(limited, alice, limited.limits["max_connections_per_user"], b'{"id":1,"op":"hel')
    try:
        assert limited.cli("list", user=alice).returncode != 0  # at her cap
        assert_alive(limited, users)
        # Within server.frame_timeout (2 s) the daemon closes them; alice may connect again.
        until_accepted(limited, alice, 6, "half frames held their connections past server.frame_timeout")
    finally:
        release(holder)


def test_v3_a_frame_trickled_slower_than_frame_timeout_is_cut_off(limited, users):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(limited.socket))
    s.sendall(HELLO)
    assert json.loads(s.recv(65536))["ok"] is True
    started = time.monotonic()
    reply = b""
    try:
        for byte in b'{"id":2,"op":"list"}':  # one byte every 0.5 s: 10 s for the frame
            s.sendall(bytes([byte]))
            time.sleep(0.5)
            s.setblocking(False)
            try:
                reply += s.recv(65536)
            except BlockingIOError:
                pass
            s.setblocking(True)
            if reply:
                break
    except (BrokenPipeError, ConnectionResetError):
        # The daemon wrote its error and closed between our last read and this write (the
        # timeout falls on a byte's time): the error is still ours to read.
        s.settimeout(5)
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    s.close()
    assert b"server.frame_timeout" in reply, reply
    assert time.monotonic() - started < 6
    assert_alive(limited, users)


@pytest.mark.parametrize("limited", [{"max_connections": 8, "max_connections_per_user": 8, "admin_reserve": 2}], indirect=True)
def test_v3_root_and_admins_keep_a_reserve(limited, users):
    alice, bob = users["jmtest1"], users["jmtest2"]
    holder = hold_connections(limited, alice, 6, b"")  # all that users may have together (8 - 2)
    try:
        refused = limited.cli("list", user=bob)
        assert refused.returncode != 0 and "kept for administrators" in refused.stderr, refused.stderr
        assert limited.cli("list").returncode == 0
        assert limited.cli("list", user=users["jmadmin"]).returncode == 0
    finally:
        release(holder)
    until_accepted(limited, bob, 3, "bob still refused after alice left")


# --- V4: replies stay small ----------------------------------------------------------------

def test_v4_list_of_jobs_with_huge_args_is_paged_not_one_huge_reply(daemon, users):
    alice = users["jmtest1"]
    blocker = daemon.cli_json("submit", "-i", "jt", "--", "sleep 120", user=alice)["job"]
    big = ["x" * (120 << 10), "y" * (120 << 10)]  # 240 KiB of args per job
    ids = []
    for _ in range(20):  # ~4.7 MiB of args in all; queued behind the blocker, never run
        job = daemon.cli_json("submit", "-i", "jt", "--after", str(blocker["id"]), "--", *big, user=alice)["job"]
        ids.append(job["id"])
    result = daemon.cli("--json", "list", "--limit", "100", user=alice)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < (4 << 20) + (512 << 10), len(result.stdout)
    first = json.loads(result.stdout)
    assert 1 <= len(first["jobs"]) < 21 and "next_before" in first
    assert all("argv" not in j for j in first["jobs"])
    seen = [j["id"] for j in first["jobs"]]
    while "next_before" in first and len(seen) < 21:
        first = daemon.cli_json("list", "--limit", "100", "--before", str(first["next_before"]), user=alice)
        seen += [j["id"] for j in first["jobs"]]
    assert sorted(seen) == sorted(ids + [blocker["id"]])
    # The table asks for its few fields only (view "table", issue 12 item 9): the jobs'
    # huge args are not sent, so all 21 fit in one reply and there is no page to go on to.
    human = daemon.cli("list", "--limit", "100", user=alice)
    assert human.returncode == 0 and "jobman list --before" not in human.stderr, human.stderr
    assert len(human.stdout.splitlines()) == 1 + 21 and len(human.stdout) < 10000, human.stdout[:500]
    daemon.cli("delete", "--all", user=alice)
    assert_alive(daemon, users)


# --- V6: the state disk cannot be filled -------------------------------------------------

@pytest.fixture
def quota_daemon(images, users, daemon_dir, request):
    limits = {"max_running": 1, "kill_grace": "2s", **getattr(request, "param", {})}
    d = Daemon(daemon_dir, {"limits": limits}).start()
    yield d
    d.finish()


@pytest.mark.parametrize("quota_daemon", [{"max_stored_bytes_per_user": "1M"}], indirect=True)
def test_v6_one_users_stored_args_are_capped(quota_daemon, users):
    alice, bob = users["jmtest1"], users["jmtest2"]
    blocker = quota_daemon.cli_json("submit", "-i", "jt", "--", "sleep 120", user=alice)["job"]
    big = ["x" * (100 << 10)]  # stored twice (args and argv): ~200 KiB a job
    accepted, refused = 0, None
    for _ in range(10):
        result = quota_daemon.cli("submit", "-i", "jt", "--after", str(blocker["id"]), "--", *big, user=alice)
        if result.returncode != 0:
            refused = result
            break
        accepted += 1
    assert refused is not None and 2 <= accepted <= 5, accepted
    assert "limits.max_stored_bytes_per_user" in refused.stderr, refused.stderr
    before = jobs_in_db(quota_daemon)
    assert quota_daemon.cli("submit", "-i", "jt", "--", *big, user=alice).returncode != 0
    assert jobs_in_db(quota_daemon) == before  # nothing stored
    # Another user is not held back by alice's quota.
    other = quota_daemon.cli("submit", "-i", "jt", "--", "true", user=bob)
    assert other.returncode == 0, other.stderr
    quota_daemon.cli("delete", "--all", user=alice)


@pytest.mark.parametrize("quota_daemon", [{"min_free_disk": "1000T"}], indirect=True)
def test_v6_no_submit_is_taken_when_the_state_disk_is_low(quota_daemon, users):
    before = jobs_in_db(quota_daemon)
    result = quota_daemon.cli("submit", "-i", "jt", "--", "true", user=users["jmtest1"])
    assert result.returncode != 0 and "limits.min_free_disk" in result.stderr, result.stderr
    assert jobs_in_db(quota_daemon) == before
    assert_alive(quota_daemon, users)


@pytest.mark.parametrize("quota_daemon", [{"max_log_bytes_per_user": "1M"}], indirect=True)
def test_v6_one_users_logs_are_capped_in_total(quota_daemon, users):
    alice, bob = users["jmtest1"], users["jmtest2"]
    # One job writes 3 MB: well under retention.max_log_bytes (1G), three times alice's total.
    first = quota_daemon.cli_json("submit", "--wait", "-i", "jt", "--", "yes 0123456789abcdef | head -c 3000000; echo LAST-LINE",
                                  user=alice)["job"]
    assert first["state"] == "SUCCEEDED", first
    log = quota_daemon.cli("logs", "-j", str(first["id"]), user=alice).stdout
    assert len(log) < 1_100_000, len(log)
    assert "truncated]" in log and log.rstrip().endswith("LAST-LINE"), log[-200:]
    with quota_daemon.db() as db:
        recorded = db.execute("SELECT log_bytes FROM jobs WHERE id = ?", (first["id"],)).fetchone()[0]
        total = db.execute("SELECT log_bytes FROM user_usage WHERE uid = ?", (alice.pw_uid,)).fetchone()[0]
    assert 900_000 < recorded < 1_100_000 and total == recorded, (recorded, total)
    # Small jobs are taken until the total is reached, then refused with the numbers.
    refused = None
    for _ in range(4):
        result = quota_daemon.cli("submit", "--wait", "-i", "jt", "--", "head -c 100000 /dev/zero | tr '\\0' x", user=alice)
        if result.returncode != 0 and "limits.max_log_bytes_per_user" in result.stderr:
            refused = result
            break
    assert refused is not None, "alice's logs passed limits.max_log_bytes_per_user and her submits were still taken"
    before = jobs_in_db(quota_daemon)
    assert quota_daemon.cli("submit", "-i", "jt", "--", "true", user=alice).returncode != 0
    assert jobs_in_db(quota_daemon) == before
    # Another user is not held back by alice's logs.
    other = quota_daemon.cli("submit", "--wait", "-i", "jt", "--", "echo hi", user=bob)
    assert other.returncode == 0, other.stderr
    assert_alive(quota_daemon, users)
