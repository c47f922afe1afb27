#!/usr/bin/env python3
"""What the writable copy of an image's home costs per job (issue 10), against raw podman in
the same run. Two images built like CHAIMELEON's (USER 1000, WORKDIR its home): one with a
small home (a run.sh and two dotfiles) and one with a large one (HOME_COPY_MB MiB in 2,000
files, like a home holding udocker and a pip cache). Prints figures only; never passes or
fails on time.

  bench/home_copy.py            (as root; podman; uses the build in $JOBMAN_BUILD_DIR or build/)

Rows, medians of HOME_COPY_RUNS interleaved runs:
  jobman   `jobman submit -c --wait -- /bin/true` (its home copied: tmpfs + tar -x as the user)
  raw      `podman run --rm --read-only --network none --user UID:GID IMAGE /bin/true`
  extract  what jobmand does per job, alone: mount a tmpfs, `tar -x` the cached copy into it
  probe    the first submit of a new image (--dry-run) against the next (the probe is cached)
"""
import os
import pwd
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("JOBMAN_BUILD_DIR", str(REPO / "build"))
import conftest  # noqa: E402

RUNS = int(os.environ.get("HOME_COPY_RUNS", "10"))
LARGE_MB = int(os.environ.get("HOME_COPY_MB", "20"))


def build_image(tmp: Path, name: str, megabytes: int) -> str:
    root = tmp / f"root-{name}"
    tar = conftest._busybox_rootfs(tmp / f"b-{name}")
    subprocess.run(["mkdir", "-p", str(root)], check=True)
    subprocess.run(["tar", "-C", str(root), "-xf", str(tar)], check=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n")
    home = root / "home" / "u"
    (home / ".init").mkdir(parents=True)
    (home / ".init" / "run.sh").write_text('#!/bin/sh\necho "$@" >.runcmd\n. ./.runcmd\n')
    (home / ".init" / "run.sh").chmod(0o755)
    (home / ".bashrc").write_text("#\n")
    (home / ".profile").write_text("#\n")
    if megabytes:
        files = 2000
        chunk = os.urandom(megabytes * 1024 * 1024 // files)
        for i in range(files):
            d = home / ".local" / "lib" / f"pkg{i % 40}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.py").write_bytes(chunk)
    subprocess.run(["chown", "-R", "1000:1000", str(home)], check=True)
    out = tmp / f"{name}.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(out), "."], check=True)
    ref = f"localhost/jobman-bench-home-{name}:1.0"
    changes = ["--change", f"LABEL name=home-{name}", "--change", "LABEL version=1.0", "--change", "USER 1000:1000",
               "--change", "WORKDIR /home/u", "--change", 'ENTRYPOINT ["/home/u/.init/run.sh"]']
    conftest.engine("import", *conftest.TEST_ENGINE.spec.import_args, *changes, str(out), ref)
    return ref


def timed(argv, **kw):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, **kw)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv}: {result.returncode}: {result.stderr}")
    return elapsed


def extract_once(tar: Path, where: Path) -> float:
    where.mkdir(exist_ok=True)
    start = time.monotonic()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1G,mode=0700", "bench", str(where)], check=True)
    subprocess.run(["tar", "-x", "-f", str(tar), "-C", str(where), "--no-same-owner", "-p"], check=True)
    elapsed = time.monotonic() - start
    subprocess.run(["umount", str(where)], check=True)
    return elapsed


def ms(values):
    return f"{statistics.median(values) * 1000:8.0f} ms"


def main():
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-home-"))
    tmp.chmod(0o755)
    images = {"small": build_image(tmp, "small", 0), "large": build_image(tmp, "large", LARGE_MB)}
    (tmp / "d").mkdir()
    daemon = conftest.Daemon(tmp / "d").start()
    if subprocess.run(["id", "jmtest1"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "jmtest1"], check=True)
    user = pwd.getpwnam("jmtest1")

    def jobman(*args):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", str(conftest.JOBMAN),
                "--socket", str(daemon.socket), *args]

    try:
        probe = {}
        for name in images:
            first = timed(jobman("submit", "--dry-run", "-i", f"home-{name}", "--", "true"))
            second = timed(jobman("submit", "--dry-run", "-i", f"home-{name}", "--", "true"))
            probe[name] = (first, second)
        rows = {f"{kind} {name}": [] for kind in ("jobman", "raw", "extract") for name in images}
        # The cached copies jobmand made, one per image: the smaller is the small home's.
        small_tar, large_tar = sorted((daemon.state / "image-homes").glob("*.tar"), key=lambda p: p.stat().st_size)
        tars = {"small": small_tar, "large": large_tar}
        raw = conftest.TEST_ENGINE.argv("run", "--rm", *conftest.RUN_ARGS, "--read-only", "--network", "none",
                                        "--user", f"{user.pw_uid}:{user.pw_gid}", "--entrypoint", "/bin/true")
        for i in range(RUNS):
            for name, ref in images.items():
                rows[f"jobman {name}"].append(timed(jobman("submit", "-i", f"home-{name}", "-c", "--wait", "--", "/bin/true")))
                rows[f"raw {name}"].append(timed(raw + [ref]))
                rows[f"extract {name}"].append(extract_once(tars[name], tmp / "x"))
        home_mb = {name: tars[name].stat().st_size / 1e6 for name in images}
        print(f"home copy per job, medians of {RUNS} interleaved runs (podman, 2 cores); homes: "
              + ", ".join(f"{n} {home_mb[n]:.1f} MB" for n in images))
        for key, values in rows.items():
            print(f"  {key:<14}{ms(values)}")
        for name in images:
            over = statistics.median(rows[f"jobman {name}"]) - statistics.median(rows[f"raw {name}"])
            ratio = statistics.median(rows[f"jobman {name}"]) / statistics.median(rows[f"raw {name}"])
            print(f"  jobman/raw {name}: {ratio:.2f}x ({over * 1000:+.0f} ms)")
        for name, (first, second) in probe.items():
            print(f"  probe {name}: first submit {first * 1000:.0f} ms, next {second * 1000:.0f} ms (dry runs)")
    finally:
        daemon.finish()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
