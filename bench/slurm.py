#!/usr/bin/env python3
"""jobman on Slurm (issue 11) against raw sbatch of the same batch script, in the same run,
on the test cluster (tests/slurm/cluster.sh: 3 one-CPU nodes on this host). Prints figures
only; never passes or fails on time.

  bench/slurm.py        (as root; starts the cluster if it is not up; podman)

Rows:
  one job       `jobman submit --wait` of a trivial job (submit -> SUCCEEDED, as the user)
                against `sbatch --parsable` of the same batch script and spec by hand, then
                squeue polled every 20 ms until COMPLETED; medians of SLURM_BENCH_RUNS
  N jobs        SLURM_BENCH_JOBS trivial jobs, `jobman submit --from` and all SUCCEEDED,
                against a loop of raw sbatch and all COMPLETED
  poll          with SLURM_BENCH_PENDING jobs pending in Slurm: one squeue call's wall time
                and output size, and jobmand's CPU time per poll (from /proc, over 20 polls)
"""
import json
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
os.environ["JOBMAN_TEST_BACKEND"] = "slurm"
os.environ.setdefault("JOBMAN_TEST_ENGINE", "podman")
import conftest  # noqa: E402

RUNS = int(os.environ.get("SLURM_BENCH_RUNS", "5"))
JOBS = int(os.environ.get("SLURM_BENCH_JOBS", "100"))
PENDING = int(os.environ.get("SLURM_BENCH_PENDING", "1000"))


def sh(*argv, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, **kw)


def squeue_states(ids):
    out = sh("squeue", "--noheader", "--states=all", "--jobs=" + ",".join(ids), "--format=%i %T").stdout
    return dict(line.split() for line in out.splitlines())


def wait_completed(ids, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = squeue_states(ids)
        if all(states.get(i) in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for i in ids):
            return states
        time.sleep(0.02)
    raise RuntimeError(f"raw jobs not done within {timeout} s")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    subprocess.run([str(REPO / "tests" / "slurm" / "cluster.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    os.environ["SLURM_CONF"] = os.environ.get("SLURM_CONF", str(conftest.SLURM_DIR / "slurm.conf"))
    tmp = Path(tempfile.mkdtemp(prefix="jobman-bench-slurm-"))
    tmp.chmod(0o755)
    tar = conftest._busybox_rootfs(tmp)
    conftest._import(tar, "localhost/jobman-bench-slurm:1.0", {"name": "bs", "version": "1.0"})
    if subprocess.run(["id", "jmtest1"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "jmtest1"], check=True)
    user = pwd.getpwnam("jmtest1")
    (tmp / "d").mkdir()
    flavors = [{"name": "tiny", "cpus": 1, "memory": "256M", "max_time": "1h"}]
    backend = dict(conftest.backend_config(), poll_interval="1s")  # the default, as a site runs it
    daemon = conftest.Daemon(tmp / "d", extra_config={"backend": backend, "flavors": flavors, "limits": {
        "max_running": max(JOBS, PENDING) + 10, "max_active_per_user": 0, "max_queued_per_user": max(JOBS, PENDING) + 10,
        "kill_grace": "2s"}}).start()

    def jobman(*args):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", str(conftest.JOBMAN),
                "--socket", str(daemon.socket), *args]

    try:
        # The batch script and spec of a trivial job, as jobmand would submit it, for the raw rows.
        preview = json.loads(sh(*jobman("--json", "submit", "--dry-run", "-i", "bs", "--", "true")).stdout)
        argv, sbatch = preview["job"]["argv"], preview["backend"]["sbatch"]
        template_name = preview["job"]["container"]
        script = daemon.state / "slurm" / "job.sh"
        raw_n = [0]

        def raw_submit():
            raw_n[0] += 1
            name = f"jobman-benchraw-{raw_n[0]}"
            words = [w.replace(template_name, name) for w in argv]
            prefix = words.index("run")
            spec = daemon.state / "slurm" / f"raw{raw_n[0]}.spec"
            spec.write_bytes(b"".join(w.encode() + b"\0" for w in [str(prefix), str(prefix + 1), "-1", "podman", *words]))
            line = [w.replace(template_name, name) for w in sbatch[:-6]]
            line = [w for w in line if not w.startswith("--output=")] + ["--output=/dev/null"]
            line += [str(script), str(spec), str(spec) + ".result", name, "3600", "2"]
            return sh(*line).stdout.strip().split(";")[0]

        one = {"jobman": [], "raw": []}
        for _ in range(RUNS):
            start = time.monotonic()
            sh(*jobman("submit", "-i", "bs", "--wait", "--", "true"))
            one["jobman"].append(time.monotonic() - start)
            start = time.monotonic()
            wait_completed([raw_submit()])
            one["raw"].append(time.monotonic() - start)
        j, r = statistics.median(one["jobman"]), statistics.median(one["raw"])
        print(f"Slurm, 3 one-CPU nodes on one host (2 cores), podman; medians of {RUNS}")
        print(f"  one trivial job, submit -> done: jobman {j * 1000:.0f} ms, raw sbatch {r * 1000:.0f} ms, ratio {j / r:.2f}")

        # N jobs at once
        batch = tmp / "batch.jsonl"
        batch.write_text("".join(json.dumps({"image": "bs", "args": ["true"]}) + "\n" for _ in range(JOBS)))
        batch.chmod(0o644)
        start = time.monotonic()
        ids = json.loads(sh(*jobman("--json", "submit", "--from", str(batch))).stdout)["ids"]
        for jid in ids:
            sh(*jobman("wait", "-j", str(jid)))
        jobman_n = time.monotonic() - start
        start = time.monotonic()
        raw_ids = [raw_submit() for _ in range(JOBS)]
        wait_completed(raw_ids)
        raw_n_time = time.monotonic() - start
        print(f"  {JOBS} trivial jobs: jobman {jobman_n:.1f} s, raw sbatch loop {raw_n_time:.1f} s, ratio {jobman_n / raw_n_time:.2f}")

        # One poll with PENDING jobs pending: the nodes drained first, so that all of them wait.
        sh("scontrol", "update", "nodename=n[1-3]", "state=drain", "reason=jobman bench")
        pending = tmp / "pending.jsonl"
        pending.write_text("".join(json.dumps({"image": "bs", "args": ["true"]}) + "\n" for _ in range(PENDING)))
        pending.chmod(0o644)
        sh(*jobman("--json", "submit", "--from", str(pending)))
        deadline = time.monotonic() + 600
        handed_at = None
        start = time.monotonic()
        while time.monotonic() < deadline:
            n = int(sh("sh", "-c", "squeue --noheader --states=PENDING --user=root | wc -l").stdout)
            if n >= PENDING:
                handed_at = time.monotonic() - start
                break
            time.sleep(0.5)
        if handed_at is None:
            raise RuntimeError(f"only {n} of {PENDING} jobs reached Slurm within 600 s")
        print(f"  {PENDING} jobs handed to Slurm (submit --from to all PENDING there) in {handed_at:.1f} s")
        calls = []
        for _ in range(10):
            start = time.monotonic()
            out = sh("squeue", "--noheader", "--states=all", "--user=root", "--format=%i|%j|%T|%r|%N").stdout
            calls.append(time.monotonic() - start)
        polls = 20
        before = cpu_seconds(daemon.proc.pid)
        time.sleep(polls * 1.0)  # backend.poll_interval 1 s: one poll a second
        cpu = (cpu_seconds(daemon.proc.pid) - before) / polls
        print(f"  poll with {PENDING} jobs pending: squeue {statistics.median(calls) * 1000:.0f} ms, {len(out) / 1024:.0f} KiB; "
              f"jobmand {cpu * 1000:.1f} ms CPU per second (one poll, and each job's check of the poll's answer)")
        sh("scancel", "--user=root")
    finally:
        subprocess.run(["scancel", "--user=root"], check=False)
        subprocess.run(["scontrol", "update", "nodename=n[1-3]", "state=resume"], check=False)
        daemon.finish()
        conftest.unmount_under(tmp)  # the home copies of jobs cancelled in Slurm while jobmand stopped
        subprocess.run(["rm", "-rf", str(tmp)], check=False)



if __name__ == "__main__":
    main()
