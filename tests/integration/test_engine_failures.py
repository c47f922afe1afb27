"""An engine that cannot run jobs: jobmand says what is missing before any job runs
(--check-config and its start), and a job that fails anyway ends FAILED with the engine's
own words, never claiming it ran."""
import json
import os
import subprocess

import pytest

from conftest import ENGINE_KIND, JOBMAND, RUN_ARGS, TEST_ENGINE, Daemon


def broken_engine(tmp_path):
    """How this engine is broken here, as a fresh machine could have it: (env, engine config,
    words check-config must say, words the job's reason must carry)."""
    config = TEST_ENGINE.config()
    if ENGINE_KIND == "podman":
        # As on a fresh Debian 12 with `--no-install-recommends`: no catatonit for --init.
        conf = tmp_path / "containers.conf"
        conf.write_text('[containers]\ninit_path = "/nonexistent/jobman-test/catatonit"\n')
        env = dict(os.environ, CONTAINERS_CONF=str(conf))
        return (env, config, ["/nonexistent/jobman-test/catatonit is missing", "apt-get install catatonit"],
                "container-init binary not found on the host: stat /nonexistent/jobman-test/catatonit: no such file or directory")
    # docker: a runtime dockerd does not have.
    config["run_args"] = list(RUN_ARGS) + ["--runtime", "jobman-no-such-runtime"]
    return None, config, ["docker has no runtime 'jobman-no-such-runtime'"], "Unknown runtime specified jobman-no-such-runtime."  # docker 20.10's words


def test_check_config_passes_for_the_working_engine(daemon):
    result = subprocess.run([str(JOBMAND), "--config", str(daemon.config_path), "--check-config"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "engine ok: " in result.stderr and "init " in result.stderr


def test_check_config_names_the_missing_piece(tmp_path, daemon_dir, images, users):
    env, engine_config, said, _ = broken_engine(tmp_path)
    d = Daemon(daemon_dir, {"engine": engine_config}, env=env)
    result = subprocess.run([str(JOBMAND), "--config", str(d.config_path), "--check-config"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["engine"]["kind"] == ENGINE_KIND  # the settings are still printed
    for words in said:
        assert words in result.stderr
    assert "jobmand: error: engine:" in result.stderr
    assert not d.state.exists(), "--check-config changes nothing"


@pytest.mark.only_backend("local")  # a broken engine set up through jobmand's environment, which a Slurm job does not inherit (--export=NONE)
def test_job_on_a_broken_engine_fails_with_the_engines_words(tmp_path, daemon_dir, images, users):
    env, engine_config, said, reason_words = broken_engine(tmp_path)
    d = Daemon(daemon_dir, {"engine": engine_config}, env=env).start()
    try:
        log = d.log.read_text()
        assert "engine: " in log and said[0] in log, log  # said at start, before any job
        waited = d.cli("submit", "-i", "jt", "-j", "broken", "--wait", "--", "echo never")
        assert waited.returncode != 0
        assert reason_words in waited.stdout + waited.stderr, waited
        details = d.cli_json("details", "-j", "broken")
        job = details["job"]
        assert job["state"] == "FAILED"
        assert job["reason"] == "the container engine failed: " + reason_words
        assert [e["to"] for e in details["events"]] == ["QUEUED", "STARTING", "FAILED"], "it never ran: no RUNNING event"
        assert job.get("started_at") is None
        listed = d.cli_json("list")
        assert [j["reason"] for j in listed["jobs"] if j["id"] == job["id"]] == [job["reason"]]
        wait = d.cli("wait", "-j", "broken")
        assert wait.returncode == 1 and reason_words in wait.stdout
        assert reason_words in d.log.read_text(), "the daemon's log says why too"
        assert "never" not in d.cli("logs", "-j", "broken").stdout
    finally:
        d.finish()


def test_a_job_that_runs_goes_through_running(daemon):
    job = daemon.cli_json("submit", "-i", "jt", "--", "sleep 2")["job"]
    assert daemon.wait_state(job["id"], {"RUNNING"}) == "RUNNING"
    daemon.wait_state(job["id"], {"SUCCEEDED"})
    events = daemon.cli_json("details", "-j", str(job["id"]))["events"]
    assert [e["to"] for e in events] == ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]
    assert events[2]["reason"].startswith("container started")  # on Slurm: "... on node n2"
