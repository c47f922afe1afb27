#include "daemon/store/migrations.hpp"

#include "common/errors.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <array>
#include <fmt/format.h>

namespace jobman::daemon::store {

namespace {
// Migration N (1-based) takes user_version N-1 to N. Never edit one that has shipped; add one.
constexpr std::array<const char*, k_current_schema_version> k_migrations{
  // 1: jobs, events, instance id.
  R"sql(
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
    -- A name picks one job among a user's listed jobs.
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
    INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(4))));
  )sql",
  // 2: resource flavors, mounts, GPUs.
  R"sql(
    ALTER TABLE jobs ADD COLUMN flavor      TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN resources   TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE jobs ADD COLUMN mounts      TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE jobs ADD COLUMN groups      TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE jobs ADD COLUMN gpu_devices TEXT NOT NULL DEFAULT '[]';
  )sql",
  // 3: priorities, dependencies, and indexes for long histories.
  R"sql(
    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE job_dependencies (
      job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      depends_on INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      PRIMARY KEY (job_id, depends_on)
    );
    CREATE INDEX job_dependencies_on ON job_dependencies(depends_on);
    CREATE INDEX jobs_uid_state_id ON jobs(uid, state, id);
    CREATE INDEX jobs_state_id ON jobs(state, id);
  )sql",
  // 4: admins look jobs up by name across users (the (uid, name) index cannot serve that).
  R"sql(
    CREATE INDEX jobs_name ON jobs(name) WHERE deleted_at IS NULL;
  )sql",
  // 5: what each user's rows take (args, env, argv), for limits.max_stored_bytes_per_user;
  // kept by triggers, so every writer (and the benchmarks' loader) keeps it right. In bytes:
  // length() of TEXT counts characters.
  R"sql(
    CREATE TABLE user_usage (uid INTEGER PRIMARY KEY, stored_bytes INTEGER NOT NULL DEFAULT 0);
    INSERT INTO user_usage (uid, stored_bytes)
      SELECT uid, SUM(length(CAST(args AS BLOB)) + length(CAST(env AS BLOB)) + length(CAST(argv AS BLOB))) FROM jobs GROUP BY uid;
    CREATE TRIGGER jobs_usage_insert AFTER INSERT ON jobs BEGIN
      INSERT INTO user_usage (uid, stored_bytes) VALUES (NEW.uid, 0) ON CONFLICT (uid) DO NOTHING;
      UPDATE user_usage SET stored_bytes = stored_bytes + length(CAST(NEW.args AS BLOB)) + length(CAST(NEW.env AS BLOB)) + length(CAST(NEW.argv AS BLOB)) WHERE uid = NEW.uid;
    END;
    CREATE TRIGGER jobs_usage_update AFTER UPDATE OF args, env, argv ON jobs BEGIN
      UPDATE user_usage SET stored_bytes = stored_bytes - length(CAST(OLD.args AS BLOB)) - length(CAST(OLD.env AS BLOB)) - length(CAST(OLD.argv AS BLOB))
                                                       + length(CAST(NEW.args AS BLOB)) + length(CAST(NEW.env AS BLOB)) + length(CAST(NEW.argv AS BLOB))
        WHERE uid = NEW.uid;
    END;
    CREATE TRIGGER jobs_usage_delete AFTER DELETE ON jobs BEGIN
      UPDATE user_usage SET stored_bytes = stored_bytes - length(CAST(OLD.args AS BLOB)) - length(CAST(OLD.env AS BLOB)) - length(CAST(OLD.argv AS BLOB)) WHERE uid = OLD.uid;
    END;
  )sql",
  // 6: what each ended job's log takes on disk, and each user's total, for
  // limits.max_log_bytes_per_user. Logs of jobs that ended before it count from their next
  // change (none: they are only ever removed), so they are not counted.
  R"sql(
    ALTER TABLE jobs ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE user_usage ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER jobs_log_usage_update AFTER UPDATE OF log_bytes ON jobs BEGIN
      INSERT INTO user_usage (uid) VALUES (NEW.uid) ON CONFLICT (uid) DO NOTHING;
      UPDATE user_usage SET log_bytes = log_bytes - OLD.log_bytes + NEW.log_bytes WHERE uid = NEW.uid;
    END;
    CREATE TRIGGER jobs_log_usage_delete AFTER DELETE ON jobs BEGIN
      UPDATE user_usage SET log_bytes = log_bytes - OLD.log_bytes WHERE uid = OLD.uid;
    END;
  )sql",
  // 7: the home of the image's user (issue 10), for {image_home} in mount targets at start.
  R"sql(
    ALTER TABLE jobs ADD COLUMN image_home TEXT NOT NULL DEFAULT '';
  )sql",
  // 8: the backend's id of the job and its node (issue 11: the Slurm job id, the node).
  R"sql(
    ALTER TABLE jobs ADD COLUMN backend_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';
  )sql",
  // 9: what each job used (issue 12): peak memory (all it was charged; what it could not
  // drop) in bytes, CPU time in ms; usage_source says how it was measured ('' : not
  // measured, and the figures are NULL).
  R"sql(
    ALTER TABLE jobs ADD COLUMN peak_memory   INTEGER;
    ALTER TABLE jobs ADD COLUMN peak_resident INTEGER;
    ALTER TABLE jobs ADD COLUMN cpu_ms        INTEGER;
    ALTER TABLE jobs ADD COLUMN cpu_user_ms   INTEGER;
    ALTER TABLE jobs ADD COLUMN cpu_system_ms INTEGER;
    ALTER TABLE jobs ADD COLUMN usage_source  TEXT NOT NULL DEFAULT '';
  )sql",
  // 10: the accounting of ended jobs that usage reports (`jobman stats`) read: one narrow
  // row per job (no args, env or argv), kept by triggers, so every writer (and the
  // benchmarks' loader) keeps it right; it outlives its job's row (cleanup purges those
  // after retention.days, accounting after retention.accounting_days). A job's end and its
  // usage are two updates of one transaction: the second replaces the first's row.
  R"sql(
    CREATE TABLE job_accounting (
      job_id     INTEGER PRIMARY KEY,
      uid        INTEGER NOT NULL,
      user       TEXT    NOT NULL,
      flavor     TEXT    NOT NULL,
      image      TEXT    NOT NULL,
      state      TEXT    NOT NULL,
      started_at INTEGER,
      ended_at   INTEGER NOT NULL,
      cpus       REAL    NOT NULL,
      gpus       INTEGER NOT NULL,
      cpu_ms     INTEGER,
      peak       INTEGER
    );
    CREATE INDEX job_accounting_ended ON job_accounting(ended_at);
    CREATE INDEX job_accounting_uid_ended ON job_accounting(uid, ended_at);
    CREATE TRIGGER jobs_accounting_update AFTER UPDATE OF ended_at, peak_memory, peak_resident, cpu_ms ON jobs
      WHEN NEW.ended_at IS NOT NULL BEGIN
      INSERT OR REPLACE INTO job_accounting VALUES (NEW.id, NEW.uid, NEW.user, NEW.flavor, NEW.image, NEW.state, NEW.started_at,
        NEW.ended_at, COALESCE(json_extract(NEW.resources, '$.cpus'), 0), COALESCE(json_array_length(NEW.gpu_devices), 0), NEW.cpu_ms,
        COALESCE(NEW.peak_resident, NEW.peak_memory));
    END;
    CREATE TRIGGER jobs_accounting_insert AFTER INSERT ON jobs WHEN NEW.ended_at IS NOT NULL BEGIN
      INSERT OR REPLACE INTO job_accounting VALUES (NEW.id, NEW.uid, NEW.user, NEW.flavor, NEW.image, NEW.state, NEW.started_at,
        NEW.ended_at, COALESCE(json_extract(NEW.resources, '$.cpus'), 0), COALESCE(json_array_length(NEW.gpu_devices), 0), NEW.cpu_ms,
        COALESCE(NEW.peak_resident, NEW.peak_memory));
    END;
    INSERT INTO job_accounting SELECT id, uid, user, flavor, image, state, started_at, ended_at,
        COALESCE(json_extract(resources, '$.cpus'), 0), COALESCE(json_array_length(gpu_devices), 0), cpu_ms,
        COALESCE(peak_resident, peak_memory)
      FROM jobs WHERE ended_at IS NOT NULL;
  )sql",
  // 11: resubmits and retries (issue 12): how many automatic retries a job asked for, which
  // attempt it is on, until when a retried job waits, and the job a resubmit repeats.
  R"sql(
    ALTER TABLE jobs ADD COLUMN retries     INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN attempt     INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE jobs ADD COLUMN not_before  INTEGER;
    ALTER TABLE jobs ADD COLUMN resubmit_of INTEGER;
    CREATE INDEX jobs_resubmit_of ON jobs(resubmit_of) WHERE resubmit_of IS NOT NULL;
  )sql",
  // 12: kinds of dependency (issue 12): a job may wait for another to succeed ('ok', all
  // dependencies before), to end whatever its state ('any'), or to end otherwise ('notok').
  R"sql(
    ALTER TABLE job_dependencies ADD COLUMN kind TEXT NOT NULL DEFAULT 'ok';
  )sql",
  // 13: held jobs (issue 12): queued, and not started until released.
  R"sql(
    ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  )sql",
  // 14: job arrays (issue 12): each element a job of its own, with the array's id (its first
  // element's), its index, the array's limit of elements running at once and its size.
  R"sql(
    ALTER TABLE jobs ADD COLUMN array_id    INTEGER;
    ALTER TABLE jobs ADD COLUMN array_index INTEGER;
    ALTER TABLE jobs ADD COLUMN array_limit INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN array_count INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_array ON jobs(array_id, array_index) WHERE array_id IS NOT NULL;
    -- list's row of an array, its first listed element: MIN(id) in one index search.
    CREATE INDEX jobs_array_listed ON jobs(array_id, id) WHERE array_id IS NOT NULL AND deleted_at IS NULL;
  )sql",
  // 15: notifications (issue 12): the end states a job asked to be told about
  // (`submit --notify`, "END,FAIL"), and when the admin's hook ran for its end, so that a
  // restarted daemon runs those it had not (JobStore::pending_notifications).
  R"sql(
    ALTER TABLE jobs ADD COLUMN notify      TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN notified_at INTEGER;
    CREATE INDEX jobs_notify_pending ON jobs(ended_at) WHERE notify != '' AND notified_at IS NULL;
  )sql",
};
} // namespace

void migrate(SQLite::Database& db, const char* path) {
  int version = db.execAndGet("PRAGMA user_version").getInt();
  if (version > k_current_schema_version)
    throw Error(ErrorCode::Internal,
                fmt::format("database {} has schema version {}, newer than this jobmand understands ({}); "
                            "upgrade jobman or restore a backup",
                            path, version, k_current_schema_version));
  for (int next = version + 1; next <= k_current_schema_version; ++next) {
    SQLite::Transaction tx(db);
    db.exec(k_migrations[static_cast<std::size_t>(next - 1)]);
    db.exec(fmt::format("PRAGMA user_version = {}", next));
    tx.commit();
  }
}

} // namespace jobman::daemon::store
