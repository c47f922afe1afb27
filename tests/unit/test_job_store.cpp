// Tests for daemon/store/job_store.hpp: every test opens a fresh database in its own temp dir.

#include "daemon/store/job_store.hpp"

#include "common/protocol.hpp"
#include "job_fixtures.hpp"
#include "matchers.hpp"
#include "temp_dir.hpp"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::store;
using namespace jobman::test; // TempDir, IsError and the jobs of job_fixtures.hpp

namespace {

ListFilter filter(std::optional<std::uint32_t> uid, std::optional<JobState> state = std::nullopt, int limit = 50) {
  ListFilter f;
  f.uid = uid;
  f.state = state;
  f.limit = limit;
  return f;
}

std::vector<JobId> ids(const std::vector<Job>& jobs) {
  std::vector<JobId> out;
  for (const auto& job : jobs) out.push_back(job.id);
  return out;
}

} // namespace

TEST_CASE("the database and its -wal and -shm are private to root", "[job_store]") {
  // Issue 9: they were 0644 (only the directory, 0700, kept them from other users).
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  auto mode = [](const std::string& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  {
    ::umask(022);
    JobStore store(path);
    store.insert(new_job(1001), fake_argv);
    CHECK(mode(path) == 0600);
    CHECK(mode(path + "-wal") == 0600);
    CHECK(mode(path + "-shm") == 0600);
  }
  // One left 0644 by an older jobmand is tightened when opened.
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  JobStore again(path);
  CHECK(mode(path) == 0600);
  // A symlink in the database's place is refused, not followed.
  REQUIRE(::symlink(path.c_str(), dir.file("link.db").c_str()) == 0);
  CHECK_THROWS_MATCHES(JobStore(dir.file("link.db")), Error, IsError(ErrorCode::Unavailable, {"link.db"}));
}

TEST_CASE("each database gets its own instance id, kept across reopening", "[job_store]") {
  TempDir dir;
  std::string instance;
  {
    JobStore store(dir.file("a.db"));
    instance = store.instance();
  }
  CHECK(instance.size() == 8);
  CHECK(instance.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(JobStore(dir.file("a.db")).instance() == instance);
  CHECK(JobStore(dir.file("b.db")).instance() != instance);
}

TEST_CASE("insert assigns ids, a default name, the container and argv", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job seen_by_argv_for;
  const TimePoint before = now_ms();
  Job first = store.insert(new_job(1001), [&](const Job& job) {
    seen_by_argv_for = job;
    return fake_argv(job);
  });
  CHECK(first.id == 1);
  CHECK(first.spec.name == "app-1");
  CHECK(first.state == JobState::Queued);
  CHECK(first.instance == store.instance());
  CHECK(first.container == "jobman-" + store.instance() + "-1");
  CHECK(first.submitted_at >= before);
  CHECK(first.submitted_at <= now_ms());
  CHECK(first.argv == Argv{"podman", "run", "--name", first.container, "app-1", "1"});
  // argv_for sees the job with its id, name and container already set
  CHECK(seen_by_argv_for.id == 1);
  CHECK(seen_by_argv_for.spec.name == "app-1");
  CHECK(seen_by_argv_for.container == first.container);
  CHECK(seen_by_argv_for.instance == store.instance());

  Job second = store.insert(new_job(1001, "", "tool:2"), fake_argv);
  CHECK(second.id == 2);
  CHECK(second.spec.name == "tool-2");

  Job named = store.insert(new_job(1001, "train"), fake_argv);
  CHECK(named.id == 3);
  CHECK(named.spec.name == "train");
}

TEST_CASE("get returns what insert stored", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job in = new_job(1001, "train");
  in.spec.replace_entrypoint = true;
  Job inserted = store.insert(in, fake_argv);
  auto got = store.get(inserted.id);
  REQUIRE(got.has_value());
  CHECK(got->id == inserted.id);
  CHECK(got->spec.name == "train");
  CHECK(got->uid == 1001);
  CHECK(got->gid == 1101);
  CHECK(got->user == "user1001");
  CHECK(got->spec.image == "app:1.0");
  CHECK(got->spec.image_id == "sha256:abc");
  CHECK(got->spec.args == Argv{"python", "-c", "print(1)"});
  CHECK(got->spec.replace_entrypoint);
  CHECK(got->spec.env == std::vector<EnvVar>{{"B", "2"}, {"A", "1"}}); // order kept
  CHECK(got->state == JobState::Queued);
  CHECK(got->argv == inserted.argv);
  CHECK(got->container == container_name(store.instance(), 1));
  CHECK(got->instance == store.instance());
  CHECK(got->submitted_at == inserted.submitted_at);
  CHECK_FALSE(got->exit_code.has_value());
  CHECK_FALSE(got->started_at.has_value());
  CHECK_FALSE(got->ended_at.has_value());
  CHECK_FALSE(store.get(99).has_value());

  auto events = store.events(inserted.id);
  REQUIRE(events.size() == 1);
  CHECK_FALSE(events[0].from.has_value());
  CHECK(events[0].to == JobState::Queued);
  CHECK(events[0].reason == "submitted");
  CHECK(events[0].at == inserted.submitted_at);
}

TEST_CASE("job names are unique per user among listed jobs", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job first = store.insert(new_job(1001, "train"), fake_argv);

  CHECK_THROWS_MATCHES(store.insert(new_job(1001, "train"), fake_argv), Error,
                       IsError(ErrorCode::Conflict, {"'train'", "id 1"}));
  // The refused insert left nothing behind.
  CHECK(store.list({}).size() == 1);

  Job other_user = store.insert(new_job(1002, "train"), fake_argv);
  CHECK(other_user.spec.name == "train");
  CHECK(store.find_by_name("train", std::nullopt).size() == 2);
  CHECK(ids(store.find_by_name("train", 1001)) == std::vector<JobId>{first.id});

  store.mark_deleted(first.id);
  Job reused = store.insert(new_job(1001, "train"), fake_argv);
  CHECK(reused.spec.name == "train");
  CHECK(ids(store.find_by_name("train", 1001)) == std::vector<JobId>{reused.id});
}

TEST_CASE("transition records events and timestamps", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001), fake_argv);

  Job starting = store.transition(job.id, JobState::Starting, "a slot is free");
  CHECK(starting.state == JobState::Starting);
  CHECK(starting.reason == "a slot is free");
  CHECK_FALSE(starting.started_at.has_value());

  Job running = store.transition(job.id, JobState::Running, "container started");
  REQUIRE(running.started_at.has_value());
  CHECK(*running.started_at >= job.submitted_at);
  CHECK_FALSE(running.ended_at.has_value());
  CHECK_FALSE(running.exit_code.has_value());

  Job done = store.transition(job.id, JobState::Failed, "exited with code 3", {.exit_code = 3});
  CHECK(done.state == JobState::Failed);
  CHECK(done.exit_code == std::optional<int>(3));
  REQUIRE(done.ended_at.has_value());
  CHECK(*done.ended_at >= *running.started_at);
  CHECK(done.started_at == running.started_at);

  auto stored = store.get(job.id);
  REQUIRE(stored.has_value());
  CHECK(stored->state == JobState::Failed);
  CHECK(stored->reason == "exited with code 3");
  CHECK(stored->exit_code == std::optional<int>(3));
  CHECK(stored->started_at == done.started_at);
  CHECK(stored->ended_at == done.ended_at);

  auto events = store.events(job.id);
  REQUIRE(events.size() == 4);
  CHECK(events[1].from == JobState::Queued);
  CHECK(events[1].to == JobState::Starting);
  CHECK(events[1].reason == "a slot is free");
  CHECK(events[2].from == JobState::Starting);
  CHECK(events[2].to == JobState::Running);
  CHECK(events[2].at == *done.started_at);
  CHECK(events[3].from == JobState::Running);
  CHECK(events[3].to == JobState::Failed);
  CHECK(events[3].reason == "exited with code 3");
  CHECK(events[3].at == *done.ended_at);
}

TEST_CASE("a queued job can end without ever starting", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001), fake_argv);
  Job cancelled = store.transition(job.id, JobState::Cancelled, "cancelled by alice");
  CHECK_FALSE(cancelled.started_at.has_value());
  CHECK(cancelled.ended_at.has_value());
  CHECK_FALSE(cancelled.exit_code.has_value());
}

TEST_CASE("a forbidden transition throws Conflict and changes nothing", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001), fake_argv);

  CHECK_THROWS_MATCHES(store.transition(job.id, JobState::Succeeded, "nope", {.exit_code = 0}), Error,
                       IsError(ErrorCode::Conflict, {"job 1", "QUEUED", "SUCCEEDED"}));
  auto after = store.get(job.id);
  REQUIRE(after.has_value());
  CHECK(after->state == JobState::Queued);
  CHECK(after->reason.empty());
  CHECK_FALSE(after->exit_code.has_value());
  CHECK_FALSE(after->ended_at.has_value());
  CHECK(store.events(job.id).size() == 1);

  store.transition(job.id, JobState::Cancelled, "cancelled");
  CHECK_THROWS_MATCHES(store.transition(job.id, JobState::Starting, "again"), Error,
                       IsError(ErrorCode::Conflict, {"CANCELLED", "STARTING"}));
  CHECK(store.get(job.id)->state == JobState::Cancelled);
  CHECK(store.events(job.id).size() == 2);
}

TEST_CASE("transition of an unknown job throws JobNotFound", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  CHECK_THROWS_MATCHES(store.transition(7, JobState::Starting, "x"), Error, IsError(ErrorCode::JobNotFound, {"job 7"}));
}

TEST_CASE("list returns listed jobs newest first, filtered and limited", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  for (std::uint32_t uid : {1001u, 1002u, 1001u, 1003u, 1001u}) store.insert(new_job(uid), fake_argv);
  store.transition(2, JobState::Starting, "go");
  store.transition(3, JobState::Cancelled, "stop");

  CHECK(ids(store.list({})) == std::vector<JobId>{5, 4, 3, 2, 1});
  CHECK(ids(store.list(filter(1001))) == std::vector<JobId>{5, 3, 1});
  CHECK(ids(store.list(filter(4242))).empty());
  CHECK(ids(store.list(filter(std::nullopt, JobState::Queued))) == std::vector<JobId>{5, 4, 1});
  CHECK(ids(store.list(filter(std::nullopt, JobState::Starting))) == std::vector<JobId>{2});
  CHECK(ids(store.list(filter(1001, JobState::Queued))) == std::vector<JobId>{5, 1});
  CHECK(ids(store.list(filter(std::nullopt, std::nullopt, 2))) == std::vector<JobId>{5, 4});
  CHECK(ids(store.list(filter(1001, std::nullopt, 1))) == std::vector<JobId>{5});

  store.mark_deleted(4);
  CHECK(ids(store.list({})) == std::vector<JobId>{5, 3, 2, 1});
}

TEST_CASE("a summary list reads the table's fields, the same as a full one", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job submitted = new_job(1001);
  submitted.spec.name = "seg";
  submitted.spec.args = {"a long argument"};
  store.insert(submitted, fake_argv);
  store.insert(new_job(1001), fake_argv);
  store.set_held(2, true, "held by alice");
  store.transition(1, JobState::Starting, "go");
  store.transition(1, JobState::Running, "up");
  store.transition(1, JobState::Failed, "exit 3", {.exit_code = 3});

  ListFilter summary;
  summary.summary = true;
  const auto rows = store.list(summary), full = store.list({});
  REQUIRE(rows.size() == 2);
  REQUIRE(full.size() == 2);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(protocol::job_to_row_json(rows[i]) == protocol::job_to_row_json(full[i]));
    CHECK(rows[i].spec.args.empty()); // not read
  }
  CHECK(rows[1].spec.name == "seg");
  CHECK(rows[1].exit_code == 3);
  CHECK(rows[1].started_at.has_value());
  CHECK(rows[1].ended_at.has_value());
  CHECK(rows[0].held);
  CHECK(full[1].spec.args == std::vector<std::string>{"a long argument"});
}

TEST_CASE("an array's elements are stored with its id, index and names NAME[i]", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  store.insert(new_job(1001), fake_argv); // job 1
  auto elements = [](const std::string& name, std::vector<int> indices, int limit) {
    std::vector<Job> out;
    for (int index : indices) {
      Job e = new_job(1001);
      e.spec.name = name;
      e.array = Job::ArrayPart{0, index, limit, static_cast<int>(indices.size())};
      out.push_back(e);
    }
    return out;
  };
  auto inserted = store.insert_array(elements("seg", {0, 2, 4}, 2), fake_argv);
  REQUIRE(inserted.size() == 3);
  CHECK(ids(inserted) == std::vector<JobId>{2, 3, 4});
  for (const auto& job : inserted) {
    REQUIRE(job.array);
    CHECK(job.array->id == 2);
    CHECK(job.array->limit == 2);
    CHECK(job.array->count == 3);
  }
  CHECK(inserted[1].spec.name == "seg[2]");
  CHECK(store.get(4)->array == Job::ArrayPart{2, 4, 2, 3});
  CHECK(store.get(1)->array == std::nullopt);
  CHECK(ids(store.array_elements(2)) == std::vector<JobId>{2, 3, 4});
  CHECK(store.array_elements(1).empty()); // a plain job is no array
  CHECK(store.arrays_named("seg", 1001) == std::vector<std::pair<JobId, std::uint32_t>>{{2, 1001}});
  CHECK(store.arrays_named("se", 1001).empty());
  CHECK(store.arrays_named("seg", 4242).empty());

  // The array's name is taken, for a job and for another array; an unnamed one gets
  // "<image>-<array id>[i]".
  Job same = new_job(1001);
  same.spec.name = "seg";
  CHECK_THROWS_MATCHES(store.insert(same, fake_argv), Error, IsError(ErrorCode::Conflict, {"'seg'"}));
  CHECK_THROWS_MATCHES(store.insert_array(elements("seg", {0}, 0), fake_argv), Error, IsError(ErrorCode::Conflict, {"'seg'"}));
  auto unnamed = store.insert_array(elements("", {7, 8}, 0), fake_argv);
  CHECK(unnamed[0].spec.name.ends_with("-5[7]"));
  CHECK(unnamed[1].spec.name.ends_with("-5[8]"));

  // Summaries count the listed elements by state; list groups them on request.
  store.transition(3, JobState::Cancelled, "stop");
  store.mark_deleted(4);
  const auto summaries = store.array_summaries({2});
  const ArraySummary& s = summaries.at(2);
  CHECK(s.listed == 2);
  CHECK(s.indices == std::vector<int>{0, 2});
  CHECK(s.states.at(JobState::Queued) == 1);
  CHECK(s.states.at(JobState::Cancelled) == 1);
  CHECK_FALSE(s.last_ended.has_value()); // one is still queued
  ListFilter grouped;
  grouped.group_arrays = true;
  CHECK(ids(store.list(grouped)) == std::vector<JobId>{5, 2, 1});
  ListFilter one;
  one.array = 2;
  CHECK(ids(store.list(one)) == std::vector<JobId>{3, 2});
  // Its first element deleted, the array's row is the next one's.
  store.mark_deleted(2);
  CHECK(ids(store.list(grouped)) == std::vector<JobId>{5, 3, 1});
}

TEST_CASE("active returns queued, starting and running jobs oldest first", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  for (int i = 0; i < 5; ++i) store.insert(new_job(1001), fake_argv);
  store.transition(1, JobState::Starting, "go");
  store.transition(1, JobState::Running, "up");
  store.transition(2, JobState::Starting, "go");
  store.transition(2, JobState::Running, "up");
  store.transition(2, JobState::Succeeded, "done", {.exit_code = 0});
  store.transition(3, JobState::Starting, "go");
  store.transition(4, JobState::Cancelled, "stop");

  auto active = store.active();
  CHECK(ids(active) == std::vector<JobId>{1, 3, 5});
  REQUIRE(active.size() == 3);
  CHECK(active[0].state == JobState::Running);
  CHECK(active[1].state == JobState::Starting);
  CHECK(active[2].state == JobState::Queued);
}

TEST_CASE("get_listed hides deleted jobs that get still returns", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001, "gone"), fake_argv);
  store.transition(job.id, JobState::Cancelled, "stop");
  REQUIRE(store.get_listed(job.id).has_value());
  store.mark_deleted(job.id);
  CHECK_FALSE(store.get_listed(job.id).has_value());
  CHECK(store.find_by_name("gone", 1001).empty());
  auto kept = store.get(job.id);
  REQUIRE(kept.has_value());
  CHECK(kept->spec.name == "gone");
  CHECK(store.events(job.id).size() == 2); // its history stays
  store.mark_deleted(job.id);             // deleting twice is harmless
  CHECK(store.get(job.id).has_value());
}

TEST_CASE("reopening the database keeps jobs, events and the id sequence", "[job_store]") {
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  Job first;
  {
    JobStore store(path);
    first = store.insert(new_job(1001, "keep"), fake_argv);
    store.transition(first.id, JobState::Starting, "go");
    Job second = store.insert(new_job(1001), fake_argv);
    store.mark_deleted(second.id);
  }
  JobStore store(path);
  auto job = store.get_listed(first.id);
  REQUIRE(job.has_value());
  CHECK(job->spec.name == "keep");
  CHECK(job->state == JobState::Starting);
  CHECK(job->argv == first.argv);
  CHECK(job->spec.env == first.spec.env);
  CHECK(store.events(first.id).size() == 2);
  CHECK_FALSE(store.get_listed(2).has_value());
  CHECK(store.insert(new_job(1001), fake_argv).id == 3);
  // The name is still taken after reopening.
  CHECK_THROWS_MATCHES(store.insert(new_job(1001, "keep"), fake_argv), Error, IsError(ErrorCode::Conflict, {"'keep'"}));
}

TEST_CASE("a default name never takes a name the user already gave", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  store.insert(new_job(1, "app-2"), fake_argv); // id 1, named like the next default
  Job unnamed = store.insert(new_job(1), fake_argv);
  CHECK(unnamed.id == 2);
  CHECK(unnamed.spec.name == "app-2-2");
  CHECK(store.insert(new_job(1), fake_argv).spec.name == "app-3");
}

TEST_CASE("default names are valid job names whatever the image is called", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  CHECK(store.insert(new_job(1, {}, "3d-seg+gpu:1.0"), fake_argv).spec.name == "job-3d-seg-gpu-1");
  CHECK(store.insert(new_job(1, {}, std::string(100, 'x') + ":1"), fake_argv).spec.name == std::string(32, 'x') + "-2");
}

// --- resources, mounts, groups, GPUs (schema 2) -----------------------------------------

TEST_CASE("insert stores flavor, resources, mounts and groups that get reads back", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job inserted = store.insert(resourced_job(1001, "train"), fake_argv);
  check_resources(inserted);
  auto got = store.get(inserted.id);
  REQUIRE(got.has_value());
  check_resources(*got);
  CHECK(got->gpu_devices.empty()); // devices come when the job starts
  // The other ways of reading a job read the new columns as well.
  REQUIRE(store.active().size() == 1);
  check_resources(store.active()[0]);
  REQUIRE(store.list({}).size() == 1);
  check_resources(store.list({})[0]);
  REQUIRE(store.find_by_name("train", 1001).size() == 1);
  check_resources(store.find_by_name("train", 1001)[0]);
}

TEST_CASE("a job without mounts or groups reads back with none", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job inserted = store.insert(new_job(1001), fake_argv);
  auto got = store.get(inserted.id);
  REQUIRE(got.has_value());
  CHECK(got->spec.flavor.empty());
  CHECK(got->spec.mounts.empty());
  CHECK(got->spec.groups.empty());
  CHECK(got->gpu_devices.empty());
  // Resources as the job carried them (the struct's defaults).
  CHECK(got->spec.resources.cpus == 1);
  CHECK(got->spec.resources.memory == 0);
  CHECK(got->spec.resources.gpus == 0);
  CHECK(got->spec.resources.time_limit == 0);
}

TEST_CASE("set_launch records the GPU devices and the final command line", "[job_store]") {
  TempDir dir;
  const std::string path = dir.file("jobman.db");
  JobId id = 0;
  {
    JobStore store(path);
    Job job = store.insert(resourced_job(1001), fake_argv);
    Job other = store.insert(new_job(1002), fake_argv);
    id = job.id;
    store.transition(id, JobState::Starting, "a slot is free");
    const Argv argv{"podman", "run", "--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=2", "sha256:abc"};
    Job launched = store.set_launch(id, job.spec.mounts, {"0", "2"}, argv);
    CHECK(launched.gpu_devices == Argv{"0", "2"});
    CHECK(launched.argv == argv);
    CHECK(launched.state == JobState::Starting); // nothing else changes
    CHECK(launched.spec.name == job.spec.name);
    check_resources(launched);
    auto got = store.get(id);
    REQUIRE(got.has_value());
    CHECK(got->gpu_devices == Argv{"0", "2"});
    CHECK(got->argv == argv);
    // Other jobs are untouched.
    auto untouched = store.get(other.id);
    REQUIRE(untouched.has_value());
    CHECK(untouched->gpu_devices.empty());
    CHECK(untouched->argv == other.argv);
    // No event: set_launch is not a state change.
    CHECK(store.events(id).size() == 2);
  }
  JobStore reopened(path);
  auto after = reopened.get(id);
  REQUIRE(after.has_value());
  CHECK(after->gpu_devices == Argv{"0", "2"});
  REQUIRE(reopened.active().size() == 2);
  CHECK(reopened.active()[0].gpu_devices == Argv{"0", "2"});
}

TEST_CASE("set_launch without GPUs stores none and replaces earlier ones", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001), fake_argv);
  store.set_launch(job.id, {}, {"1"}, {"podman", "run", "a"});
  Job again = store.set_launch(job.id, {}, {}, {"podman", "run", "b"});
  CHECK(again.gpu_devices.empty());
  CHECK(again.argv == Argv{"podman", "run", "b"});
}

TEST_CASE("set_launch of an unknown job throws JobNotFound", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  CHECK_THROWS_MATCHES(store.set_launch(9, {}, {"0"}, {"x"}), Error, IsError(ErrorCode::JobNotFound, {"job 9"}));
}

TEST_CASE("database_problem tells clients what a locked database or a full disk means", "[store]") {
  using jobman::daemon::store::database_problem;
  auto busy = database_problem(SQLite::Exception("database is locked", SQLITE_BUSY));
  REQUIRE(busy);
  CHECK(busy->code == ErrorCode::Unavailable);
  CHECK(busy->message.find("locked by another process") != std::string::npos);
  auto full = database_problem(SQLite::Exception("database or disk is full", SQLITE_FULL));
  REQUIRE(full);
  CHECK(full->message.find("disk is full") != std::string::npos);
  CHECK(database_problem(SQLite::Exception("I/O error", SQLITE_IOERR))->code == ErrorCode::Unavailable);
  // Anything else stays an internal error.
  CHECK_FALSE(database_problem(SQLite::Exception("constraint", SQLITE_CONSTRAINT)));
  CHECK_FALSE(database_problem(std::runtime_error("boom")));
}

TEST_CASE("an end records the job's usage; a job not measured reads back without any", "[job_store]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = store.insert(new_job(1001), fake_argv);
  store.transition(job.id, JobState::Starting, "a slot is free");
  Usage usage;
  usage.peak_memory = 41LL << 20;
  usage.cpu_ms = 2500;
  usage.cpu_user_ms = 2000; // cpu_system_ms not measured
  usage.source = "cgroup v1";
  // Not on a transition that is no end.
  CHECK_FALSE(store.transition(job.id, JobState::Running, "container started", {.usage = usage}).usage);
  CHECK_FALSE(store.get(job.id)->usage);
  Job done = store.transition(job.id, JobState::Succeeded, "exited 0", {.exit_code = 0, .usage = usage});
  CHECK(done.usage == usage);
  JobStore reopened(dir.file("jobman.db"));
  CHECK(reopened.get(job.id)->usage == usage);
  CHECK_FALSE(reopened.get(job.id)->usage->cpu_system_ms);

  Job other = store.insert(new_job(1001), fake_argv);
  store.transition(other.id, JobState::Cancelled, "deleted");
  CHECK_FALSE(store.get(other.id)->usage);
}

TEST_CASE("requeue starts a job's next attempt afresh and records the event", "[job_store][retry]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job job = new_job(1001);
  job.spec.retries = 2;
  const JobId id = store.insert(job, fake_argv).id;
  CHECK_THROWS_MATCHES(store.requeue(id, "x", 1), Error, IsError(ErrorCode::Conflict, {"QUEUED"}));
  store.transition(id, JobState::Starting, "slot");
  store.set_launch(id, {}, {"0"}, {"podman", "run"});
  store.set_backend_info(id, "42", "n1");
  store.transition(id, JobState::Running, "started");
  const Job again = store.requeue(id, "attempt 1 of 3 ended LOST: gone", 12345);
  CHECK(again.state == JobState::Queued);
  CHECK(again.attempt == 2);
  CHECK(again.spec.retries == 2);
  CHECK(again.not_before == 12345);
  CHECK_FALSE(again.started_at);
  CHECK(again.backend_id.empty());
  CHECK(again.node.empty());
  CHECK(again.gpu_devices.empty());
  CHECK(again.reason == "attempt 1 of 3 ended LOST: gone");
  const auto events = store.events(id);
  REQUIRE(events.size() == 4);
  CHECK(events.back().from == JobState::Running);
  CHECK(events.back().to == JobState::Queued);
  // It is queued like any other job, and goes through the states again.
  CHECK(store.queue_entries().front().not_before == 12345);
  store.transition(id, JobState::Starting, "slot");
  CHECK(store.transition(id, JobState::Running, "started").attempt == 2);
  store.transition(id, JobState::Succeeded, "done");
  CHECK_THROWS_MATCHES(store.requeue(id, "x", 1), Error, IsError(ErrorCode::Conflict, {"SUCCEEDED"}));
}

TEST_CASE("a resubmitted job names the job it repeats, which lists it", "[job_store][resubmit]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  const JobId old = store.insert(new_job(1001, "seg"), fake_argv).id;
  Job again = new_job(1001, "seg-r2");
  again.resubmit_of = old;
  const JobId id = store.insert(again, fake_argv).id;
  CHECK(store.get(id)->resubmit_of == old);
  CHECK_FALSE(store.get(old)->resubmit_of);
  CHECK(store.resubmits_of(old) == std::vector<JobId>{id});
  CHECK(store.resubmits_of(id).empty());
}

TEST_CASE("dependencies keep their kind through the store and into the queue", "[job_store][after]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  const JobId a = store.insert(new_job(1001, "a"), fake_argv).id;
  const JobId b = store.insert(new_job(1001, "b"), fake_argv).id;
  Job summary = new_job(1001, "summary");
  summary.spec.after = {{a, AfterKind::Any}, {b, AfterKind::NotOk}, {a, AfterKind::Ok}}; // a twice: its first kind
  const JobId id = store.insert(summary, fake_argv).id;
  CHECK(store.get(id)->spec.after == std::vector<Dependency>{{a, AfterKind::Any}, {b, AfterKind::NotOk}});
  auto entries = store.queue_entries();
  REQUIRE(entries.size() == 3);
  REQUIRE(entries[2].dependencies.size() == 2);
  CHECK(entries[2].dependencies[0].kind == AfterKind::Any);
  CHECK(entries[2].dependencies[1].kind == AfterKind::NotOk);
  // In a batch, -N names its N-th job whatever the kind.
  Job first = new_job(1001, "first"), second = new_job(1001, "second");
  second.spec.after = {{-1, AfterKind::NotOk}};
  auto batch = store.insert_batch({first, second}, fake_argv);
  CHECK(store.get(batch[1].id)->spec.after == std::vector<Dependency>{{batch[0].id, AfterKind::NotOk}});
}

TEST_CASE("a queued job is held and released with an event each; nothing else can be", "[job_store][hold]") {
  TempDir dir;
  JobStore store(dir.file("jobman.db"));
  Job held_at_submit = new_job(1001, "later");
  held_at_submit.held = true;
  const JobId first = store.insert(held_at_submit, fake_argv).id;
  CHECK(store.get(first)->held);
  CHECK(store.events(first).front().reason == "submitted, held");
  CHECK(store.queue_entries().front().held);
  const JobId id = store.insert(new_job(1001), fake_argv).id;
  auto held = store.set_held(id, true, "held by user1001");
  REQUIRE(held);
  CHECK(held->held);
  CHECK(store.get(id)->reason == "held by user1001");
  CHECK_FALSE(store.set_held(id, true, "held again")); // already: no change, no event
  REQUIRE(store.set_held(id, false, "released by user1001"));
  CHECK_FALSE(store.get(id)->held);
  const auto events = store.events(id);
  REQUIRE(events.size() == 3);
  CHECK(events[1].from == JobState::Queued);
  CHECK(events[1].to == JobState::Queued);
  CHECK(events[1].reason == "held by user1001");
  CHECK(events[2].reason == "released by user1001");
  store.transition(id, JobState::Starting, "slot");
  CHECK_THROWS_MATCHES(store.set_held(id, true, "x"), Error, IsError(ErrorCode::Conflict, {"STARTING", "only a queued job"}));
  CHECK_THROWS_MATCHES(store.set_held(424242, true, "x"), Error, IsError(ErrorCode::JobNotFound));
}
