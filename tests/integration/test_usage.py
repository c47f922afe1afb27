"""What each job used (issue 12, item 1): peak memory and CPU time sampled from the
container's cgroup while it runs, recorded when it ends, shown by details against the
flavor (seff-style) with a hint naming a better flavor, carried by list --json and
details --json, and named in an OOM_KILLED reason."""
import json

import pytest

from conftest import BACKEND, Daemon

FLAVORS = [
    {"name": "two", "cpus": 2, "memory": "256M", "shm": "128M", "max_time": "1h"},
    {"name": "one", "cpus": 1, "memory": "256M", "shm": "128M", "max_time": "1h"},
    {"name": "tight", "cpus": 1, "memory": "64M", "shm": "100M", "max_time": "1h"},
    {"name": "roomy", "cpus": 1, "memory": "512M", "shm": "128M", "max_time": "1h"},
]
MB = 1 << 20


@pytest.fixture
def usage_daemon(images, users, daemon_dir):
    d = Daemon(daemon_dir, {"flavors": FLAVORS, "default_flavor": "one"}).start()
    yield d
    d.finish()


def ended(d, command, flavor="one", user=None):
    job = d.cli_json("submit", "-i", "jt", "-r", flavor, "--", command, user=user)["job"]
    d.cli("wait", "-j", str(job["id"]), timeout=120, user=user)
    return d.cli_json("details", "-j", str(job["id"]), user=user)


def test_a_job_s_peak_memory_and_cpu_time_are_recorded_and_shown(usage_daemon, users):
    # 40M in /dev/shm (charged to the job's memory), 3 to 4 s of one CPU, then a pause so
    # that a sample sees it all.
    command = "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; end=$(($(date +%s) + 4)); " \
              "while [ $(date +%s) -lt $end ]; do :; done; sleep 2"
    details = ended(usage_daemon, command, user=users["jmtest1"])
    job, usage = details["job"], details["usage"]
    assert job["state"] == "SUCCEEDED", job
    assert job["usage"]["source"] in ("cgroup v1", "cgroup v2"), job["usage"]
    assert job["usage"]["peak_memory"] >= 40 * MB, job["usage"]
    assert 40 * MB <= job["usage"]["peak_resident"] <= job["usage"]["peak_memory"], job["usage"]
    assert job["usage"]["peak_memory"] < 256 * MB, job["usage"]
    # At least a second of the busy loop's 3 s or more, however loaded the machine is.
    assert job["usage"]["cpu_ms"] >= 1000, job["usage"]
    # details goes by what it could not drop (its /dev/shm), not the page cache.
    assert usage["memory"]["peak"] == job["usage"]["peak_resident"] and usage["memory"]["peak_with_cache"] == job["usage"]["peak_memory"]
    assert usage["memory"]["limit"] == 256 * MB and usage["memory"]["percent"] == round(job["usage"]["peak_resident"] * 100 / (256 * MB))
    assert usage["cpu"]["cpus"] == 1 and usage["cpu"]["wall_ms"] == job["ended_at"] - job["started_at"]
    text = usage_daemon.cli("details", "-j", str(job["id"]), user=users["jmtest1"]).stdout
    assert "Memory:      peak 4" in text and " with page cache" in text, text
    assert "of 256M (" in text and "CPU:         " in text and " wall on 1 CPU (" in text, text
    # list --json carries the same figures.
    listed = usage_daemon.cli_json("list", "--limit", "1", user=users["jmtest1"])["jobs"][0]
    assert listed["usage"] == job["usage"]
    # And they stay after a restart (they are in the database).
    usage_daemon.stop()
    usage_daemon.start()
    again = usage_daemon.cli_json("details", "-j", str(job["id"]), user=users["jmtest1"])["job"]
    assert again["usage"] == job["usage"]


def test_a_job_near_its_memory_limit_gets_a_hint_naming_a_roomier_flavor(usage_daemon):
    details = ended(usage_daemon, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=61 2>/dev/null; sleep 3", flavor="tight")
    assert details["job"]["state"] == "SUCCEEDED", details["job"]
    assert details["usage"]["memory"]["percent"] >= 95, details["usage"]
    assert any("flavor 'one' has 256M" in hint for hint in details["usage"]["hints"]), details["usage"]
    text = usage_daemon.cli("details", "-j", str(details["job"]["id"])).stdout
    assert "Hint:        it peaked at" in text, text


@pytest.mark.only_backend("local")  # the test cluster's nodes have one CPU each: Slurm refuses a 2-CPU job
def test_a_job_that_leaves_its_cpus_idle_gets_a_hint_naming_a_leaner_flavor(usage_daemon):
    details = ended(usage_daemon, "sleep 11", flavor="two")
    assert details["job"]["state"] == "SUCCEEDED", details
    assert details["usage"]["cpu"]["percent"] <= 5, details["usage"]
    assert any("2 CPUs busy: flavor 'one' (1 CPUs) would do" in hint for hint in details["usage"]["hints"]), details["usage"]
    # A job that used what it had gets no hint.
    busy = ended(usage_daemon, "end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do :; done", flavor="one")
    assert busy["usage"]["hints"] == [], busy["usage"]


def test_an_oom_kill_names_the_peak_it_reached(usage_daemon):
    # 20M first, sampled, then without bound.
    details = ended(usage_daemon, "dd if=/dev/zero of=/dev/shm/a bs=1M count=20 2>/dev/null; sleep 3; "
                                  "x=0123456789abcdef; while true; do x=$x$x; done", flavor="tight")
    job = details["job"]
    assert job["state"] == "OOM_KILLED", job
    assert job["usage"]["peak_memory"] >= 20 * MB, job["usage"]
    assert "64M of flavor 'tight' (peak sampled: " in job["reason"], job["reason"]
    assert job["usage"]["peak_resident"] >= 20 * MB, job["usage"]
    assert any("flavor 'one' has 256M" in hint for hint in details["usage"]["hints"]), details["usage"]


def test_usage_figures_reach_the_database_as_numbers(usage_daemon):
    details = ended(usage_daemon, "sleep 2")
    with usage_daemon.db() as db:
        row = db.execute("SELECT peak_memory, cpu_ms, usage_source FROM jobs WHERE id = ?", (details["job"]["id"],)).fetchone()
    assert isinstance(row[0], int) and isinstance(row[1], int) and row[2] in ("cgroup v1", "cgroup v2"), row
    assert json.dumps(details["job"]["usage"])  # and the wire form is plain JSON


def test_stats_reports_each_user_their_own_jobs_and_admins_everyone_s(usage_daemon, users):
    """Issue 12, item 2: `jobman stats` over real jobs: end states, hours, peak memory;
    users see their own, admins everyone's, grouped as asked."""
    alice, bob = users["jmtest1"], users["jmtest2"]
    busy = "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done; sleep 2"
    # Two CPUs where the nodes have them (the Slurm test cluster's have one each).
    busy_flavor, busy_cpus = ("two", 2) if BACKEND == "local" else ("roomy", 1)
    ok = ended(usage_daemon, busy, flavor=busy_flavor, user=alice)["job"]
    failed = ended(usage_daemon, "exit 3", user=alice)["job"]
    gone = ended(usage_daemon, "true", user=alice)["job"]
    assert usage_daemon.cli("delete", "-j", str(gone["id"]), user=alice).returncode == 0
    ended(usage_daemon, "true", user=bob)
    assert (ok["state"], failed["state"]) == ("SUCCEEDED", "FAILED")

    mine = usage_daemon.cli_json("stats", user=alice)
    assert mine["uid"] == alice.pw_uid and mine["by"] == "" and len(mine["groups"]) == 1
    total = mine["total"]
    assert total["jobs"] == 3, total  # the deleted job ran: it counts
    assert total["states"] == {"SUCCEEDED": 2, "FAILED": 1, "CANCELLED": 0, "TIMEOUT": 0, "OOM_KILLED": 0, "LOST": 0}
    wall_ms = sum(j["ended_at"] - j["started_at"] for j in (ok, failed, gone))
    assert total["wall_hours"] == pytest.approx(wall_ms / 3.6e6)
    # The busy job was sampled: its CPU time and peak are in the report.
    assert total["cpu_measured_jobs"] >= 1 and total["cpu_hours"] * 3.6e6 >= ok["usage"]["cpu_ms"] - 1, (total, ok["usage"])
    assert total["peak_memory"]["measured_jobs"] >= 1 and total["peak_memory"]["max"] >= ok["usage"]["peak_resident"]
    # The busy flavor's CPUs for the busy job's wall time at least.
    assert total["cpu_hours_allocated"] * 3.6e6 >= busy_cpus * (ok["ended_at"] - ok["started_at"]) - 1
    assert total["gpu_hours"] == 0

    by_state = usage_daemon.cli_json("stats", "--by", "state", user=alice)
    assert [(g["key"], g["jobs"]) for g in by_state["groups"]] == [("FAILED", 1), ("SUCCEEDED", 2)]
    by_flavor = usage_daemon.cli_json("stats", "--by", "flavor", user=alice)
    assert [(g["key"], g["jobs"]) for g in by_flavor["groups"]] == sorted([("one", 2), (busy_flavor, 1)])

    # Another user's figures are for admins; an admin sees everyone's, or one user's.
    refused = usage_daemon.cli("stats", "--user", "jmtest2", user=alice)
    assert refused.returncode == 4 and "admin group" in refused.stderr, refused.stderr
    everyone = usage_daemon.cli_json("stats", "--by", "user", user=users["jmadmin"])
    assert everyone["uid"] is None
    assert {g["key"]: g["jobs"] for g in everyone["groups"]} == {"jmtest1": 3, "jmtest2": 1}
    assert everyone["total"]["jobs"] == 4
    just_bob = usage_daemon.cli_json("stats", "--user", "jmtest2", user=users["jmadmin"])
    assert just_bob["uid"] == bob.pw_uid and just_bob["total"]["jobs"] == 1

    # The window: nothing ended after now, nor in the 30 days before 2000.
    assert usage_daemon.cli_json("stats", "--since", "now", user=alice)["total"]["jobs"] == 0
    old = usage_daemon.cli_json("stats", "--until", "2000-01-01", user=alice)
    assert old["total"]["jobs"] == 0 and old["until"] - old["since"] == 30 * 86400 * 1000
    assert usage_daemon.cli_json("stats", "--since", "all", "--until", "now", user=alice)["total"]["jobs"] == 3

    # The table: a row per group and a total, the hours and the memory columns.
    text = usage_daemon.cli("stats", "--by", "flavor", user=alice).stdout
    lines = text.splitlines()
    assert lines[0].startswith("Jobs that ended from ") and lines[0].endswith(", user jmtest1, by flavor"), text
    assert lines[1].split()[:3] == ["FLAVOR", "JOBS", "SUCCEEDED"] and "MEM P90" in lines[1], text
    assert [line.split()[:2] for line in lines[2:5]] == [*sorted([["one", "2"], [busy_flavor, "1"]]), ["TOTAL", "3"]], text
    empty = usage_daemon.cli("stats", "--since", "now", user=alice).stdout
    assert "No jobs ended in that time." in empty
