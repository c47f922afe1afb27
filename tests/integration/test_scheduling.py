"""Scheduling end to end: fairness, limits, priorities, dependencies, batches, the queue
view, configuration reload, and recovery from kill -9 without losing or repeating a job."""
import json
import random
import signal
import time

import pytest

from conftest import Daemon, containers, engine


@pytest.fixture
def make_daemon(images, users, daemon_dir):
    started = []

    def make(**limits):
        d = Daemon(daemon_dir, extra_config={"limits": {"kill_grace": "2s", **limits}}).start()
        started.append(d)
        return d

    yield make
    for d in started:
        d.finish()


def submit(d, *args, user=None):
    return d.cli_json("submit", "-i", "jt", *args, user=user)["job"]


def job_row(d, job_id):
    with d.db() as db:
        return dict(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())


def wait_all(d, ids, timeout=120):
    for i in ids:
        d.cli("wait", "-j", str(i), timeout=timeout)


def test_a_user_with_many_jobs_does_not_starve_another(make_daemon, users):
    d = make_daemon(max_running=1)
    alice, bob = users["jmtest1"], users["jmtest2"]
    many = [submit(d, "--", "sleep 0.5", user=alice)["id"] for _ in range(5)]
    one = submit(d, "--", "true", user=bob)["id"]
    wait_all(d, many + [one])
    starts = sorted(many + [one], key=lambda i: job_row(d, i)["started_at"])
    assert starts.index(one) <= 1, f"bob's job started at position {starts.index(one)} of {starts}"


def test_per_user_running_limit_and_queue_view(make_daemon, users):
    d = make_daemon(max_running=4, max_running_per_user=1)
    alice, bob = users["jmtest1"], users["jmtest2"]
    a = [submit(d, "-j", f"a{i}", "--", "sleep 3", user=alice)["id"] for i in range(3)]
    b = submit(d, "--", "sleep 3", user=bob)["id"]
    d.wait_state(b, {"RUNNING"}, user=bob)
    d.wait_state(a[0], {"RUNNING"}, user=alice)  # on Slurm it may wait there a moment first
    view = d.cli_json("queue", user=alice)
    assert view["running"] == 2 and view["queued"] == 2
    waiting = {j["name"]: j for j in view["yours"]}
    assert set(waiting) == {"a1", "a2"}
    assert waiting["a1"]["waits_for"] == "user_limit"
    assert "per-user limit is 1" in waiting["a1"]["detail"]
    assert waiting["a1"]["position"] < waiting["a2"]["position"]
    assert d.cli_json("queue", user=bob)["yours"] == []
    table = d.cli("queue", user=alice).stdout
    assert "YOURS QUEUED" in table and "user_limit" in table
    d.cli("delete", "--all", user=alice)
    d.cli("delete", "--all", user=bob)


def test_queued_limit_refuses_with_the_numbers(make_daemon):
    d = make_daemon(max_running=1, max_queued_per_user=2)
    submit(d, "--", "sleep 5")
    submit(d, "--", "true")
    submit(d, "--", "true")
    over = d.cli("submit", "-i", "jt", "--", "true")
    assert over.returncode == 2
    assert "you have 2 queued jobs" in over.stderr and "limit of 2" in over.stderr
    d.cli("delete", "--all")


def test_priority_reorders_own_jobs_within_limits(make_daemon):
    d = make_daemon(max_running=1)
    blocker = submit(d, "--", "sleep 2")["id"]
    low = submit(d, "--", "true")["id"]
    high = submit(d, "--priority", "50", "--", "true")["id"]
    wait_all(d, [blocker, low, high])
    assert job_row(d, high)["started_at"] < job_row(d, low)["started_at"]
    assert d.cli("submit", "-i", "jt", "--priority", "500", user=None).returncode == 0  # root may
    d.cli("delete", "--all")


def test_dependencies_success_and_failure(make_daemon):
    d = make_daemon(max_running=4)
    first = submit(d, "-j", "prep", "--", "sleep 1; echo prepared")["id"]
    second = submit(d, "-j", "analyse", "--after", "prep", "--", "echo analysed")["id"]
    bad = submit(d, "-j", "broken", "--", "sleep 2; exit 3")["id"]  # fails after the next submits
    doomed = submit(d, "-j", "never", "--after", f"{bad},prep", "--", "echo never")["id"]
    grandchild = submit(d, "-j", "never2", "--after", "never", "--", "echo never")["id"]
    assert job_row(d, second)["state"] == "QUEUED"
    wait_all(d, [first, second, bad, doomed, grandchild])
    assert job_row(d, first)["ended_at"] <= job_row(d, second)["started_at"]
    assert job_row(d, second)["state"] == "SUCCEEDED"
    row = job_row(d, doomed)
    assert (row["state"], row["reason"]) == ("CANCELLED", f"dependency {bad} ended FAILED")
    assert job_row(d, grandchild)["reason"] == f"dependency {doomed} ended CANCELLED"
    assert d.cli("submit", "-i", "jt", "--after", "nosuch").returncode == 3
    late = d.cli("submit", "-i", "jt", "--after", "broken")
    assert late.returncode == 2 and "already ended FAILED" in late.stderr


def test_dependency_kinds_let_a_cohort_summary_run_when_one_patient_fails(make_daemon):
    """Issue 12, item 4: --after any:JOB (afterany) and notok:JOB (afternotok) beside the
    default ok; queue says which kind a job waits for."""
    d = make_daemon(max_running=4)
    p1 = submit(d, "-j", "patient-1", "--", "sleep 3; exit 1")["id"]  # this one fails
    p2 = submit(d, "-j", "patient-2", "--", "sleep 2; echo ok")["id"]
    summary = submit(d, "-j", "summary", "--after", "any:patient-1,patient-2", "--", "echo summary")
    assert summary["after_any"] == [p1, p2] and summary["after"] == []
    alert = submit(d, "-j", "alert", "--after", "notok:patient-1", "--", "echo alert")["id"]
    spared = submit(d, "-j", "spared", "--after", "afternotok:patient-2", "--", "echo never")["id"]
    strict = submit(d, "-j", "strict", "--after", "patient-1,any:patient-2", "--", "echo never")["id"]
    waits = {j["name"]: j["detail"] for j in d.cli_json("queue")["yours"]}
    assert waits["summary"] == f"waits for jobs {p1}, {p2} to end", waits
    assert waits["alert"] == f"waits for job {p1} to fail", waits
    assert waits["strict"] == f"waits for job {p1} to succeed, job {p2} to end", waits
    wait_all(d, [p1, p2, summary["id"], alert, spared, strict])
    assert job_row(d, summary["id"])["state"] == "SUCCEEDED"
    assert job_row(d, summary["id"])["started_at"] >= max(job_row(d, p1)["ended_at"], job_row(d, p2)["ended_at"])
    assert d.cli("logs", "-j", "summary").stdout == "summary\n"
    assert job_row(d, alert)["state"] == "SUCCEEDED"
    row = job_row(d, spared)
    assert (row["state"], row["reason"]) == ("CANCELLED", f"dependency {p2} succeeded (it was to run only if that one did not)")
    assert (job_row(d, strict)["state"], job_row(d, strict)["reason"]) == ("CANCELLED", f"dependency {p1} ended FAILED")
    # After they ended: any: is always fine, notok: of a success and ok: of a failure are refused.
    assert d.cli("submit", "-i", "jt", "--after", "any:patient-1", "--", "true").returncode == 0
    late = d.cli("submit", "-i", "jt", "--after", "notok:patient-2", "--", "true")
    assert late.returncode == 2 and "already ended SUCCEEDED" in late.stderr, late.stderr
    odd = d.cli("submit", "-i", "jt", "--after", "sideways:patient-1", "--", "true")
    assert odd.returncode == 2 and "'sideways' is not a kind of dependency" in odd.stderr, odd.stderr
    text = d.cli("details", "-j", "summary").stdout
    assert f"After:       job {p1} to end, job {p2} to end\n" in text, text


def test_a_held_job_waits_until_released(make_daemon, users):
    """Issue 12, item 6: submit --hold, jobman hold, jobman release."""
    d = make_daemon(max_running=2)
    alice, bob, admin = users["jmtest1"], users["jmtest2"], users["jmadmin"]
    later = submit(d, "-j", "later", "--hold", "--", "echo released", user=alice)
    assert later["held"] is True and later["state"] == "QUEUED"
    busy = submit(d, "-j", "busy", "--", "sleep 30", user=alice)["id"]
    queued = submit(d, "-j", "queued", "--", "echo queued", user=alice)["id"]
    d.wait_state(busy, {"RUNNING"}, user=alice)
    # A slot is free (the other queued job took one and ended), yet the held job stays.
    d.wait_state(queued, {"SUCCEEDED"}, user=alice)
    time.sleep(1)
    assert job_row(d, later["id"])["state"] == "QUEUED"
    waits = {j["name"]: (j["waits_for"], j["detail"]) for j in d.cli_json("queue", user=alice)["yours"]}
    assert waits["later"] == ("held", f"held: it starts once released (jobman release -j {later['id']})"), waits
    listed = d.cli("list", user=alice).stdout
    assert "QUEUED (held)" in listed, listed
    # Only queued jobs, only one's own (an admin's: anyone's).
    running = d.cli("hold", "-j", "busy", user=alice)
    assert running.returncode == 2 and "only a queued job can be held" in running.stderr, running.stderr
    stranger = d.cli("release", "-j", str(later["id"]), user=bob)
    assert stranger.returncode == 3, stranger.stderr
    again = d.cli("hold", "-j", "later", user=alice)
    assert again.returncode == 0 and "was already held" in again.stdout, again.stdout
    released = d.cli("release", "-j", "later", user=admin)
    assert released.returncode == 0 and "released" in released.stdout, released
    assert d.cli("wait", "-j", str(later["id"]), timeout=60).returncode == 0
    assert d.cli("logs", "-j", "later", user=alice).stdout == "released\n"
    events = [(e["to"], e["reason"]) for e in d.cli_json("details", "-j", "later", user=alice)["events"]]
    assert events[:2] == [("QUEUED", "submitted, held"), ("QUEUED", "released by jmadmin (admin)")], events
    # Held, then deleted: cancelled like any queued job.
    parked = submit(d, "--hold", "--", "echo never", user=alice)["id"]
    assert d.cli("delete", "-j", str(parked), user=alice).returncode == 0
    assert job_row(d, parked)["state"] == "CANCELLED"
    assert d.cli("delete", "-j", "busy", user=alice).returncode == 0


def test_dependencies_on_other_users_jobs_are_refused(make_daemon, users):
    d = make_daemon(max_running=2)
    theirs = submit(d, "--", "true", user=users["jmtest2"])["id"]
    assert d.cli("submit", "-i", "jt", "--after", str(theirs), user=users["jmtest1"]).returncode == 3
    mine_as_admin = d.cli("submit", "-i", "jt", "--after", str(theirs))  # root sees it, but it is not root's
    assert mine_as_admin.returncode == 2 and "may only wait for your own jobs" in mine_as_admin.stderr


def test_bulk_submit_is_all_or_nothing(make_daemon, daemon_dir):
    d = make_daemon(max_running=2)
    good = daemon_dir / "cohort.json"
    good.write_text(json.dumps([{"image": "jt", "name": f"patient-{i}", "args": [f"echo patient {i}"], "env": {"P": str(i)}}
                                for i in range(20)] + [{"image": "jt", "name": "summary", "after": [f"patient-{i}" for i in range(20)],
                                                        "args": ["echo summary"]}]))
    result = d.cli_json("submit", "--from", str(good))
    assert len(result["ids"]) == 21 and result["names"][-1] == "summary"
    wait_all(d, result["ids"])
    assert d.cli("logs", "-j", "patient-7").stdout == "patient 7\n"
    summary = job_row(d, result["ids"][-1])
    assert summary["state"] == "SUCCEEDED"
    assert summary["started_at"] >= max(job_row(d, i)["ended_at"] for i in result["ids"][:-1])

    lines = daemon_dir / "bad.jsonl"
    lines.write_text('{"image": "jt", "name": "ok-1"}\n# a comment\n\n{"image": "jt", "name": "ok-2", "gpus": 7}\n')
    with d.db() as db:
        before = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    bad = d.cli("submit", "--from", str(lines))
    assert bad.returncode == 2 and "job 2 of 2" in bad.stderr
    typo = daemon_dir / "typo.jsonl"
    typo.write_text('{"image": "jt", "nmae": "x"}\n')
    wrong = d.cli("submit", "--from", str(typo))
    assert wrong.returncode == 2 and "line 1: unknown key 'nmae'" in wrong.stderr
    with d.db() as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == before, "nothing from a bad batch is queued"


def test_sighup_reloads_limits_and_survives_a_bad_config(make_daemon):
    d = make_daemon(max_running=1)
    ids = [submit(d, "--", "sleep 3")["id"] for _ in range(3)]
    d.wait_state(ids[0], {"RUNNING"})
    config = json.loads(d.config_path.read_text())
    config["limits"]["max_running"] = 3
    d.config_path.write_text(json.dumps(config))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_state(ids[2], {"RUNNING"}, timeout=20)
    d.config_path.write_text('{"limits": {"max_running": "many"}}')
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert d.proc.poll() is None and d.cli("list").returncode == 0
    assert "keeping the current configuration" in d.log.read_text()
    wait_all(d, ids)


# 40 jobs through 4 slots take 80 s on the 3 one-CPU nodes of the test cluster; on Slurm the
# same recovery (and a slurmctld restart) is test_slurm.py's kill -9 test.
@pytest.mark.only_backend("local")
def test_kill_9_twice_loses_and_repeats_nothing(make_daemon):
    """40 jobs at 4 slots, each sleeping 1-4 s; jobmand is killed -9 twice at different moments."""
    d = make_daemon(max_running=4)
    rng = random.Random(4)
    ids = [submit(d, "--", f"sleep {rng.randint(1, 4)}; echo job $JOBMAN_JOB_ID")["id"] for _ in range(40)]
    for pause in (3.0, 7.0):
        time.sleep(pause)
        d.stop(signal.SIGKILL)
        time.sleep(1.0)  # jobs go on ending while no daemon runs
        d.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with d.db() as db:
            active = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('QUEUED','STARTING','RUNNING')").fetchone()[0]
        if active == 0:
            break
        time.sleep(0.5)
    with d.db() as db:
        rows = {r["id"]: r["state"] for r in db.execute("SELECT id, state FROM jobs")}
        ends = db.execute("SELECT job_id, COUNT(*) FROM job_events WHERE to_state = 'SUCCEEDED' GROUP BY job_id").fetchall()
        starts = db.execute("SELECT job_id, COUNT(*) FROM job_events WHERE to_state = 'STARTING' GROUP BY job_id").fetchall()
    assert all(rows[i] == "SUCCEEDED" for i in ids), {i: rows[i] for i in ids if rows[i] != "SUCCEEDED"}
    assert sorted(map(tuple, ends)) == [(i, 1) for i in ids], "each job succeeded exactly once"
    assert sorted(map(tuple, starts)) == [(i, 1) for i in ids], "and was started exactly once"
    for i in ids:
        assert d.cli("logs", "-j", str(i)).stdout == f"job {i}\n"
    deadline = time.monotonic() + 30
    while containers(d.instance()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert containers(d.instance()) == [], "no container is left:\n" + d.log.read_text()[-8000:]


def test_a_container_removed_by_someone_else_does_not_keep_the_others(make_daemon):
    """jobmand removes ended jobs' containers in batches; one name already gone (an admin's
    rm, or a container named by both recovery and its job's end) must not keep the rest:
    podman 4.3's `rm --force` then silently removed none of them."""
    d = make_daemon(max_running=4)
    ids = [submit(d, "--", "sleep 1")["id"] for _ in range(3)]
    # The batch waits 2 s after the first job ends; remove the first container inside it.
    first = ids[0]
    deadline = time.monotonic() + 60
    while job_row(d, first)["state"] != "SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.02)
    engine("rm", "--force", job_row(d, first)["container"])
    wait_all(d, ids)
    deadline = time.monotonic() + 30
    while containers(d.instance()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers(d.instance()) == [], d.log.read_text()
