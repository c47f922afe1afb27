#!/usr/bin/env python3
"""Helpers for bench/history.sh, working on a (stopped or running) jobmand's jobman.db.

  history_db.py load DB N EVENTS_PER_JOB TARGET_UID TARGET_GID TARGET_USER
      Inserts N finished jobs (ids 1..N) and EVENTS_PER_JOB events each into an empty
      database created by jobmand, in one transaction. The database must be at the schema
      version the source tree's daemon/store/migrations.hpp names, and the loader checks the
      columns it fills against the table (so a migration that only adds indexes or
      defaulted columns needs nothing here; one that adds a required column fails loudly). The daemon must be
      stopped. Prints `key=value` lines (timings, an old job of TARGET_USER's).

  history_db.py sql DB REPS SLOW_REPS TARGET_UID OLD_ID OLD_NAME
      Opens DB read-only (the daemon may run: WAL) and, for each query the daemon runs for
      `jobman list`/`details`/`submit`, prints EXPLAIN QUERY PLAN and the median/p90 of REPS
      executions (SLOW_REPS if the first took over 100 ms) of execute + fetch all rows, as TSV
      lines `query<TAB>rows<TAB>n<TAB>median ms<TAB>p90 ms<TAB>plan`.

The SQL below is copied from daemon/store/job_store.cpp (k_columns, list(), get_listed(),
events(), find_by_name(), queue_entries(), count_queued()) and daemon/store/stats.cpp
(run_stats()); keep it in step.
"""

import json
import os
import random
import re
import sqlite3
import statistics
import sys
import time


def code_schema_version():
    """k_current_schema_version from the source tree this script is in (JOBMAN_SOURCE_DIR if set)."""
    source = os.environ.get("JOBMAN_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    header = os.path.join(source, "daemon", "store", "migrations.hpp")
    with open(header) as f:
        found = re.search(r"k_current_schema_version\s*=\s*(\d+)", f.read())
    if not found:
        sys.exit(f"{header}: no k_current_schema_version")
    return int(found.group(1))

# ------------------------------------------------------------------ load

USERS = [  # (uid, gid, name, weight); the target user is added by load()
    (0, 0, "root", 1),
    (2001, 2001, "alice", 22),
    (2002, 2002, "bob", 15),
    (2003, 2003, "carol", 12),
    (2004, 2004, "dave", 10),
    (2005, 2005, "erin", 8),
    (2006, 2006, "frank", 7),
    (2007, 2007, "grace", 5),
]
IMAGES = [  # (catalogue name:version, entrypoint args)
    ("pytorch:2.3", ["python train.py --epochs 20 --lr 3e-4 --data /data/imagenet"]),
    ("analysis:1.4", ["Rscript analyse.R --input /data/run42 --out /home/out"]),
    ("bench:1.0", ["true"]),
    ("simulate:0.9", ["./simulate --steps 100000 --seed 7"]),
    ("etl:3.1", ["python -m etl.nightly --since 2026-01-01"]),
]
FLAVORS = [  # (name, resources, weight)
    ("default", {"cpus": 1.0, "memory": 2147483648, "shm": 67108864, "gpus": 0, "time_limit": 3600}, 70),
    ("large", {"cpus": 8.0, "memory": 34359738368, "shm": 1073741824, "gpus": 0, "time_limit": 86400}, 20),
    ("gpu", {"cpus": 8.0, "memory": 68719476736, "shm": 8589934592, "gpus": 1, "time_limit": 172800}, 10),
]
STATES = [("SUCCEEDED", 70), ("FAILED", 20), ("CANCELLED", 7), ("TIMEOUT", 3)]


def weighted(items, weight_index):
    out = []
    for item in items:
        out += [item] * item[weight_index]
    return out


def load(db_path, n, events_per_job, target_uid, target_gid, target_user):
    rng = random.Random(20261121)
    con = sqlite3.connect(db_path, isolation_level=None)
    version = con.execute("PRAGMA user_version").fetchone()[0]
    expected = code_schema_version()
    if version != expected:
        sys.exit(f"{db_path}: schema version {version}, but the jobmand source here migrates to {expected}: "
                 "was the database made by another build?")
    if con.execute("SELECT count(*) FROM jobs").fetchone()[0]:
        sys.exit(f"{db_path}: jobs is not empty")
    instance = con.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]

    columns = ["id", "name", "uid", "gid", "user", "image", "image_id", "args", "replace_entrypoint", "env", "state",
               "exit_code", "reason", "argv", "container", "submitted_at", "started_at", "ended_at", "deleted_at",
               "flavor", "resources", "mounts", "groups", "gpu_devices", "priority",
               "peak_memory", "peak_resident", "cpu_ms", "cpu_user_ms", "cpu_system_ms", "usage_source"]
    # Every NOT NULL column without a default must be filled here, and every column filled
    # must exist: a migration that breaks either fails loudly.
    table = list(con.execute("PRAGMA table_info(jobs)"))
    missing = [c for c in columns if c not in {row[1] for row in table}]
    if missing:
        sys.exit(f"jobs has no column {', '.join(missing)}: update bench/history_db.py to the current schema")
    for _, name, _, notnull, default, pk in table:
        if notnull and default is None and not pk and name not in columns:
            sys.exit(f"jobs.{name} is NOT NULL without a default and this loader does not fill it")

    users = weighted(USERS + [(target_uid, target_gid, target_user, 20)], 3)
    flavors = weighted(FLAVORS, 2)
    states = weighted(STATES, 1)
    image_ids = {image: "%064x" % rng.getrandbits(256) for image, _ in IMAGES}
    resources_json = {name: json.dumps(res) for name, res, _ in FLAVORS}

    now = int(time.time() * 1000)
    year = 365 * 24 * 3600 * 1000
    step = year / n

    def argv_for(job_id, name, uid, gid, user, flavor, image, args, env, gpus):
        res = dict((f[0], f[1]) for f in FLAVORS)[flavor]
        a = ["podman", "--runtime", "runc", "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
             "--name", f"jobman-{instance}-{job_id}", "--label", f"jobman.job={job_id}",
             "--label", f"jobman.instance={instance}", "--label", f"jobman.user={user}",
             "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             "--user", f"{uid}:{gid}", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777",
             "--pids-limit", "4096", "--init", "--pull", "never", "--log-driver", "none", "--stop-timeout", "10",
             "--memory", str(res["memory"]), "--memory-swap", str(res["memory"]), "--cpus", "%g" % res["cpus"],
             "--shm-size", str(res["shm"]), "--group-add", str(gid),
             f"--mount=type=bind,source=/home/{user},target=/home/{user},readonly"]
        a += ["--device", f"nvidia.com/gpu={gpus[0]}"] if gpus else ["--env=NVIDIA_VISIBLE_DEVICES=void"]
        a += [f"--env=JOBMAN_JOB_ID={job_id}", f"--env=JOBMAN_JOB_NAME={name}", f"--env=JOBMAN_USER={user}"]
        a += [f"--env={k}={v}" for k, v in env]
        a += [image_ids[image]] + args
        return a

    stats = {"argv_elements": 0, "argv_bytes": 0}
    events = []

    def jobs():
        for job_id in range(1, n + 1):
            uid, gid, user, _ = rng.choice(users)
            image, args = IMAGES[job_id % len(IMAGES)] if rng.random() < 0.3 else rng.choice(IMAGES)
            flavor, _, _ = rng.choice(flavors)
            state = rng.choice(states)[0]
            base = image.split(":")[0]
            name = f"{base}-{job_id}" if rng.random() < 0.8 else f"{user}-{base}-run{job_id}"
            env = [["SEED", str(job_id % 1000)]] if rng.random() < 0.3 else []
            gpus = [str(job_id % 4)] if flavor == "gpu" else []
            submitted = int(now - year + job_id * step + rng.random() * step)
            started = submitted + int(rng.expovariate(1 / 20000))  # ~20 s in the queue
            limit_ms = dict((f[0], f[1]) for f in FLAVORS)[flavor]["time_limit"] * 1000
            runtime = min(int(rng.lognormvariate(11, 2)), limit_ms)  # median ~60 s
            exit_code, reason = 0, "exit code 0"
            if state == "FAILED":
                exit_code = rng.choice([1, 1, 1, 2, 137, 139, 127])
                reason = f"exit code {exit_code}"
            elif state == "TIMEOUT":
                runtime, exit_code = limit_ms, 137
                reason = f"stopped after {limit_ms // 1000}s at its time limit of {limit_ms // 1000}s"
            elif state == "CANCELLED":
                exit_code, reason = None, f"deleted by {user}"
                if rng.random() < 0.4:
                    started = None  # cancelled while queued
            ended = (started if started is not None else submitted + 5000) + (runtime if started else 0)
            deleted = ended + rng.randint(1000, 7 * 86400000) if rng.random() < 0.05 else None
            argv = argv_for(job_id, name, uid, gid, user, flavor, image, args, env, gpus)
            argv_json = json.dumps(argv)
            if job_id <= 1000:
                stats["argv_elements"] += len(argv)
                stats["argv_bytes"] += len(argv_json)
            mounts = json.dumps([{"source": f"/home/{user}", "target": f"/home/{user}", "read_only": True}])
            # What it used (issue 12): some of its CPUs, some of its memory, as sampled.
            usage = (None, None, None, None, None, "")
            if started is not None:
                res = dict((f[0], f[1]) for f in FLAVORS)[flavor]
                cpu = int(runtime * res["cpus"] * rng.uniform(0.02, 0.95))
                resident = int(res["memory"] * rng.uniform(0.01, 0.9))
                usage = (resident + int(resident * rng.uniform(0, 0.1)), resident, cpu, cpu * 9 // 10, cpu - cpu * 9 // 10, "cgroup v2")
            events.append((job_id, submitted, None, "QUEUED", "submitted"))
            if events_per_job >= 4 and started is not None:
                events.append((job_id, started - 3, "QUEUED", "STARTING", "a slot is free"))
                events.append((job_id, started, "STARTING", "RUNNING", "container started"))
            if events_per_job >= 2:
                prev = "RUNNING" if started is not None else "QUEUED"
                events.append((job_id, ended, prev, state, reason))
            yield (job_id, name, uid, gid, user, image, image_ids[image], json.dumps(args), 0, json.dumps(env), state,
                   exit_code, reason, argv_json, f"jobman-{instance}-{job_id}", submitted, started, ended, deleted,
                   flavor, resources_json[flavor], mounts, json.dumps([gid]), json.dumps(gpus), 0, *usage)

    t0 = time.monotonic()
    # The daemon is stopped: a rollback journal without fsyncs is enough for a throwaway
    # database (jobmand switches it back to WAL when it opens it).
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -2000000")
    con.execute("BEGIN")
    insert_jobs = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    insert_events = "INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)"
    chunk = 50000
    gen = jobs()
    done = 0
    while done < n:
        batch = [row for _, row in zip(range(chunk), gen)]
        con.executemany(insert_jobs, batch)
        con.executemany(insert_events, events)
        done += len(batch)
        events.clear()
    t_rows = time.monotonic()
    con.execute("COMMIT")
    t_commit = time.monotonic()
    con.execute("PRAGMA journal_mode = WAL")
    # An old job of the target user's, for `details`.
    old_id, old_name = con.execute(
        "SELECT id, name FROM jobs WHERE uid = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT 1",
        (target_uid, n // 100)).fetchone()
    counts = dict(con.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    n_events = con.execute("SELECT count(*) FROM job_events").fetchone()[0]
    n_target = con.execute("SELECT count(*) FROM jobs WHERE uid = ? AND deleted_at IS NULL", (target_uid,)).fetchone()[0]
    n_deleted = con.execute("SELECT count(*) FROM jobs WHERE deleted_at IS NOT NULL").fetchone()[0]
    con.close()
    print(f"insert_s={t_rows - t0:.1f}")
    print(f"commit_s={t_commit - t_rows:.1f}")
    print(f"jobs={n}")
    print(f"events={n_events}")
    print(f"deleted={n_deleted}")
    print(f"target_listed={n_target}")
    print("states=" + ",".join(f"{k}:{v}" for k, v in sorted(counts.items())))
    print(f"argv_elements_avg={stats['argv_elements'] / min(n, 1000):.1f}")
    print(f"argv_bytes_avg={stats['argv_bytes'] / min(n, 1000):.0f}")
    print(f"old_id={old_id}")
    print(f"old_name={old_name}")


# ------------------------------------------------------------------ sql timings

K_COLUMNS = ("id, name, uid, gid, user, image, image_id, args, replace_entrypoint, env, state, exit_code, reason, "
             "argv, container, submitted_at, started_at, ended_at, flavor, resources, mounts, groups, gpu_devices, priority, "
             "(SELECT json_group_array(json_array(depends_on, kind)) FROM job_dependencies WHERE job_id = jobs.id), deleted_at IS NOT NULL")


def list_sql(uid, state):
    where = "deleted_at IS NULL"
    if uid is not None:
        where += " AND uid = :uid"
    if state is not None:
        where += " AND state = :state"
    return f"SELECT {K_COLUMNS} FROM jobs WHERE {where} ORDER BY id DESC LIMIT :limit"


def stats_sql(key, one_user):
    """run_stats() in daemon/store/stats.cpp."""
    return (f"SELECT {key}, state, started_at, ended_at, cpu_ms, peak, cpus, gpus FROM job_accounting "
            "WHERE ended_at >= :since AND ended_at < :until" + (" AND uid = :uid" if one_user else ""))


def sql(db_path, reps, slow_reps, uid, old_id, old_name):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    queries = [
        # (label, sql, params)
        ("list (user's own, newest 50)", list_sql(uid, None), {"uid": uid, "limit": 50}),
        ("list --state FAILED (user's own)", list_sql(uid, "x"), {"uid": uid, "state": "FAILED", "limit": 50}),
        ("list (root's own, newest 50)", list_sql(0, None), {"uid": 0, "limit": 50}),
        ("list --state FAILED (root's own)", list_sql(0, "x"), {"uid": 0, "state": "FAILED", "limit": 50}),
        ("list --all-users", list_sql(None, None), {"limit": 50}),
        ("list --all-users --state TIMEOUT", list_sql(None, "x"), {"state": "TIMEOUT", "limit": 50}),
        ("list --state QUEUED (root's own, empty)", list_sql(0, "x"), {"uid": 0, "state": "QUEUED", "limit": 50}),
        ("details by id: get_listed", f"SELECT {K_COLUMNS} FROM jobs WHERE id = ? AND deleted_at IS NULL", (old_id,)),
        ("details by id: events", "SELECT at, from_state, to_state, reason FROM job_events WHERE job_id = ? ORDER BY id", (old_id,)),
        ("details by name, user: find_by_name",
         f"SELECT {K_COLUMNS} FROM jobs WHERE name = ? AND deleted_at IS NULL AND uid = ? ORDER BY id", (old_name, uid)),
        ("details by name, root: find_by_name",
         f"SELECT {K_COLUMNS} FROM jobs WHERE name = ? AND deleted_at IS NULL  ORDER BY id", (old_name,)),
        ("submit/schedule: queue_entries",
         "SELECT id, uid, state, priority, COALESCE(json_extract(resources, '$.gpus'), 0), flavor, name FROM jobs "
         "WHERE state IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY id", ()),
        ("submit: count_queued", "SELECT COUNT(*) FROM jobs WHERE uid = ? AND state = 'QUEUED'", (uid,)),
        ("stats --since all --by user: run_stats", stats_sql("user", False), {"since": 0, "until": 2 ** 62}),
        ("stats --since all (user's own): run_stats", stats_sql("''", True), {"since": 0, "until": 2 ** 62, "uid": uid}),
        ("stats last 30 days: run_stats", stats_sql("''", False), {"since": int(time.time() * 1000) - 30 * 86400000, "until": 2 ** 62}),
    ]
    for label, text, params in queries:
        plan = "; ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + text, params))
        t0 = time.perf_counter()
        rows = len(con.execute(text, params).fetchall())  # warm-up (page cache)
        n = slow_reps if time.perf_counter() - t0 > 0.1 else reps
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            con.execute(text, params).fetchall()
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        p90 = samples[min(len(samples) - 1, int(round(0.9 * (len(samples) - 1))))]
        print(f"{label}\t{rows}\t{n}\t{statistics.median(samples):.3f}\t{p90:.3f}\t{plan}")
    print(f"#sqlite_version\t{sqlite3.sqlite_version}")


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "load":
        load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    elif len(sys.argv) == 8 and sys.argv[1] == "sql":
        sql(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        sys.exit(__doc__)
