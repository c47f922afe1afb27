"""Job arrays (issue 12, item 5): `submit --array 0-99%4` queues one job per index with
JOBMAN_ARRAY_INDEX set and {index} replaced in its args, at most %N running at once;
list and queue show an array as one row; delete, wait, hold, release and --after take
the whole array (its id or name) or one element (JOB[7])."""
import pytest

from conftest import BACKEND, Daemon


@pytest.fixture
def arrays(images, users, daemon_dir):
    d = Daemon(daemon_dir, {"limits": {"max_running": 4, "kill_grace": "2s", "max_array_size": 50}}).start()
    yield d
    d.finish()


def overlapping(jobs):
    """The most of `jobs` that ran at the same time (from their start and end times)."""
    edges = sorted([(j["started_at"], 1) for j in jobs] + [(j["ended_at"], -1) for j in jobs])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_an_array_runs_each_index_at_most_n_at_once(arrays, users):
    alice = users["jmtest1"]
    out = arrays.cli("submit", "-i", "jt", "-j", "seg", "--array", "0-5%2", "--",
                     "echo index {index} env $JOBMAN_ARRAY_INDEX of $JOBMAN_ARRAY_COUNT in $JOBMAN_ARRAY_ID; sleep 1", user=alice)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Submitted array ") and "(seg[0-5]): 6 jobs" in out.stdout and "at most 2 at once" in out.stdout, out.stdout
    array_id = int(out.stdout.split()[2])
    waited = arrays.cli("wait", "-j", "seg", user=alice, timeout=120)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert f"Array {array_id}: 6 jobs ended: 6 SUCCEEDED" in waited.stdout, waited.stdout
    # Each element: its own job, its index in its args and environment.
    assert arrays.cli("logs", "-j", "seg[3]", user=alice).stdout == f"index 3 env 3 of 6 in {array_id}\n"
    assert arrays.cli("logs", "-j", f"{array_id}[5]", user=alice).stdout == f"index 5 env 5 of 6 in {array_id}\n"
    elements = arrays.cli_json("list", "--array", "seg", user=alice)["jobs"]
    assert [j["name"] for j in elements] == [f"seg[{i}]" for i in range(5, -1, -1)]
    assert [j["array"] for j in elements][-1] == {"id": array_id, "index": 0, "limit": 2, "count": 6}
    assert {j["state"] for j in elements} == {"SUCCEEDED"}
    assert overlapping(elements) <= 2, elements
    # list: one row for the array; --json carries its summary.
    grouped = arrays.cli_json("list", user=alice)["jobs"]
    assert len(grouped) == 1 and grouped[0]["array_summary"]["indices"] == "0-5", grouped
    assert grouped[0]["array_summary"]["states"] == {"SUCCEEDED": 6}
    table = arrays.cli("list", user=alice).stdout
    assert "seg[0-5]%2" in table and "6 SUCCEEDED" in table, table
    # details: the array as a whole, or one element.
    whole = arrays.cli("details", "-j", "seg", user=alice).stdout
    assert f"Array:       {array_id} (seg[0-5]), 6 jobs, at most 2 running at once" in whole, whole
    one = arrays.cli("details", "-j", "seg[4]", user=alice).stdout
    assert f"Array:       index 4 of array {array_id} (6 jobs, at most 2 at once)" in one, one
    assert "--env=JOBMAN_ARRAY_INDEX=4" in arrays.cli_json("details", "-j", "seg[4]", user=alice)["job"]["argv"]
    # A command of one job refuses the whole array, naming an element.
    logs = arrays.cli("logs", "-j", "seg", user=alice)
    assert logs.returncode == 2 and "name one of its elements, as seg[0]" in logs.stderr, logs.stderr
    # Another user sees none of it.
    assert arrays.cli("details", "-j", str(array_id), user=users["jmtest2"]).returncode == 3
    assert arrays.cli("delete", "-j", "seg[1]", user=users["jmtest2"]).returncode == 3


def test_queue_shows_an_array_as_one_row_waiting_for_its_limit(arrays, users):
    alice = users["jmtest1"]
    job = arrays.cli_json("submit", "-i", "jt", "--array", "0-3%1", "--", "sleep 30", user=alice)
    array_id = job["array"]["id"]
    assert job["array"]["ids"] == list(range(array_id, array_id + 4))
    arrays.wait_state(array_id, {"RUNNING"}, user=alice)
    rows = [r for r in arrays.cli_json("queue", user=alice)["yours"] if r.get("array")]
    assert len(rows) == 1 and rows[0]["array"] == {"id": array_id, "queued": 3}, rows
    assert rows[0]["waits_for"] == "array_limit" and f"array {array_id}'s jobs are running, its limit (%1)" in rows[0]["detail"], rows
    assert rows[0]["name"].endswith("[1-3]"), rows
    text = arrays.cli("queue", user=alice).stdout
    assert "(3 queued)" in text and "array_limit" in text, text
    # Delete one element, then the rest.
    gone = arrays.cli_json("delete", "-j", f"{array_id}[2]", user=alice)["deleted"]
    assert [d["id"] for d in gone] == [array_id + 2]
    rest = arrays.cli_json("delete", "-j", str(array_id), user=alice)["deleted"]
    assert sorted(d["id"] for d in rest) == [array_id, array_id + 1, array_id + 3]
    assert arrays.cli_json("list", user=alice)["jobs"] == []


def test_hold_release_and_after_take_a_whole_array(arrays, users):
    alice = users["jmtest1"]
    first = arrays.cli_json("submit", "-i", "jt", "-j", "cohort", "--array", "1,3,5", "--hold", "--", "exit $(( {index} == 3 ))",
                            user=alice)
    array_id = first["array"]["id"]
    summary = arrays.cli_json("submit", "-i", "jt", "-j", "summary", "--after", "any:cohort", "--", "echo done", user=alice)["job"]
    assert sorted(summary["after_any"]) == [array_id, array_id + 1, array_id + 2]
    only_ok = arrays.cli_json("submit", "-i", "jt", "-j", "first-ok", "--after", "cohort[1]", "--", "true", user=alice)["job"]
    assert only_ok["after"] == [array_id]
    held = [r for r in arrays.cli_json("queue", user=alice)["yours"] if r.get("array")]
    assert held and held[0]["waits_for"] == "held", held
    released = arrays.cli("release", "-j", "cohort", user=alice)
    assert released.returncode == 0 and f"Array {array_id}: released 3 of its 3 queued jobs" in released.stdout, released.stdout
    waited = arrays.cli("wait", "-j", "cohort", user=alice, timeout=120)
    assert waited.returncode == 1, waited.stdout  # index 3 failed
    assert f"job {array_id + 1} (index 3) FAILED" in waited.stdout, waited.stdout
    assert arrays.cli("wait", "-j", "summary", user=alice, timeout=60).returncode == 0
    assert arrays.cli("wait", "-j", "first-ok", user=alice, timeout=60).returncode == 0
    # The array's name is taken, as a job's would be; an element resubmits as a job of its own.
    taken = arrays.cli("submit", "-i", "jt", "-j", "cohort", "--", "true", user=alice)
    assert taken.returncode == 2 and "cohort" in taken.stderr, taken.stderr
    again = arrays.cli_json("resubmit", "-j", "cohort[3]", user=alice)["job"]
    assert again["name"] == "cohort-3-r2" and again["array"] is None and again["args"] == ["exit $(( 3 == 3 ))"], again


@pytest.mark.parametrize("spec, words", [
    ("", "empty"),
    ("5-3", "backwards"),
    ("0-99%0", "at least 1"),
    ("0-50", "more than 50 jobs"),
    ("1,1", "given twice"),
    ("a-b", "not an index"),
    ("0-1000000", "not an index"),
    ("1;reboot", "not an index"),
])
def test_a_bad_array_is_refused_and_queues_nothing(arrays, users, spec, words):
    alice = users["jmtest1"]
    out = arrays.cli("submit", "-i", "jt", "--array", spec, "--", "true", user=alice)
    if spec == "":  # the CLI sends none: a plain job
        assert out.returncode == 0, out.stderr
        return
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert arrays.cli_json("list", user=alice)["jobs"] == []


@pytest.mark.parametrize("ref, code, words", [
    ("nope[1]", 3, "no job 'nope'"),
    ("seg[99]", 3, "has no listed element [99]; its elements: [0-1]"),
    ("seg[x]", 2, "is not a job reference"),
    ("seg[-1]", 2, "is not a job reference"),
    ("seg[]", 2, "is not a job reference"),
    ("[1]", 2, "is not a job reference"),
    ("seg[1][1]", 2, "job name 'seg[1]'"),
    ("seg[99999999]", 2, "is not a job reference"),
])
def test_bad_element_references_are_refused(arrays, users, ref, code, words):
    alice = users["jmtest1"]
    assert arrays.cli("submit", "-i", "jt", "-j", "seg", "--array", "0-1", "--hold", "--", "true", user=alice).returncode == 0
    out = arrays.cli("details", "-j", ref, user=alice)
    assert out.returncode == code and words in out.stderr, (ref, out.stderr)
    plain = arrays.cli_json("submit", "-i", "jt", "-j", "plain", "--hold", "--", "true", user=alice)["job"]
    out = arrays.cli("details", "-j", f"{plain['id']}[0]", user=alice)
    assert out.returncode == 2 and "is not an array" in out.stderr, out.stderr


def test_waiting_for_arrays_is_bounded(images, users, daemon_dir):
    """--after ARRAY waits for each of its jobs: at most 1000 in all for one job, and
    100,000 for all the jobs of an array (each is a row every plan reads)."""
    d = Daemon(daemon_dir, {"limits": {"max_running": 1, "max_array_size": 1000}}).start()
    try:
        alice = users["jmtest1"]
        for name in ("big1", "big2"):
            assert d.cli("submit", "-i", "jt", "-j", name, "--array", "0-599", "--hold", "--", "true", user=alice).returncode == 0
        too_many = d.cli("submit", "-i", "jt", "--after", "any:big1,big2", "--", "true", user=alice)
        assert too_many.returncode == 2 and "1200 jobs in all (an array counts each of its jobs); at most 1000" in too_many.stderr, too_many.stderr
        wide = d.cli("submit", "-i", "jt", "--array", "0-199", "--after", "any:big1", "--", "true", user=alice)
        assert wide.returncode == 2 and "120000 waits in all; at most 100000" in wide.stderr, wide.stderr
        fine = d.cli_json("submit", "-i", "jt", "--after", "any:big1", "--", "true", user=alice)["job"]
        assert len(fine["after_any"]) == 600
        assert d.cli("delete", "-j", "big1", user=alice).returncode == 0  # 600 at once
        assert len(d.cli_json("list", user=alice)["jobs"]) == 2  # big2 as one row, and the waiting job (cancelled)
    finally:
        d.finish()
