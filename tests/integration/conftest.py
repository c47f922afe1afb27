"""Fixtures for jobman's end-to-end tests: a real jobmand in the foreground on a temp socket
and state dir, a real container engine, busybox images built locally, and real system users.

Environment:
  JOBMAN_BUILD_DIR   where cli/jobman and daemon/jobmand are (default: ../../build)
  JOBMAN_TEST_ENGINE podman (default) or docker: docker starts a private dockerd for the
                     session (engines.py holds every difference between the engines)
  JOBMAN_TEST_BACKEND local (default) or slurm: jobmand hands its jobs to the Slurm cluster
                     that tests/slurm/cluster.sh runs on this host (SLURM_CONF from it), whose
                     nodes run the same engine; tests of a local-only mechanism are marked
                     only_backend("local") and deselected, test_slurm.py runs only there
  JOBMAN_TEST_ENGINE_GLOBAL_ARGS / JOBMAN_TEST_ENGINE_RUN_ARGS
                     space-separated engine args for this machine (defaults suit a hybrid
                     cgroup v1 host: podman --runtime runc; explicit ulimits for both)

If the engine is not installed the session ends at once with exit status 77 (ctest: skipped);
if it is installed but does not work (dockerd does not start), every test fails.
"""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import engines

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("JOBMAN_BUILD_DIR", REPO / "build")).resolve()
JOBMAN = BUILD / "cli" / "jobman"
JOBMAND = BUILD / "daemon" / "jobmand"
TEST_ENGINE = engines.from_env()  # the engine description: kind, binary, args, private daemon
ENGINE_KIND = TEST_ENGINE.kind    # engine.kind: "podman" or "docker"
ENGINE_BINARY = TEST_ENGINE.binary  # engine.binary, argv[0] of every engine command: podman, /usr/bin/docker
ENGINE = TEST_ENGINE.name         # == ENGINE_KIND, and also == ENGINE_BINARY (engines.EngineName)
GLOBAL_ARGS = TEST_ENGINE.global_args  # the same list: docker's `-H unix://...` is added once dockerd runs
RUN_ARGS = TEST_ENGINE.run_args

BACKEND = os.environ.get("JOBMAN_TEST_BACKEND", "local")
SLURM_DIR = Path(os.environ.get("JOBMAN_SLURM_DIR", "/var/tmp/jobman-slurm"))
if BACKEND == "slurm":
    os.environ.setdefault("SLURM_CONF", str(SLURM_DIR / "slurm.conf"))

TEST_USERS = ("jmtest1", "jmtest2", "jmadmin")
ADMIN_GROUP = "jmtest-admins"


def engine(*args, check=True, **kw):
    """Runs `<engine> <global args> ARGS...` against the engine jobmand uses in these tests."""
    return TEST_ENGINE.run(*args, check=check, **kw)


def backend_config():
    """The config's `backend` section for this session."""
    if BACKEND != "slurm":
        return {"kind": "local"}
    # No slurmdbd on the test cluster: sacct reads jobcomp/filetxt (-c).
    return {"kind": "slurm", "sacct_args": ["-c"], "poll_interval": "250ms"}


def pytest_sessionstart(session):
    missing = TEST_ENGINE.missing()
    if missing:
        pytest.exit(f"skipping the {ENGINE_KIND} end-to-end suite: {missing}", returncode=77)
    if BACKEND == "slurm":
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
        if "is UP" not in ping.stdout:
            # Installed but not running is a failure, not a skip: CI starts the cluster first.
            pytest.exit(f"JOBMAN_TEST_BACKEND=slurm, but slurmctld does not answer (start tests/slurm/cluster.sh): "
                        f"{ping.stdout}{ping.stderr}", returncode=1)


def pytest_configure(config):
    config.addinivalue_line("markers", "only_engine(kind): a test of one engine's own mechanism; the other engine's run deselects it")
    config.addinivalue_line("markers", "only_backend(kind): a test of one backend's own mechanism (local, slurm); other runs deselect it")


def pytest_collection_modifyitems(config, items):
    """Engine-specific tests are not collected for the other engine (shown as deselected,
    never as a skip that could hide a check meant to run)."""
    kept, other = [], []
    for item in items:
        marker = item.get_closest_marker("only_engine")
        backend = item.get_closest_marker("only_backend")
        wrong = (marker and marker.args[0] != ENGINE_KIND) or (backend and backend.args[0] != BACKEND)
        (other if wrong else kept).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = kept


def pytest_terminal_summary(terminalreporter):
    if TEST_ENGINE.startup:
        terminalreporter.write_line(f"engine: {TEST_ENGINE.startup}")
    terminalreporter.write_line(f"backend: {BACKEND}")


@pytest.fixture(scope="session", autouse=True)
def engine_service():
    """The engine's private daemon for the whole session (docker: dockerd; podman: none)."""
    problem = None
    try:
        TEST_ENGINE.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        problem = e
    if problem is not None:  # fails every test, once: pytest keeps a session fixture's error
        pytest.fail(f"{ENGINE_KIND} is installed but its daemon did not start: {problem}", pytrace=False)
    yield TEST_ENGINE
    TEST_ENGINE.stop()


def _busybox_rootfs(tmp: Path) -> Path:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    root = tmp / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "id", "ls", "sleep", "ip", "true", "false", "env", "printf", "head", "touch", "wc", "yes", "dd"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    tar = tmp / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


def _import(tar: Path, ref: str, labels: dict):
    changes = []
    for key, value in labels.items():
        changes += ["--change", f"LABEL {key}={value}"]
    changes += ["--change", 'ENTRYPOINT ["/bin/sh", "-c"]']
    engine("import", *TEST_ENGINE.spec.import_args, *changes, str(tar), ref)


@pytest.fixture(scope="session")
def images():
    """Test images: jt 1.0 and 2.0 (labelled), and one without a version label."""
    if not JOBMAN.exists() or not JOBMAND.exists():
        pytest.fail(f"build jobman first: {JOBMAN} / {JOBMAND} missing")
    with tempfile.TemporaryDirectory() as tmp:
        tar = _busybox_rootfs(Path(tmp))
        _import(tar, "localhost/jobman-test:1.0", {"name": "jt", "version": "1.0", "description": "test"})
        _import(tar, "localhost/jobman-test:2.0", {"name": "jt", "version": "2.0", "description": "test"})
        _import(tar, "localhost/jobman-unlabeled:1", {"name": "unlabeled"})
    yield {"name": "jt", "unlabeled": "localhost/jobman-unlabeled:1"}


@pytest.fixture(scope="session")
def users():
    """Real system users: two researchers and one admin (member of ADMIN_GROUP)."""
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root (they create users and start jobmand)")
    if subprocess.run(["getent", "group", ADMIN_GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", ADMIN_GROUP], check=True)
    for name in TEST_USERS:
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    subprocess.run(["usermod", "-a", "-G", ADMIN_GROUP, "jmadmin"], check=True)
    return {name: pwd.getpwnam(name) for name in TEST_USERS}


_daemon_logs = []  # the logs of the daemons started during the current test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tail of each jobmand log it started: in CI that
    log is all there is to tell why a job did not end."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for log in _daemon_logs:
            try:
                tail = log.read_text(errors="replace").splitlines()[-80:]
            except OSError:
                continue
            report.sections.append((f"jobmand log {log} (last 80 lines)", "\n".join(tail)))
    if call.when == "teardown":
        _daemon_logs.clear()


class Daemon:
    def __init__(self, tmp: Path, extra_config=None, env=None):
        """`env`: jobmand's environment (default: the tests'), which its engine commands inherit."""
        self.dir = tmp
        self.env = env
        self.dir.chmod(0o755)  # test users must reach the socket
        self.socket = tmp / "jobman.sock"
        self.state = tmp / "state"
        self.config_path = tmp / "jobman.json"
        config = {
            "socket": {"path": str(self.socket), "mode": "0666"},
            "admin_group": ADMIN_GROUP,
            "state_dir": str(self.state),
            "engine": TEST_ENGINE.config(),
            "backend": backend_config(),
            "images": {"repositories": ["localhost/"], "required_labels": ["name", "version"]},
            "limits": {"max_running": 4, "kill_grace": "2s"},
        }
        for key, value in (extra_config or {}).items():
            config[key] = value
        self.config_path.write_text(json.dumps(config, indent=2))
        self.proc = None
        self.log = tmp / "jobmand.log"
        _daemon_logs.append(self.log)

    def start(self):
        self.proc = subprocess.Popen([str(JOBMAND), "--config", str(self.config_path), "--foreground"],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=self.dir, env=self.env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jobmand exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if self.socket.exists() and self.cli("list").returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("jobmand did not answer within 20 s:\n" + self.log.read_text())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        return self.proc.returncode

    def finish(self):
        """Stops the daemon, removes what its jobs left on the engine, and checks that it
        exited 0 (a fixture's teardown). Returns its log."""
        rc = self.stop()
        self.remove_containers()
        log = self.log.read_text()
        assert rc == 0, f"jobmand exited {rc}:\n{log}"
        return log

    def cli(self, *args, user=None, timeout=120, env=None):
        cmd = [str(JOBMAN), "--socket", str(self.socket), *args]
        if user is not None:
            # Drop to the user's real uid, gid and groups, as a login would.
            cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

    def cli_json(self, *args, user=None):
        result = self.cli("--json", *args, user=user)
        assert result.returncode == 0, f"jobman {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        return json.loads(result.stdout)

    def instance(self):
        with self.db() as db:
            return db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]

    def remove_containers(self):
        """Removes what this daemon's jobs left on the engine (jobs still running at the end of a test)."""
        if (self.state / "jobman.db").exists():
            names = containers(self.instance())
            if names:
                engine("rm", "-f", *names, check=False)

    def db(self):
        conn = sqlite3.connect(self.state / "jobman.db")
        conn.row_factory = sqlite3.Row
        return conn

    def wait_state(self, job, states, timeout=30, user=None):
        deadline = time.monotonic() + timeout
        details = None
        while time.monotonic() < deadline:
            details = self.cli_json("details", "-j", str(job), user=user)["job"]
            if details["state"] in states:
                return details["state"]
            time.sleep(0.1)
        raise AssertionError(f"job {job} did not reach {states} within {timeout} s: it is {details['state']} "
                             f"({details.get('reason')!r})\njobmand's log ends:\n{self.log.read_text()[-3000:]}")


def unmount_under(path: Path):
    """Detaches every mount under `path`, deepest first: a daemon killed mid-test leaves its
    jobs' staging mounts (binds of users' directories) behind, and removing the tree
    through them would delete what they point to."""
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in sorted((t for t in targets if t.startswith(f"{path}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


@pytest.fixture
def daemon_dir():
    """A temp dir the test users can traverse (pytest's own tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="jobman-it-"))
    path.chmod(0o755)
    yield path
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(images, users, daemon_dir):
    d = Daemon(daemon_dir).start()
    yield d
    log = d.finish()
    assert "internal error" not in log.lower(), log


def containers(instance=None):
    """Names of jobman's containers on the engine, running or not (of one daemon's `instance`)."""
    label = f"label=jobman.instance={instance}" if instance else "label=jobman.job"
    return engine("ps", "-a", "--filter", label, "--format", "{{.Names}}", check=False).stdout.split()


def wait_for_container(name, present=True, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (name in containers()) == present:
            return
        time.sleep(0.1)
    raise AssertionError(f"container {name} {'never appeared' if present else 'is still there'} after {timeout} s")


def alice_datasets(daemon_dir, alice):
    """`alice`'s datasets under daemon_dir/data/<her name>/datasets (mine.txt in it, hers)
    and a root-only directory (secret.txt) to swap them for: (data, her dir, root-only dir)."""
    data = daemon_dir / "data"
    home = data / alice.pw_name
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mine.txt").write_text("alice's data\n")
    for path in (home, home / "datasets", home / "datasets" / "mine.txt"):
        os.chown(path, alice.pw_uid, alice.pw_gid)
    data.chmod(0o755)
    secret = daemon_dir / "root-only"
    secret.mkdir()
    (secret / "secret.txt").write_text("root's secret\n")
    secret.chmod(0o700)
    return data, home, secret
