#include "common/array_spec.hpp"
#include "daemon/store/job_store.hpp"

#include "common/notify.hpp"

#include "common/errors.hpp"
#include "common/file_descriptor.hpp"
#include "common/job_json.hpp"
#include "daemon/store/migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <map>
#include <nlohmann/json.hpp>

namespace jobman::daemon::store {

std::optional<ErrorInfo> database_problem(const std::exception& e) {
  const auto* db = dynamic_cast<const SQLite::Exception*>(&e);
  if (!db) return std::nullopt;
  switch (db->getErrorCode()) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return ErrorInfo{ErrorCode::Unavailable, "jobmand's database is locked by another process; try again in a moment"};
  case SQLITE_FULL:
    return ErrorInfo{ErrorCode::Unavailable, "jobmand's state disk is full; the platform admin must free space"};
  case SQLITE_IOERR:
  case SQLITE_READONLY:
    return ErrorInfo{ErrorCode::Unavailable, fmt::format("jobmand cannot write its database ({}); the platform admin must look at it", db->getErrorStr())};
  default:
    return std::nullopt;
  }
}


using nlohmann::json;

namespace {

constexpr const char* k_columns =
  "id, name, uid, gid, user, image, image_id, args, replace_entrypoint, env, state, exit_code, reason, "
  "argv, container, submitted_at, started_at, ended_at, flavor, resources, mounts, groups, gpu_devices, priority, "
  "(SELECT json_group_array(json_array(depends_on, kind)) FROM job_dependencies WHERE job_id = jobs.id), deleted_at IS NOT NULL, image_home, backend_id, node, "
  "peak_memory, cpu_ms, cpu_user_ms, cpu_system_ms, usage_source, peak_resident, retries, attempt, not_before, resubmit_of, held, "
  "array_id, array_index, array_limit, array_count, notify, notified_at";

std::optional<std::int64_t> nullable(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

// synchronous=FULL for the transaction made while it lives (a submit's: its commit is
// fsync'd before the submit is answered), NORMAL again after.
class DurableCommit {
public:
  explicit DurableCommit(SQLite::Database& db) : m_db(db) { m_db.exec("PRAGMA synchronous = FULL"); }
  ~DurableCommit() {
    try {
      m_db.exec("PRAGMA synchronous = NORMAL");
    } catch (const std::exception&) { // stays FULL: slower, never less safe
    }
  }
  DurableCommit(const DurableCommit&) = delete;
  DurableCommit& operator=(const DurableCommit&) = delete;

private:
  SQLite::Database& m_db;
};

// The array columns from `first` on (array_id, array_index, array_limit, array_count).
std::optional<Job::ArrayPart> read_array(SQLite::Statement& q, int first) {
  if (q.getColumn(first).isNull()) return std::nullopt;
  return Job::ArrayPart{q.getColumn(first).getInt64(), q.getColumn(first + 1).getInt(), q.getColumn(first + 2).getInt(),
                        q.getColumn(first + 3).getInt()};
}

// A list's table row (ListFilter::summary): read_summary's columns.
constexpr const char* k_summary_columns =
  "id, name, uid, gid, user, image, flavor, state, exit_code, submitted_at, started_at, ended_at, held, array_id, array_index, array_limit, array_count";

Job read_summary(SQLite::Statement& q, const std::string& instance) {
  Job job;
  job.instance = instance;
  job.id = q.getColumn(0).getInt64();
  job.spec.name = q.getColumn(1).getString();
  job.uid = static_cast<std::uint32_t>(q.getColumn(2).getInt64());
  job.gid = static_cast<std::uint32_t>(q.getColumn(3).getInt64());
  job.user = q.getColumn(4).getString();
  job.spec.image = q.getColumn(5).getString();
  job.spec.flavor = q.getColumn(6).getString();
  job.state = job_state_from_string(q.getColumn(7).getString()).value_or(JobState::Lost);
  if (auto code = nullable(q.getColumn(8))) job.exit_code = static_cast<int>(*code);
  job.submitted_at = q.getColumn(9).getInt64();
  job.started_at = nullable(q.getColumn(10));
  job.ended_at = nullable(q.getColumn(11));
  job.held = q.getColumn(12).getInt() != 0;
  job.array = read_array(q, 13);
  return job;
}

Job read_job(SQLite::Statement& q, const std::string& instance) {
  Job job;
  job.instance = instance;
  job.id = q.getColumn(0).getInt64();
  job.spec.name = q.getColumn(1).getString();
  job.uid = static_cast<std::uint32_t>(q.getColumn(2).getInt64());
  job.gid = static_cast<std::uint32_t>(q.getColumn(3).getInt64());
  job.user = q.getColumn(4).getString();
  job.spec.image = q.getColumn(5).getString();
  job.spec.image_id = q.getColumn(6).getString();
  job.spec.args = json::parse(q.getColumn(7).getString()).get<std::vector<std::string>>();
  job.spec.replace_entrypoint = q.getColumn(8).getInt() != 0;
  job.spec.env = json::parse(q.getColumn(9).getString()).get<std::vector<EnvVar>>();
  job.state = job_state_from_string(q.getColumn(10).getString()).value_or(JobState::Lost);
  if (auto code = nullable(q.getColumn(11))) job.exit_code = static_cast<int>(*code);
  job.reason = q.getColumn(12).getString();
  job.argv = json::parse(q.getColumn(13).getString()).get<std::vector<std::string>>();
  job.container = q.getColumn(14).getString();
  job.submitted_at = q.getColumn(15).getInt64();
  job.started_at = nullable(q.getColumn(16));
  job.ended_at = nullable(q.getColumn(17));
  job.spec.flavor = q.getColumn(18).getString();
  job.spec.resources = json::parse(q.getColumn(19).getString()).get<Resources>();
  job.spec.mounts = json::parse(q.getColumn(20).getString()).get<std::vector<Mount>>();
  job.spec.groups = json::parse(q.getColumn(21).getString()).get<std::vector<std::uint32_t>>();
  job.gpu_devices = json::parse(q.getColumn(22).getString()).get<std::vector<std::string>>();
  job.spec.priority = q.getColumn(23).getInt();
  for (const auto& dep : json::parse(q.getColumn(24).getString()))
    job.spec.after.push_back({dep.at(0).get<JobId>(), after_kind_from_string(dep.at(1).get<std::string>()).value_or(AfterKind::Ok)});
  job.deleted = q.getColumn(25).getInt() != 0;
  job.spec.image_home = q.getColumn(26).getString();
  job.backend_id = q.getColumn(27).getString();
  job.node = q.getColumn(28).getString();
  if (std::string source = q.getColumn(33).getString(); !source.empty()) {
    Usage usage;
    usage.peak_memory = nullable(q.getColumn(29));
    usage.cpu_ms = nullable(q.getColumn(30));
    usage.cpu_user_ms = nullable(q.getColumn(31));
    usage.cpu_system_ms = nullable(q.getColumn(32));
    usage.source = std::move(source);
    usage.peak_resident = nullable(q.getColumn(34));
    job.usage = std::move(usage);
  }
  job.spec.retries = q.getColumn(35).getInt();
  job.attempt = q.getColumn(36).getInt();
  job.not_before = nullable(q.getColumn(37));
  job.resubmit_of = nullable(q.getColumn(38));
  job.held = q.getColumn(39).getInt() != 0;
  job.array = read_array(q, 40);
  job.spec.notify = split_notify_words(q.getColumn(44).getString());
  job.notified_at = nullable(q.getColumn(45));
  return job;
}

// The image's catalogue name, reduced to what a job name may contain.
std::string default_name_base(const std::string& image) {
  std::string base;
  for (char c : image.substr(0, image.find(':'))) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    base += ok ? c : '-';
  }
  if (base.empty() || !((base[0] >= 'a' && base[0] <= 'z') || (base[0] >= 'A' && base[0] <= 'Z'))) base = "job-" + base;
  if (base.size() > 32) base.resize(32);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return base;
}

void bind_state(SQLite::Statement& q, int index, JobState state) { q.bind(index, std::string(to_string(state))); }

void add_event(SQLite::Database& db, JobId id, std::optional<JobState> from, JobState to, const std::string& reason, TimePoint at) {
  SQLite::Statement q(db, "INSERT INTO job_events (job_id, at, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)");
  q.bind(1, id);
  q.bind(2, at);
  if (from) bind_state(q, 3, *from);
  else q.bind(3);
  bind_state(q, 4, to);
  q.bind(5, reason);
  q.exec();
}

} // namespace

namespace {
// The database holds every user's jobs: 0600, and so its -wal and -shm, which SQLite creates
// with the main file's mode. Created here (never through a symlink) before SQLite opens it;
// an older one (0644 before issue 9) is tightened.
std::unique_ptr<SQLite::Database> open_private(const std::string& path) {
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (file == path ? O_CREAT : 0);
    FileDescriptor fd(::open(file.c_str(), flags, 0600));
    if (fd.get() < 0) {
      if (errno == ENOENT && file != path) continue;
      throw Error(ErrorCode::Unavailable, fmt::format("cannot open {}: {}", file, std::strerror(errno)));
    }
    if (::fchmod(fd.get(), 0600) != 0)
      throw Error(ErrorCode::Unavailable, fmt::format("cannot make {} private: {}", file, std::strerror(errno)));
  }
  return std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX);
}
} // namespace

JobStore::JobStore(const std::string& path) : m_db(open_private(path)) {
  // Only another process (an admin's sqlite3, a backup) ever holds a write lock, and while
  // SQLite waits for it the daemon's one thread waits too: every client stalls. So it waits
  // at most k_busy_timeout; the request then fails UNAVAILABLE ("locked by another
  // process") and a job's end is retried on a timer (Scheduler::record_end).
  m_db->setBusyTimeout(static_cast<int>(k_busy_timeout.count()));
  m_db->exec("PRAGMA journal_mode = WAL");
  // NORMAL: a commit is in the WAL (the OS has it: a kill -9 loses nothing) but not
  // fsync'd. Submits' inserts alone run under FULL (DurableCommit below): an acknowledged
  // submit survives a power cut too, its group paying one fsync. State changes stay
  // NORMAL: a bulk delete of a 1000-job array would otherwise fsync 2000 times on the
  // event loop, and what a power cut takes of them recovery reconciles with the engine.
  m_db->exec("PRAGMA synchronous = NORMAL");
  m_db->exec("PRAGMA foreign_keys = ON");
  migrate(*m_db, path.c_str());
  SQLite::Statement q(*m_db, "SELECT value FROM meta WHERE key = 'instance'");
  if (q.executeStep()) m_instance = q.getColumn(0).getString();
  if (m_instance.empty()) throw Error(ErrorCode::Internal, fmt::format("database {} has no instance id", path));
}

JobStore::~JobStore() = default;

std::optional<JobId> JobStore::listed_job_named(std::uint32_t uid, const std::string& name) const {
  // The name of a job, or of an array (its elements are "name[index]": a range of the
  // (uid, name) index). Two queries: with an OR of the two, SQLite read every row of the
  // user's (a submit into 6,000 queued jobs took 47 ms).
  SQLite::Statement q(*m_db, "SELECT id FROM jobs WHERE uid = ? AND name = ? AND deleted_at IS NULL");
  q.bind(1, static_cast<std::int64_t>(uid));
  q.bind(2, name);
  if (q.executeStep()) return q.getColumn(0).getInt64();
  SQLite::Statement a(*m_db, "SELECT array_id FROM jobs WHERE uid = ? AND name >= ? AND name < ? AND deleted_at IS NULL "
                             "AND array_id IS NOT NULL LIMIT 1");
  a.bind(1, static_cast<std::int64_t>(uid));
  a.bind(2, name + "[");
  a.bind(3, name + "\\");
  if (a.executeStep()) return a.getColumn(0).getInt64();
  return std::nullopt;
}

Job JobStore::insert(Job job, const ArgvFor& argv_for) {
  DurableCommit durable(*m_db);
  SQLite::Transaction tx(*m_db);
  job = insert_in_transaction(std::move(job), argv_for);
  tx.commit();
  return job;
}

std::vector<Job> JobStore::insert_batch(std::vector<Job> jobs, const ArgvFor& argv_for) {
  DurableCommit durable(*m_db);
  SQLite::Transaction tx(*m_db);
  std::vector<Job> inserted;
  for (auto& job : jobs) {
    // Negative ids in `after` name earlier jobs of this batch: -1 is the first.
    for (auto& dep : job.spec.after)
      if (dep.id < 0) {
        auto index = static_cast<std::size_t>(-dep.id - 1);
        if (index >= inserted.size()) throw Error(ErrorCode::InvalidArgument, "--after names a later job of the same batch");
        dep.id = inserted[index].id;
      }
    inserted.push_back(insert_in_transaction(std::move(job), argv_for));
  }
  tx.commit();
  return inserted;
}

std::vector<JobStore::Inserted> JobStore::insert_group(std::vector<std::pair<Job, ArgvFor>> jobs) {
  DurableCommit durable(*m_db);
  // IMMEDIATE: the write lock once, at the start (another process holding it fails the
  // group after k_busy_timeout, not each of its jobs after one).
  SQLite::Transaction tx(*m_db, SQLite::TransactionBehavior::IMMEDIATE);
  std::vector<Inserted> out;
  out.reserve(jobs.size());
  for (auto& [job, argv_for] : jobs) {
    m_db->exec("SAVEPOINT submit");
    try {
      out.emplace_back(insert_in_transaction(std::move(job), argv_for));
      m_db->exec("RELEASE submit");
    } catch (const Error&) { // this job's own problem (its name is taken): it alone fails
      out.emplace_back(std::current_exception());
      m_db->exec("ROLLBACK TO submit");
      m_db->exec("RELEASE submit");
    } // anything else (busy, disk full, I/O): the whole group fails, nothing stored
  }
  tx.commit();
  return out;
}

std::vector<Job> JobStore::insert_array(std::vector<Job> elements, const ArgvFor& argv_for) {
  DurableCommit durable(*m_db);
  SQLite::Transaction tx(*m_db);
  std::vector<Job> inserted;
  std::string base;
  for (auto& job : elements) {
    if (!job.array) throw Error(ErrorCode::Internal, "insert_array: a job that is no array's element");
    if (!inserted.empty()) {
      job.array->id = inserted.front().array->id;
      job.spec.name = base;
    }
    inserted.push_back(insert_in_transaction(std::move(job), argv_for));
    if (inserted.size() == 1) base = array_name(inserted.front().spec.name);
  }
  tx.commit();
  return inserted;
}

Job JobStore::insert_in_transaction(Job job, const ArgvFor& argv_for) {
  // An array's name is checked with its first element (the others carry the same).
  if (!job.spec.name.empty() && (!job.array || job.array->id <= 0)) {
    if (auto other = listed_job_named(job.uid, job.spec.name))
      throw Error(ErrorCode::Conflict, fmt::format("you already have a job named '{}' (id {}); choose another name or delete that job",
                                                   job.spec.name, *other));
  }
  job.state = JobState::Queued;
  job.submitted_at = now_ms();
  SQLite::Statement q(*m_db,
                      "INSERT INTO jobs (name, uid, gid, user, image, image_id, args, replace_entrypoint, env, state, submitted_at, "
                      "flavor, resources, mounts, groups, priority, image_home, retries, resubmit_of, held, array_id, array_index, array_limit, array_count, "
                      "notify) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  // A placeholder name keeps the unique index happy until the id is known.
  q.bind(1, job.spec.name.empty() || job.array ? fmt::format("\x01pending-{}-{}", job.submitted_at, ++m_placeholders) : job.spec.name);
  q.bind(2, static_cast<std::int64_t>(job.uid));
  q.bind(3, static_cast<std::int64_t>(job.gid));
  q.bind(4, job.user);
  q.bind(5, job.spec.image);
  q.bind(6, job.spec.image_id);
  q.bind(7, json(job.spec.args).dump());
  q.bind(8, job.spec.replace_entrypoint ? 1 : 0);
  q.bind(9, json(job.spec.env).dump());
  bind_state(q, 10, job.state);
  q.bind(11, job.submitted_at);
  q.bind(12, job.spec.flavor);
  q.bind(13, json(job.spec.resources).dump());
  q.bind(14, json(job.spec.mounts).dump());
  q.bind(15, json(job.spec.groups).dump());
  q.bind(16, job.spec.priority);
  q.bind(17, job.spec.image_home);
  q.bind(18, job.spec.retries);
  if (job.resubmit_of) q.bind(19, *job.resubmit_of);
  else q.bind(19);
  q.bind(20, job.held ? 1 : 0);
  // An array's first element takes its own id as the array's (set below).
  if (job.array && job.array->id > 0) q.bind(21, job.array->id);
  else q.bind(21);
  q.bind(22, job.array ? job.array->index : 0);
  q.bind(23, job.array ? job.array->limit : 0);
  q.bind(24, job.array ? job.array->count : 0);
  q.bind(25, join_notify_words(job.spec.notify));
  q.exec();
  job.id = m_db->getLastInsertRowid();
  if (job.array) {
    if (job.array->id <= 0) job.array->id = job.id;
    // Element names: the array's name and the index, "seg[7]" (no user's name holds '[').
    if (job.spec.name.empty()) {
      const std::string base = fmt::format("{}-{}", default_name_base(job.spec.image), job.array->id);
      job.spec.name = base;
      for (int n = 2; listed_job_named(job.uid, job.spec.name); ++n) job.spec.name = fmt::format("{}-{}", base, n);
    }
    job.spec.name = fmt::format("{}[{}]", job.spec.name, job.array->index);
    if (auto other = listed_job_named(job.uid, job.spec.name))
      throw Error(ErrorCode::Conflict, fmt::format("you already have a job named '{}' (id {})", job.spec.name, *other));
  } else if (job.spec.name.empty()) {
    // "<image name>-<id>", a valid job name even for odd image names, and never one the
    // user already gave another job.
    const std::string base = default_name_base(job.spec.image);
    job.spec.name = fmt::format("{}-{}", base, job.id);
    for (int n = 2; listed_job_named(job.uid, job.spec.name); ++n) job.spec.name = fmt::format("{}-{}-{}", base, job.id, n);
  }
  job.instance = m_instance;
  job.container = container_name(m_instance, job.id);
  job.argv = argv_for(job);
  SQLite::Statement update(*m_db, "UPDATE jobs SET name = ?, argv = ?, container = ?, array_id = ? WHERE id = ?");
  update.bind(1, job.spec.name);
  update.bind(2, json(job.argv).dump());
  update.bind(3, job.container);
  if (job.array) update.bind(4, job.array->id);
  else update.bind(4);
  update.bind(5, job.id);
  update.exec();
  for (const Dependency& dep : job.spec.after) { // the same job twice: its first kind
    SQLite::Statement d(*m_db, "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on, kind) VALUES (?, ?, ?)");
    d.bind(1, job.id);
    d.bind(2, dep.id);
    d.bind(3, std::string(to_string(dep.kind)));
    d.exec();
  }
  add_event(*m_db, job.id, std::nullopt, JobState::Queued, job.held ? "submitted, held" : "submitted", job.submitted_at);
  return job;
}

std::vector<QueueEntry> JobStore::queue_entries() const {
  std::vector<QueueEntry> entries;
  std::map<JobId, std::size_t> index;
  SQLite::Statement q(*m_db,
                      "SELECT id, uid, state, priority, COALESCE(json_extract(resources, '$.gpus'), 0), flavor, name, not_before, held, array_id, array_limit, array_index FROM jobs "
                      "WHERE state IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY id");
  while (q.executeStep()) {
    QueueEntry e;
    e.id = q.getColumn(0).getInt64();
    e.uid = static_cast<std::uint32_t>(q.getColumn(1).getInt64());
    e.state = job_state_from_string(q.getColumn(2).getString()).value_or(JobState::Queued);
    e.priority = q.getColumn(3).getInt();
    e.gpus = q.getColumn(4).getInt();
    e.flavor = q.getColumn(5).getString();
    e.name = q.getColumn(6).getString();
    e.not_before = nullable(q.getColumn(7));
    e.held = q.getColumn(8).getInt() != 0;
    e.array_id = nullable(q.getColumn(9));
    e.array_limit = q.getColumn(10).getInt();
    e.array_index = q.getColumn(11).getInt();
    index[e.id] = entries.size();
    entries.push_back(std::move(e));
  }
  SQLite::Statement d(*m_db,
                      "SELECT d.job_id, d.depends_on, dep.state, d.kind FROM job_dependencies d "
                      "JOIN jobs waiting ON waiting.id = d.job_id JOIN jobs dep ON dep.id = d.depends_on "
                      "WHERE waiting.state = 'QUEUED'");
  while (d.executeStep()) {
    auto it = index.find(d.getColumn(0).getInt64());
    if (it == index.end()) continue;
    entries[it->second].dependencies.push_back({d.getColumn(1).getInt64(),
                                                job_state_from_string(d.getColumn(2).getString()).value_or(JobState::Lost),
                                                after_kind_from_string(d.getColumn(3).getString()).value_or(AfterKind::Ok)});
  }
  return entries;
}

std::int64_t JobStore::stored_bytes(std::uint32_t uid) const {
  SQLite::Statement q(*m_db, "SELECT stored_bytes FROM user_usage WHERE uid = ?");
  q.bind(1, static_cast<std::int64_t>(uid));
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

std::int64_t JobStore::log_bytes(std::uint32_t uid) const {
  SQLite::Statement q(*m_db, "SELECT log_bytes FROM user_usage WHERE uid = ?");
  q.bind(1, static_cast<std::int64_t>(uid));
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

void JobStore::set_log_bytes(JobId id, std::int64_t bytes) {
  SQLite::Statement q(*m_db, "UPDATE jobs SET log_bytes = ? WHERE id = ?");
  q.bind(1, bytes);
  q.bind(2, id);
  q.exec();
}

int JobStore::count_holding_slots() const {
  SQLite::Statement q(*m_db, "SELECT COUNT(*) FROM jobs WHERE state IN ('STARTING', 'RUNNING')");
  return q.executeStep() ? q.getColumn(0).getInt() : 0;
}

int JobStore::count_queued(std::uint32_t uid) const {
  SQLite::Statement q(*m_db, "SELECT COUNT(*) FROM jobs WHERE uid = ? AND state = 'QUEUED'");
  q.bind(1, static_cast<std::int64_t>(uid));
  q.executeStep();
  return q.getColumn(0).getInt();
}

std::vector<JobId> JobStore::active_ids(std::uint32_t uid) const {
  SQLite::Statement q(*m_db, "SELECT id FROM jobs WHERE uid = ? AND state IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY id");
  q.bind(1, static_cast<std::int64_t>(uid));
  std::vector<JobId> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

std::optional<Job> JobStore::get(JobId id) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE id = ?", k_columns));
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q, m_instance);
}

std::optional<Job> JobStore::get_listed(JobId id) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE id = ? AND deleted_at IS NULL", k_columns));
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return read_job(q, m_instance);
}

std::vector<Job> JobStore::array_elements(JobId array_id, bool summary) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE array_id = ? AND deleted_at IS NULL ORDER BY array_index",
                                         summary ? k_summary_columns : k_columns));
  q.bind(1, array_id);
  std::vector<Job> jobs;
  while (q.executeStep()) jobs.push_back(summary ? read_summary(q, m_instance) : read_job(q, m_instance));
  return jobs;
}

std::vector<std::pair<JobId, std::uint32_t>> JobStore::arrays_named(const std::string& name, std::optional<std::uint32_t> uid) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT DISTINCT array_id, uid FROM jobs WHERE name >= ? AND name < ? AND array_id IS NOT NULL "
                                         "AND deleted_at IS NULL {} ORDER BY array_id",
                                         uid ? "AND uid = ?" : ""));
  q.bind(1, name + "[");
  q.bind(2, name + "\\");
  if (uid) q.bind(3, static_cast<std::int64_t>(*uid));
  std::vector<std::pair<JobId, std::uint32_t>> found;
  while (q.executeStep()) found.emplace_back(q.getColumn(0).getInt64(), static_cast<std::uint32_t>(q.getColumn(1).getInt64()));
  return found;
}

std::map<JobId, ArraySummary> JobStore::array_summaries(const std::vector<JobId>& array_ids) const {
  std::map<JobId, ArraySummary> out;
  SQLite::Statement q(*m_db, "SELECT array_index, state, started_at, ended_at FROM jobs WHERE array_id = ? AND deleted_at IS NULL "
                             "ORDER BY array_index");
  for (JobId id : array_ids) {
    if (out.contains(id)) continue;
    ArraySummary& s = out[id];
    bool all_ended = true;
    q.reset();
    q.bind(1, id);
    while (q.executeStep()) {
      ++s.listed;
      s.indices.push_back(q.getColumn(0).getInt());
      const JobState state = job_state_from_string(q.getColumn(1).getString()).value_or(JobState::Lost);
      ++s.states[state];
      if (auto started = nullable(q.getColumn(2)); started && (!s.first_started || *started < *s.first_started)) s.first_started = started;
      if (auto ended = nullable(q.getColumn(3)); ended && is_terminal(state)) {
        if (!s.last_ended || *ended > *s.last_ended) s.last_ended = ended;
      } else {
        all_ended = false;
      }
    }
    if (!all_ended) s.last_ended.reset();
  }
  return out;
}

std::vector<Job> JobStore::find_by_name(const std::string& name, std::optional<std::uint32_t> uid) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE name = ? AND deleted_at IS NULL {} ORDER BY id", k_columns,
                                         uid ? "AND uid = ?" : ""));
  q.bind(1, name);
  if (uid) q.bind(2, static_cast<std::int64_t>(*uid));
  std::vector<Job> jobs;
  while (q.executeStep()) jobs.push_back(read_job(q, m_instance));
  return jobs;
}

std::vector<Job> JobStore::list(const ListFilter& filter) const {
  std::string where = "deleted_at IS NULL";
  if (filter.uid) where += " AND uid = :uid";
  if (filter.state) where += " AND state = :state";
  if (filter.before) where += " AND id < :before";
  if (filter.array) where += " AND array_id = :array";
  // An array's row: its first listed element (the others are left out).
  if (filter.group_arrays && !filter.array)
    where += " AND (array_id IS NULL OR id = (SELECT MIN(e.id) FROM jobs e WHERE e.array_id = jobs.array_id AND e.array_id IS NOT NULL AND e.deleted_at IS NULL))";
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE {} ORDER BY id DESC LIMIT :limit", filter.summary ? k_summary_columns : k_columns, where));
  if (filter.before) q.bind(":before", *filter.before);
  if (filter.array) q.bind(":array", *filter.array);
  if (filter.uid) q.bind(":uid", static_cast<std::int64_t>(*filter.uid));
  if (filter.state) q.bind(":state", std::string(to_string(*filter.state)));
  q.bind(":limit", filter.limit);
  std::vector<Job> jobs;
  while (q.executeStep()) jobs.push_back(filter.summary ? read_summary(q, m_instance) : read_job(q, m_instance));
  return jobs;
}

std::vector<Job> JobStore::active() const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE state IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY id", k_columns));
  std::vector<Job> jobs;
  while (q.executeStep()) jobs.push_back(read_job(q, m_instance));
  return jobs;
}

std::vector<JobEvent> JobStore::events(JobId id) const {
  SQLite::Statement q(*m_db, "SELECT at, from_state, to_state, reason FROM job_events WHERE job_id = ? ORDER BY id");
  q.bind(1, id);
  std::vector<JobEvent> events;
  while (q.executeStep()) {
    JobEvent e;
    e.at = q.getColumn(0).getInt64();
    if (!q.getColumn(1).isNull()) e.from = job_state_from_string(q.getColumn(1).getString());
    e.to = job_state_from_string(q.getColumn(2).getString()).value_or(JobState::Lost);
    e.reason = q.getColumn(3).getString();
    events.push_back(std::move(e));
  }
  return events;
}

Job JobStore::transition(JobId id, JobState to, const std::string& reason, const TransitionFields& fields) {
  SQLite::Transaction tx(*m_db);
  auto job = get(id);
  if (!job) throw Error(ErrorCode::JobNotFound, fmt::format("job {} does not exist", id));
  if (!is_allowed_transition(job->state, to))
    throw Error(ErrorCode::Conflict, fmt::format("job {} cannot go from {} to {}", id, to_string(job->state), to_string(to)));
  const TimePoint at = now_ms();
  const JobState from = job->state;
  job->state = to;
  job->reason = reason;
  if (to == JobState::Running) job->started_at = fields.started_at.value_or(at);
  if (is_terminal(to)) job->ended_at = at;
  if (fields.exit_code) job->exit_code = fields.exit_code;
  SQLite::Statement q(*m_db, "UPDATE jobs SET state = ?, reason = ?, exit_code = ?, started_at = ?, ended_at = ? WHERE id = ?");
  bind_state(q, 1, to);
  q.bind(2, reason);
  if (job->exit_code) q.bind(3, *job->exit_code);
  else q.bind(3);
  if (job->started_at) q.bind(4, *job->started_at);
  else q.bind(4);
  if (job->ended_at) q.bind(5, *job->ended_at);
  else q.bind(5);
  q.bind(6, id);
  q.exec();
  if (fields.usage && is_terminal(to)) {
    job->usage = fields.usage;
    SQLite::Statement u(*m_db, "UPDATE jobs SET peak_memory = ?, cpu_ms = ?, cpu_user_ms = ?, cpu_system_ms = ?, peak_resident = ?, "
                               "usage_source = ? WHERE id = ?");
    const std::optional<std::int64_t> figures[] = {fields.usage->peak_memory, fields.usage->cpu_ms, fields.usage->cpu_user_ms,
                                                   fields.usage->cpu_system_ms, fields.usage->peak_resident};
    for (int i = 0; i < 5; ++i) {
      if (figures[i]) u.bind(i + 1, *figures[i]);
      else u.bind(i + 1);
    }
    u.bind(6, fields.usage->source.empty() ? std::string("measured") : fields.usage->source);
    u.bind(7, id);
    u.exec();
  }
  add_event(*m_db, id, from, to, reason, at);
  tx.commit();
  return *job;
}

Job JobStore::requeue(JobId id, const std::string& reason, TimePoint not_before) {
  SQLite::Transaction tx(*m_db);
  auto job = get(id);
  if (!job) throw Error(ErrorCode::JobNotFound, fmt::format("job {} does not exist", id));
  if (job->state != JobState::Starting && job->state != JobState::Running)
    throw Error(ErrorCode::Conflict, fmt::format("job {} cannot be queued again from {}", id, to_string(job->state)));
  const JobState from = job->state;
  // What the attempt had is in its events; the next one starts afresh.
  SQLite::Statement q(*m_db, "UPDATE jobs SET state = 'QUEUED', reason = ?, attempt = attempt + 1, not_before = ?, exit_code = NULL, "
                             "started_at = NULL, ended_at = NULL, backend_id = '', node = '', gpu_devices = '[]', peak_memory = NULL, "
                             "peak_resident = NULL, cpu_ms = NULL, cpu_user_ms = NULL, cpu_system_ms = NULL, usage_source = '' WHERE id = ?");
  q.bind(1, reason);
  q.bind(2, not_before);
  q.bind(3, id);
  q.exec();
  add_event(*m_db, id, from, JobState::Queued, reason, now_ms());
  tx.commit();
  return get(id).value();
}

std::optional<Job> JobStore::set_held(JobId id, bool held, const std::string& reason) {
  SQLite::Transaction tx(*m_db);
  auto job = get(id);
  if (!job) throw Error(ErrorCode::JobNotFound, fmt::format("job {} does not exist", id));
  if (job->state != JobState::Queued)
    throw Error(ErrorCode::Conflict, fmt::format("job {} is {}: only a queued job can be {}", id, to_string(job->state), held ? "held" : "released"));
  if (job->held == held) return std::nullopt;
  SQLite::Statement q(*m_db, "UPDATE jobs SET held = ?, reason = ? WHERE id = ?");
  q.bind(1, held ? 1 : 0);
  q.bind(2, reason);
  q.bind(3, id);
  q.exec();
  add_event(*m_db, id, JobState::Queued, JobState::Queued, reason, now_ms());
  tx.commit();
  job->held = held;
  job->reason = reason;
  return job;
}

std::vector<JobId> JobStore::resubmits_of(JobId id) const {
  SQLite::Statement q(*m_db, "SELECT id FROM jobs WHERE resubmit_of = ? ORDER BY id LIMIT 100");
  q.bind(1, id);
  std::vector<JobId> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

Job JobStore::set_launch(JobId id, const std::vector<Mount>& mounts, const std::vector<std::string>& gpu_devices,
                         const std::vector<std::string>& argv) {
  SQLite::Statement q(*m_db, "UPDATE jobs SET mounts = ?, gpu_devices = ?, argv = ? WHERE id = ?");
  q.bind(1, json(mounts).dump());
  q.bind(2, json(gpu_devices).dump());
  q.bind(3, json(argv).dump());
  q.bind(4, id);
  q.exec();
  auto job = get(id);
  if (!job) throw Error(ErrorCode::JobNotFound, fmt::format("job {} does not exist", id));
  return *job;
}

void JobStore::set_backend_info(JobId id, const std::string& backend_id, const std::string& node) {
  SQLite::Statement q(*m_db, "UPDATE jobs SET backend_id = ?, node = ? WHERE id = ?");
  q.bind(1, backend_id);
  q.bind(2, node);
  q.bind(3, id);
  q.exec();
}

void JobStore::set_notified(JobId id, const std::string& event) {
  SQLite::Transaction tx(*m_db);
  auto job = get(id);
  if (!job) return; // purged meanwhile
  const TimePoint now = now_ms();
  SQLite::Statement q(*m_db, "UPDATE jobs SET notified_at = ? WHERE id = ?");
  q.bind(1, now);
  q.bind(2, id);
  q.exec();
  if (!event.empty()) add_event(*m_db, id, job->state, job->state, event, now);
  tx.commit();
}

std::vector<Job> JobStore::pending_notifications(TimePoint since, int limit) const {
  SQLite::Statement q(*m_db, fmt::format("SELECT {} FROM jobs WHERE notify != '' AND notified_at IS NULL AND ended_at >= ? "
                                         "AND state NOT IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY ended_at, id LIMIT ?",
                                         k_columns));
  q.bind(1, since);
  q.bind(2, limit);
  std::vector<Job> jobs;
  while (q.executeStep()) jobs.push_back(read_job(q, m_instance));
  return jobs;
}

void JobStore::set_reason(JobId id, const std::string& reason) {
  SQLite::Statement q(*m_db, "UPDATE jobs SET reason = ? WHERE id = ?");
  q.bind(1, reason);
  q.bind(2, id);
  q.exec();
}

std::vector<JobId> JobStore::finished_before(TimePoint before, int limit) const {
  SQLite::Statement q(*m_db, "SELECT id FROM jobs WHERE state NOT IN ('QUEUED', 'STARTING', 'RUNNING') AND ended_at < ? "
                             "ORDER BY id LIMIT ?");
  q.bind(1, before);
  q.bind(2, limit);
  std::vector<JobId> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

void JobStore::remove_jobs(const std::vector<JobId>& ids) {
  SQLite::Transaction tx(*m_db);
  SQLite::Statement q(*m_db, "DELETE FROM jobs WHERE id = ?");
  for (JobId id : ids) {
    q.bind(1, id);
    q.exec();
    q.reset();
  }
  tx.commit();
}

std::int64_t JobStore::count_accounting_before(TimePoint before) const {
  SQLite::Statement q(*m_db, "SELECT COUNT(*) FROM job_accounting WHERE ended_at < ?");
  q.bind(1, before);
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

std::int64_t JobStore::remove_accounting_before(TimePoint before, int limit) {
  SQLite::Statement q(*m_db, "DELETE FROM job_accounting WHERE job_id IN (SELECT job_id FROM job_accounting WHERE ended_at < ? LIMIT ?)");
  q.bind(1, before);
  q.bind(2, limit);
  return q.exec();
}

void JobStore::vacuum() {
  m_db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  m_db->exec("VACUUM");
}

void JobStore::mark_deleted(JobId id) {
  SQLite::Statement q(*m_db, "UPDATE jobs SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL");
  q.bind(1, now_ms());
  q.bind(2, id);
  q.exec();
}

} // namespace jobman::daemon::store
