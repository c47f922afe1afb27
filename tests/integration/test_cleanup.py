"""jobman cleanup: leftover containers, old finished jobs, their logs; admins only."""
import os

import pytest

from conftest import containers, engine, wait_for_container


@pytest.mark.only_backend("local")  # leftover containers on this machine's engine; on Slurm the Epilog removes them on the node
def test_cleanup_removes_old_jobs_logs_and_leftover_containers(daemon, users):
    old = daemon.cli_json("submit", "-i", "jt", "--wait", "--", "echo old")["job"]
    recent = daemon.cli_json("submit", "-i", "jt", "--wait", "--", "echo recent")["job"]
    running = daemon.cli_json("submit", "-i", "jt", "--", "sleep 60")["job"]
    daemon.wait_state(running["id"], {"RUNNING"})
    wait_for_container(running["container"])
    # A finished job whose container was left behind (e.g. the daemon died before removing it).
    leftover = f"jobman-{daemon.instance()}-{old['id']}"
    wait_for_container(leftover, present=False, timeout=30)  # jobmand's own removal is batched
    # ...and the recent job's too, or it would count as a leftover (seen under ASan on docker).
    wait_for_container(f"jobman-{daemon.instance()}-{recent['id']}", present=False, timeout=30)
    engine("create", "--name", leftover, "--label", f"jobman.instance={daemon.instance()}", "localhost/jobman-test:1.0", "true")
    with daemon.db() as db:  # as if it had ended 40 days ago
        db.execute("UPDATE jobs SET ended_at = ended_at - 40 * 86400000 WHERE id = ?", (old["id"],))
    old_log = daemon.state / "logs" / f"{old['id']}.log"
    assert old_log.exists()

    denied = daemon.cli("cleanup", user=users["jmtest1"])
    assert denied.returncode == 4 and "root and the admin group" in denied.stderr

    dry = daemon.cli_json("cleanup", "--dry-run")
    assert dry["jobs_removed"] == 1 and dry["containers_removed"] == [leftover]
    assert old_log.exists() and leftover in containers(daemon.instance())

    done = daemon.cli_json("cleanup", user=users["jmadmin"])
    assert done["jobs_removed"] == 1 and done["logs_removed"] == 1 and done["bytes_freed"] >= len("old\n")
    assert not old_log.exists()
    assert daemon.cli("details", "-j", str(old["id"])).returncode == 3
    with daemon.db() as db:
        assert db.execute("SELECT COUNT(*) FROM job_events WHERE job_id = ?", (old["id"],)).fetchone()[0] == 0
    assert daemon.cli("logs", "-j", str(recent["id"])).stdout == "recent\n"
    assert running["container"] in containers(daemon.instance()), "a running job's container stays"
    wait_for_container(leftover, present=False, timeout=30)  # removals are batched
    assert daemon.cli("cleanup", "--older-than", "soon").returncode == 2
    daemon.cli("delete", "-j", str(running["id"]))
