"""The daemon itself: bad clients, bad config, restarts."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import JOBMAN, JOBMAND, Daemon, containers, wait_for_container


def raw(daemon, payload: bytes, read=True, lines=1, timeout=5):
    """Sends `payload` on a new connection; returns what came back until `lines` whole lines."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(daemon.socket))
    s.sendall(payload)
    data = b""
    if read:
        try:
            while data.count(b"\n") < lines or not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    s.close()
    return data


def test_garbage_on_the_socket_leaves_the_daemon_serving(daemon):
    hello = b'{"id":1,"op":"hello","args":{"version":1}}\n'
    reply = json.loads(raw(daemon, b"not json\n"))
    assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
    reply = json.loads(raw(daemon, b'{"id":1,"op":"list"}\n'))
    assert "hello" in reply["error"]["message"]
    reply = json.loads(raw(daemon, b'{"id":1,"op":"hello","args":{"version":99}}\n'))
    assert reply["error"]["code"] == "UNSUPPORTED_VERSION"
    reply = json.loads(raw(daemon, b"x" * (1024 * 1024 + 10)))
    assert reply["error"]["code"] == "FRAME_TOO_LARGE"
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.socket))
    s.sendall(hello + b'{"id":2,"op":"nope"}\n{"id":3,"op":"list","args":{"bogus":1}}\n\xff\xfe\n{"id":4,"op":"list","args":[]}\n')
    time.sleep(0.5)
    lines = s.recv(1 << 20).decode().splitlines()
    s.close()
    replies = [json.loads(line) for line in lines]
    assert replies[0]["ok"] is True
    assert [r["error"]["code"] for r in replies[1:]] == ["BAD_REQUEST"] * 4
    raw(daemon, hello + b'{"id":2,"op":"submit","args":{"image":"jt"', read=False)  # half a frame, then gone
    raw(daemon, b"", read=False)
    assert daemon.cli("images").returncode == 0
    assert daemon.proc.poll() is None


def test_many_connections_at_once(daemon):
    sockets = []
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(daemon.socket))
        sockets.append(s)
    assert daemon.cli("list").returncode == 0
    for s in sockets:
        s.close()


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "bad.json"
    cases = {
        '{"engine": {"kind": "dockr"}}': "engine.kind",
        '{"limits": {"max_running": 0}}': "limits.max_running",
        '{"sokcet": {}}': "sokcet",
        '{"engine": {"run_args": ["--privileged"]}}': "--privileged",
        '{"state_dir": "relative"}': "state_dir",
        "{": "not valid JSON",
    }
    for text, key in cases.items():
        cfg.write_text(text)
        result = subprocess.run([str(JOBMAND), "--config", str(cfg)], capture_output=True, text=True, timeout=10)
        assert result.returncode != 0
        assert key in result.stderr, (text, result.stderr)
    assert not (tmp_path / "state").exists()
    cfg.write_text('{"state_dir": "%s/state"}' % tmp_path)
    result = subprocess.run([str(JOBMAND), "--config", str(cfg), "--check-config"], capture_output=True, text=True)
    assert result.returncode == 0 and json.loads(result.stdout)["limits"]["max_running"] == 2


def test_cli_reports_an_unreachable_daemon(tmp_path):
    result = subprocess.run([str(JOBMAN), "--socket", str(tmp_path / "none.sock"), "list"], capture_output=True, text=True)
    assert result.returncode == 5
    assert result.stderr.startswith("jobman: error: cannot reach jobmand") and "jobmand" in result.stderr


def test_second_daemon_on_the_same_socket_is_refused(daemon):
    result = subprocess.run([str(JOBMAND), "--config", str(daemon.config_path)], capture_output=True, text=True, timeout=10)
    assert result.returncode != 0 and "already listening" in result.stderr
    assert daemon.cli("list").returncode == 0


def test_restart_readopts_a_running_job(images, users, daemon_dir):
    d = Daemon(daemon_dir).start()
    try:
        job = d.cli_json("submit", "-i", "jt", "--", "echo before; sleep 2; echo after")["job"]
        d.wait_state(job["id"], {"RUNNING"})
        wait_for_container(job["container"])
        assert d.stop() == 0  # SIGTERM: containers keep running
        assert job["container"] in containers()
        d.start()
        assert d.cli("wait", "-j", str(job["id"]), timeout=60).returncode == 0
        assert d.cli("logs", "-j", str(job["id"])).stdout == "before\nafter\n"
        wait_for_container(job["container"], present=False)
    finally:
        d.stop()
        d.remove_containers()


def test_kill_9_while_running_then_restart(images, users, daemon_dir):
    d = Daemon(daemon_dir).start()
    try:
        job = d.cli_json("submit", "-i", "jt", "--", "sleep 1; echo done")["job"]
        d.wait_state(job["id"], {"RUNNING"})
        d.stop(signal.SIGKILL)
        time.sleep(2)  # the job ends while no daemon runs
        d.start()
        assert d.cli("wait", "-j", str(job["id"]), timeout=60).returncode == 0
        assert d.cli("logs", "-j", str(job["id"])).stdout == "done\n"
    finally:
        d.stop()
        d.remove_containers()


def test_list_s_table_view_sends_what_the_table_shows(daemon):
    """Issue 12, item 9: `jobman list` asks for view "table" (a dozen fields a job);
    --json and a request without a view get every field, as before."""
    long_arg = "x" * 20000
    job = daemon.cli_json("submit", "-i", "jt", "-j", "wide", "-e", "BIG=" + "y" * 5000, "--", "echo " + long_arg)["job"]
    daemon.wait_state(job["id"], {"SUCCEEDED"})
    hello = b'{"id":1,"op":"hello","args":{"version":1}}\n'
    table = json.loads(raw(daemon, hello + b'{"id":2,"op":"list","args":{"view":"table"}}\n', lines=2).splitlines()[1])
    full = json.loads(raw(daemon, hello + b'{"id":2,"op":"list"}\n', lines=2).splitlines()[1])
    row, whole = table["result"]["jobs"][0], full["result"]["jobs"][0]
    assert set(row) == {"id", "name", "user", "uid", "gid", "image", "flavor", "state", "held", "exit_code", "array",
                        "submitted_at", "started_at", "ended_at"}, row
    assert {k: whole[k] for k in row} == row
    assert "args" in whole and "env" in whole and "argv" not in whole
    assert len(json.dumps(row)) < 400 < 20000 < len(json.dumps(whole))
    # The CLI's table and --json: the same job, the table from the lean view.
    text = daemon.cli("list").stdout
    assert "wide" in text and "SUCCEEDED" in text and long_arg not in text, text
    assert daemon.cli_json("list")["jobs"][0]["args"] == whole["args"]


def _submit_at_once(d, n, prefix, user_args=None):
    """n submits at once, each on its own connection (threads): the replies, in order."""
    import threading
    replies = [None] * n
    def one(i):
        frame = json.dumps({"id": 2, "op": "submit", "args": {"image": "jt", "name": f"{prefix}{i}", "args": ["true"]}}).encode()
        try:
            out = raw(d, b'{"id":1,"op":"hello","args":{"version":1}}\n' + frame + b"\n", lines=2, timeout=30)
            replies[i] = json.loads(out.splitlines()[1])
        except (ValueError, IndexError, OSError):
            replies[i] = None
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def test_concurrent_submits_keep_the_queue_limit_and_survive_a_kill(users, images, daemon_dir):
    """Issue 12, item 10: submits at once share one commit (store::GroupCommit); the
    per-user queue limit still holds exactly, and what was acknowledged is in the
    database after a kill -9."""
    d = Daemon(daemon_dir, {"limits": {"max_running": 1, "max_queued_per_user": 10}}).start()
    try:
        blocker = d.cli_json("submit", "-i", "jt", "--", "sleep 600")["job"]["id"]
        d.wait_state(blocker, {"RUNNING"})
        replies = _submit_at_once(d, 25, "q")
        ok = [r for r in replies if r and r["ok"]]
        refused = [r for r in replies if r and not r["ok"]]
        assert len(ok) == 10 and len(refused) == 15, replies
        assert {r["error"]["code"] for r in refused} == {"LIMIT_EXCEEDED"}
        assert all("max_queued_per_user" in r["error"]["message"] for r in refused)
        # Acknowledged, then killed at once: every acknowledged job is there after a restart.
        acked = {r["result"]["job"]["id"]: r["result"]["job"]["name"] for r in ok}
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.start()
        with d.db() as db:
            stored = dict(db.execute("SELECT id, name FROM jobs WHERE deleted_at IS NULL"))
        assert all(stored.get(i) == name for i, name in acked.items()), (acked, stored)
        assert len(stored) == 11  # the blocker and the ten
    finally:
        d.finish()
