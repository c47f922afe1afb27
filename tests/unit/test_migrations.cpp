// Tests for daemon/store/migrations.hpp: the schema version a database is created at, refusing
// a newer one, and bringing an older one up to date; each test has its own temp dir.

#include "daemon/store/migrations.hpp"

#include "daemon/store/job_store.hpp"
#include "job_fixtures.hpp"
#include "matchers.hpp"
#include "temp_dir.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::store;
using namespace jobman::test; // TempDir, IsError and the jobs of job_fixtures.hpp

namespace {

// Schema version 1, as migration 1 in daemon/store/migrations.cpp created it. Kept verbatim
// here, deliberately a copy and not shared with that file: a shipped migration never changes.
constexpr const char* k_schema_v1 = R"sql(
    CREATE TABLE jobs (
      id                 INTEGER PRIMARY KEY AUTOINCREMENT,
      name               TEXT    NOT NULL,
      uid                INTEGER NOT NULL,
      gid                INTEGER NOT NULL,
      user               TEXT    NOT NULL,
      image              TEXT    NOT NULL,
      image_id           TEXT    NOT NULL,
      args               TEXT    NOT NULL DEFAULT '[]',
      replace_entrypoint INTEGER NOT NULL DEFAULT 0,
      env                TEXT    NOT NULL DEFAULT '[]',
      state              TEXT    NOT NULL,
      exit_code          INTEGER,
      reason             TEXT    NOT NULL DEFAULT '',
      argv               TEXT    NOT NULL DEFAULT '[]',
      container          TEXT    NOT NULL DEFAULT '',
      submitted_at       INTEGER NOT NULL,
      started_at         INTEGER,
      ended_at           INTEGER,
      deleted_at         INTEGER
    );
    CREATE UNIQUE INDEX jobs_uid_name ON jobs(uid, name) WHERE deleted_at IS NULL;
    CREATE INDEX jobs_uid_id ON jobs(uid, id);
    CREATE INDEX jobs_active ON jobs(state, id) WHERE state IN ('QUEUED', 'STARTING', 'RUNNING');
    CREATE TABLE job_events (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      at         INTEGER NOT NULL,
      from_state TEXT,
      to_state   TEXT    NOT NULL,
      reason     TEXT    NOT NULL DEFAULT ''
    );
    CREATE INDEX job_events_job ON job_events(job_id, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  )sql";

// A database left by jobman at schema 1: one finished job and one still queued.
void create_v1_database(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(k_schema_v1);
  db.exec("INSERT INTO meta (key, value) VALUES ('instance', 'c0ffee01')");
  db.exec(R"sql(
    INSERT INTO jobs (name, uid, gid, user, image, image_id, args, replace_entrypoint, env, state, exit_code, reason, argv,
                      container, submitted_at, started_at, ended_at)
    VALUES ('old-run', 1001, 1001, 'alice', 'app:1.0', 'sha256:old', '["python","run.py"]', 0, '[["SEED","7"]]',
            'SUCCEEDED', 0, 'the job exited with exit code 0', '["podman","run","sha256:old"]', 'jobman-c0ffee01-1',
            1700000000000, 1700000001000, 1700000002000);
    INSERT INTO jobs (name, uid, gid, user, image, image_id, state, submitted_at, container)
    VALUES ('waiting', 1002, 1002, 'bob', 'tool:2', 'sha256:tool', 'QUEUED', 1700000003000, 'jobman-c0ffee01-2');
    INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (1, 1700000000000, NULL, 'QUEUED', 'submitted');
    INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (2, 1700000003000, NULL, 'QUEUED', 'submitted');
    PRAGMA user_version = 1;
  )sql");
}

} // namespace

TEST_CASE("a new database is created at the current schema version", "[migrations]") {
  TempDir dir;
  { JobStore store(dir.file("jobman.db")); }
  SQLite::Database db(dir.file("jobman.db"));
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == k_current_schema_version);
}

TEST_CASE("a database from a newer jobman is refused", "[migrations]") {
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version = " + std::to_string(k_current_schema_version + 1));
  }
  CHECK_THROWS_MATCHES(JobStore(path), Error, IsError(ErrorCode::Internal, {path, "newer", std::to_string(k_current_schema_version + 1)}));
  // Nothing was created in the refused database.
  SQLite::Database db(path);
  CHECK_FALSE(db.tableExists("jobs"));
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == k_current_schema_version + 1);
}

TEST_CASE("a database at the current version is opened without migrating again", "[migrations]") {
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  { JobStore store(path); store.insert(new_job(1001), fake_argv); }
  { JobStore store(path); CHECK(store.list({}).size() == 1); }
  SQLite::Database db(path);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == k_current_schema_version);
}

TEST_CASE("a schema 1 database is migrated and its jobs read back with empty new fields", "[migrations]") {
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  create_v1_database(path);
  {
    JobStore store(path);
    CHECK(store.instance() == "c0ffee01");

    auto old = store.get(1);
    REQUIRE(old.has_value());
    CHECK(old->spec.name == "old-run");
    CHECK(old->uid == 1001);
    CHECK(old->user == "alice");
    CHECK(old->spec.image == "app:1.0");
    CHECK(old->spec.image_id == "sha256:old");
    CHECK(old->spec.args == Argv{"python", "run.py"});
    CHECK(old->spec.env == std::vector<EnvVar>{{"SEED", "7"}});
    CHECK(old->state == JobState::Succeeded);
    CHECK(old->exit_code == std::optional<int>(0));
    CHECK(old->argv == Argv{"podman", "run", "sha256:old"});
    CHECK(old->container == "jobman-c0ffee01-1");
    CHECK(old->submitted_at == 1700000000000);
    CHECK(old->started_at == std::optional<TimePoint>(1700000001000));
    CHECK(old->ended_at == std::optional<TimePoint>(1700000002000));
    // What schema 1 did not know reads back empty: no flavor, no limits, no mounts.
    CHECK(old->spec.flavor.empty());
    CHECK(old->spec.resources.cpus == 0);
    CHECK(old->spec.resources.memory == 0);
    CHECK(old->spec.resources.shm == 0);
    CHECK(old->spec.resources.gpus == 0);
    CHECK(old->spec.resources.time_limit == 0);
    CHECK(old->spec.mounts.empty());
    CHECK(old->spec.groups.empty());
    CHECK(old->gpu_devices.empty());
    CHECK(store.events(1).size() == 1);

    // The queued job is still active and can move on.
    auto active = store.active();
    REQUIRE(active.size() == 1);
    CHECK(active[0].id == 2);
    CHECK(active[0].spec.name == "waiting");
    CHECK(active[0].spec.args.empty());
    CHECK(store.transition(2, JobState::Starting, "a slot is free").state == JobState::Starting);
    CHECK(store.set_launch(2, {}, {"0"}, {"podman", "run", "sha256:tool"}).gpu_devices == Argv{"0"});

    // New jobs continue the id sequence with every new field.
    Job fresh = store.insert(resourced_job(1001, "new"), fake_argv);
    CHECK(fresh.id == 3);
    CHECK(fresh.container == "jobman-c0ffee01-3");
    auto got = store.get(3);
    REQUIRE(got.has_value());
    check_resources(*got);
    // Old names are still taken.
    CHECK_THROWS_MATCHES(store.insert(new_job(1001, "old-run"), fake_argv), Error, IsError(ErrorCode::Conflict, {"'old-run'"}));
  }
  SQLite::Database db(path);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == k_current_schema_version);
  // Migration 2's columns.
  for (const char* column : {"flavor", "resources", "mounts", "groups", "gpu_devices"}) {
    CAPTURE(column);
    SQLite::Statement q(db, std::string("SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = '") + column + "'");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt() == 1);
  }
  // Migration 10 filled the accounting with the job that had ended (and only it).
  {
    SQLite::Statement q(db, "SELECT job_id, uid, user, image, state, started_at, ended_at, cpus, gpus, cpu_ms, peak FROM job_accounting");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getInt64() == 1);
    CHECK(q.getColumn(2).getString() == "alice");
    CHECK(q.getColumn(3).getString() == "app:1.0");
    CHECK(q.getColumn(4).getString() == "SUCCEEDED");
    CHECK(q.getColumn(6).getInt64() == 1700000002000);
    CHECK(q.getColumn(7).getDouble() == 0);
    CHECK(q.getColumn(9).isNull());
    CHECK_FALSE(q.executeStep());
  }
  // Reopening a migrated database does not migrate again.
  CHECK(JobStore(path).get(1)->spec.name == "old-run");
  CHECK(SQLite::Database(path).execAndGet("PRAGMA user_version").getInt() == k_current_schema_version);
}

TEST_CASE("looking a job up by name across users uses an index, not a scan", "[migrations]") {
  TempDir dir;
  { JobStore store(dir.file("jobman.db")); }
  SQLite::Database db(dir.file("jobman.db"));
  SQLite::Statement plan(db, "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE name = 'x' AND deleted_at IS NULL ORDER BY id");
  std::string steps;
  while (plan.executeStep()) steps += plan.getColumn(3).getString() + "\n";
  INFO(steps);
  CHECK(steps.find("USING INDEX jobs_name") != std::string::npos);
  CHECK(steps.find("SCAN jobs\n") == std::string::npos);
}

TEST_CASE("migration 5 counts each user's stored bytes, and triggers keep the count", "[migrations]") {
  // Issue 9, V6: limits.max_stored_bytes_per_user reads user_usage.
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  create_v1_database(path);
  JobStore store(path);
  auto bytes_of_rows = [&](std::uint32_t uid) {
    SQLite::Database db(path);
    SQLite::Statement q(db, "SELECT COALESCE(SUM(length(CAST(args AS BLOB)) + length(CAST(env AS BLOB)) + length(CAST(argv AS BLOB))), 0) FROM jobs WHERE uid = ?");
    q.bind(1, static_cast<std::int64_t>(uid));
    q.executeStep();
    return q.getColumn(0).getInt64();
  };
  // The old rows were counted by the migration itself.
  CHECK(store.stored_bytes(1001) > 0);
  CHECK(store.stored_bytes(1001) == bytes_of_rows(1001));
  Job big = new_job(1001, "big");
  big.spec.args = Argv(100, std::string(1000, 'x'));
  big.spec.args.push_back("日本語の引数"); // counted in bytes, not characters
  Job inserted = store.insert(big, fake_argv);
  CHECK(store.stored_bytes(1001) == bytes_of_rows(1001));
  CHECK(store.stored_bytes(1001) > 100000);
  store.insert(new_job(2002, "other"), fake_argv);
  CHECK(store.stored_bytes(2002) == bytes_of_rows(2002));
  store.transition(inserted.id, JobState::Starting, "a slot is free");
  store.set_launch(inserted.id, {}, {}, Argv(200, std::string(500, 'y'))); // the final argv
  CHECK(store.stored_bytes(1001) == bytes_of_rows(1001));
  store.remove_jobs({inserted.id});
  CHECK(store.stored_bytes(1001) == bytes_of_rows(1001));
  CHECK(store.stored_bytes(1001) < 100000);
  CHECK(store.stored_bytes(4242) == 0); // a user with no jobs
}

TEST_CASE("migration 6 counts each user's ended jobs' logs, and triggers keep the count", "[migrations]") {
  // Issue 9, V6: limits.max_log_bytes_per_user reads user_usage.log_bytes.
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  create_v1_database(path);
  JobStore store(path);
  CHECK(store.log_bytes(1001) == 0); // logs from before schema 6 are not known
  Job a = store.insert(new_job(1001, "a"), fake_argv);
  Job b = store.insert(new_job(1001, "b"), fake_argv);
  Job c = store.insert(new_job(2002, "c"), fake_argv);
  store.set_log_bytes(a.id, 1000);
  store.set_log_bytes(b.id, 250);
  store.set_log_bytes(c.id, 7);
  CHECK(store.log_bytes(1001) == 1250);
  CHECK(store.log_bytes(2002) == 7);
  store.set_log_bytes(a.id, 400); // set again (a second end, after recovery): replaced, not added
  CHECK(store.log_bytes(1001) == 650);
  store.mark_deleted(b.id); // deleted jobs' logs stay until purged, and count
  CHECK(store.log_bytes(1001) == 650);
  store.remove_jobs({a.id, b.id});
  CHECK(store.log_bytes(1001) == 0);
  CHECK(store.log_bytes(2002) == 7);
  CHECK(store.log_bytes(4242) == 0); // a user with no jobs
}
