"""The container engines the end-to-end suite runs against, and everything that differs
between them, in one place.

JOBMAN_TEST_ENGINE picks one: `podman` (default) uses the machine's podman as it is;
`docker` starts a private dockerd for the session (Debian's docker.io, with its data root,
exec root, pidfile, socket and config file in a temp dir of its own, no iptables, no
bridge) and talks to it with Debian's /usr/bin/docker and `-H unix://<tmp>/docker.sock`.
"""
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Explicit ulimits: podman needs them on hybrid cgroup v1 hosts; docker accepts them too.
_ULIMITS = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"


@dataclass(frozen=True)
class EngineKind:
    kind: str                      # engine.kind in jobmand's config
    binary: str                    # engine.binary: argv[0] of every engine command
    default_global_args: str       # JOBMAN_TEST_ENGINE_GLOBAL_ARGS when unset
    default_run_args: str          # JOBMAN_TEST_ENGINE_RUN_ARGS when unset
    import_args: tuple = ()        # extra flags for `<engine> import`
    install_hint: str = ""         # what to install when the engine is missing
    service_binary: str = ""       # a daemon the tests start for the session, if any


KINDS = {
    "podman": EngineKind(kind="podman", binary="podman", default_global_args="--runtime runc",
                         default_run_args=_ULIMITS, import_args=("-q",),
                         install_hint="apt-get install podman runc"),
    # Debian's client, never the newer one that may be first on PATH: the client and
    # dockerd versions must match (the docker.io package installs both).
    "docker": EngineKind(kind="docker", binary="/usr/bin/docker", default_global_args="",
                         default_run_args=_ULIMITS, install_hint="apt-get install docker.io",
                         service_binary="/usr/sbin/dockerd"),
}


@dataclass
class Engine:
    """The engine of this test session. `global_args` is filled in by `start()` for engines
    with a private daemon (docker: `-H unix://<tmp>/docker.sock` comes first)."""
    spec: EngineKind
    global_args: list = field(default_factory=list)
    run_args: list = field(default_factory=list)
    service: "Dockerd | None" = None
    startup: str = ""              # how the private daemon started, for the test summary

    @property
    def kind(self):
        return self.spec.kind

    @property
    def binary(self):
        return self.spec.binary

    @property
    def name(self):
        return EngineName(self.kind, self.binary)

    def missing(self):
        """Why this engine cannot be used on this machine (None if it can)."""
        for path in (self.spec.binary, self.spec.service_binary):
            if path and shutil.which(path) is None:
                return f"{self.kind} is not installed ({path} missing; {self.spec.install_hint})"
        return None

    def argv(self, *args):
        return [self.binary, *self.global_args, *args]

    def run(self, *args, check=True, **kw):
        return subprocess.run(self.argv(*args), check=check, capture_output=True, text=True, **kw)

    def config(self):
        """The `engine` section of jobmand's config."""
        return {"kind": self.kind, "binary": self.binary, "global_args": list(self.global_args),
                "run_args": list(self.run_args)}

    def start(self):
        """Starts the engine's private daemon, if it has one. Raises RuntimeError if it cannot."""
        if self.spec.service_binary and self.service is None:
            self.service = Dockerd(self.spec.service_binary, self.binary)
            self.service.start()
            self.global_args[:0] = ["-H", self.service.host]
            self.startup = (f"private dockerd {self.service.version} answered after "
                            f"{self.service.startup_seconds:.2f} s ({self.service.dir}"
                            f"{', using the machine containerd' if self.service.system_containerd else ''})")

    def stop(self):
        if self.service is not None:
            host = ["-H", self.service.host]
            if self.global_args[:2] == host:
                del self.global_args[:2]
            self.service.stop()
            self.service = None


class EngineName(str):
    """The engine's kind, "podman" or "docker", as tests compare it (`ENGINE == "docker"`).
    It also equals the engine binary, so that `argv[0] == ENGINE` holds when the binary is a
    path (docker: /usr/bin/docker). Prefer `.kind` and `.binary` in new code."""

    def __new__(cls, kind, binary):
        name = super().__new__(cls, kind)
        name.kind = kind
        name.binary = binary
        return name

    def __eq__(self, other):
        return str.__eq__(self, other) or (isinstance(other, str) and str.__eq__(self.binary, other))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = str.__hash__


def from_env():
    name = os.environ.get("JOBMAN_TEST_ENGINE", "podman")
    if name not in KINDS:
        raise ValueError(f"JOBMAN_TEST_ENGINE={name!r}: must be one of {', '.join(KINDS)}")
    spec = KINDS[name]
    return Engine(spec=spec,
                  global_args=shlex.split(os.environ.get("JOBMAN_TEST_ENGINE_GLOBAL_ARGS", spec.default_global_args)),
                  run_args=shlex.split(os.environ.get("JOBMAN_TEST_ENGINE_RUN_ARGS", spec.default_run_args)))


SYSTEM_CONTAINERD = "/run/containerd/containerd.sock"


class Dockerd:
    """A dockerd of our own: everything it writes is under one temp dir, removed at stop().
    (dockerd and containerd still create the empty directories /run/docker/plugins and
    /run/containerd/s, whose paths are compiled in.)

    dockerd 20.10 starts a containerd of its own (state under the exec root, data under the
    data root) unless the machine's containerd is running (SYSTEM_CONTAINERD exists); then
    it uses that one. Its containerd namespaces are its own (jobman-test-<random>) either
    way, so our containers never mix with the machine's dockerd's (namespace "moby")."""

    START_TIMEOUT = 60
    STOP_TIMEOUT = 60

    def __init__(self, dockerd, client):
        self.dockerd = dockerd
        self.client = client
        self.dir = Path(tempfile.mkdtemp(prefix="jobman-dockerd-"))
        self.namespace = "jobman-test-" + os.urandom(4).hex()  # containerd's own naming rules
        self.system_containerd = False
        self.socket = self.dir / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log = self.dir / "dockerd.log"
        self.proc = None
        self.argv = []
        self.version = None
        self.startup_seconds = None

    def start(self):
        config = self.dir / "daemon.json"
        config.write_text("{}\n")  # not /etc/docker/daemon.json: the machine's settings stay out
        self.argv = [self.dockerd, "--config-file", str(config),
                     "--iptables=false", "--ip6tables=false", "--bridge=none",
                     "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
                     "--pidfile", str(self.dir / "docker.pid"), "-H", self.host,
                     "--containerd-namespace", self.namespace,
                     "--containerd-plugins-namespace", self.namespace + "-plugins"]
        self.system_containerd = os.path.exists(SYSTEM_CONTAINERD)
        # Debian's containerd, runc and docker-init (tini), whatever else is first on PATH.
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
        for var in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG"):
            env.pop(var, None)
        began = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        deadline = began + self.START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._give_up(f"dockerd exited with {self.proc.returncode} while starting")
            if self.socket.exists():
                try:
                    last = subprocess.run([self.client, "-H", self.host, "info", "--format", "{{.ServerVersion}}"],
                                          capture_output=True, text=True, timeout=max(1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    continue
                if last.returncode == 0:
                    self.startup_seconds = time.monotonic() - began
                    self.version = last.stdout.strip()
                    return self
            time.sleep(0.1)
        detail = f"last `docker info`: {last.stderr.strip()}" if last else "its socket never appeared"
        self._give_up(f"dockerd did not answer within {self.START_TIMEOUT} s; {detail}")

    def _give_up(self, why):
        log = self.tail()
        self.stop()
        raise RuntimeError(f"{why}\n{' '.join(self.argv)}\n--- end of its log:\n{log}")

    def tail(self, lines=40):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _mounts_below(self):
        prefix = str(self.dir) + "/"
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)

    def stop(self):
        """SIGTERM (dockerd stops the containers it runs and its containerd), wait, then remove the dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Its containerd, had dockerd died without stopping it.
        pidfile = self.dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
            if Path(f"/proc/{pid}/cmdline").read_bytes().find(str(self.dir).encode()) >= 0:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        if self.system_containerd and shutil.which("ctr"):
            # Our (now empty) namespaces in the machine's containerd; nothing else.
            for namespace in (self.namespace, self.namespace + "-plugins"):
                subprocess.run(["ctr", "--address", SYSTEM_CONTAINERD, "namespaces", "remove", namespace],
                               capture_output=True, timeout=30)
        for point in self._mounts_below():
            subprocess.run(["umount", "--lazy", point], capture_output=True)
        if self._mounts_below():
            # Never rmtree through a mount point.
            raise RuntimeError(f"left {self.dir} in place: mounts remain below it")
        shutil.rmtree(self.dir, ignore_errors=True)
