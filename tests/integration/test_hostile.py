"""Hostile input against a real jobmand: each case asserts a clear error, no change to the
jobs, and a daemon that still answers another user (issue 9)."""
import json
import socket

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
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(daemon.socket))
    s.sendall(HELLO + b"".join(frames))
    data = b""
    try:
        while data.count(b"\n") < 1 + len(frames):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
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
