// Tests for daemon/notify/notifier.hpp and hook.hpp: which ends run the admin's hook, with
// what (as notify.user, its JSON on stdin without argv and env, a fixed environment), how
// many at once, what is recorded (an event, notified_at, never a state change), what a
// restart runs again, and what is dropped past the queue's bound. The hook is the fake
// runner's: rules decide its outcome.

#include "daemon/notify/hook.hpp"
#include "daemon/notify/notifier.hpp"

#include "common/notify.hpp"
#include "daemon/store/job_store.hpp"
#include "fake_command_runner.hpp"
#include "job_fixtures.hpp"
#include "temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace jobman;
using namespace jobman::daemon;
using namespace std::chrono_literals;
using jobman::test::FakeCommandRunner;
using jobman::test::TempDir;
namespace asio = boost::asio;

namespace {

Config hook_config() {
  Config config;
  config.notify.command = {"/usr/lib/jobman/notify-mail", "--flag"};
  config.notify.user = "nobody";
  config.notify.uid = 65534;
  config.notify.gid = 65534;
  config.notify.timeout = 7s;
  return config;
}

// A job of `uid` stored and ended `state`, having asked for `words`.
Job ended_job(store::JobStore& store, std::vector<std::string> words, JobState state, std::uint32_t uid = 1000) {
  Job job = test::new_job(uid);
  job.spec.notify = std::move(words);
  job.spec.env = {{"TOKEN", "s3cret"}};
  job = store.insert(job, test::fake_argv);
  store.transition(job.id, JobState::Starting, "a slot is free");
  store.transition(job.id, JobState::Running, "container started");
  store::TransitionFields fields;
  if (state == JobState::Failed) fields.exit_code = 3;
  return store.transition(job.id, state, state == JobState::Failed ? "exit code 3\nSubject: forged" : "done", fields);
}

std::vector<std::string> events_of(const store::JobStore& store, JobId id) {
  std::vector<std::string> reasons;
  for (const auto& e : store.events(id)) reasons.push_back(e.reason);
  return reasons;
}

} // namespace

TEST_CASE("hook input: the job as details shows it without argv and env, and the event", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  const Job job = ended_job(store, {"FAIL"}, JobState::Failed);
  const auto input = nlohmann::json::parse(notify::hook_input(job));
  CHECK(input["event"] == "FAILED");
  CHECK(input["user"] == job.user);
  CHECK(input["uid"] == job.uid);
  CHECK(input["job"]["id"] == job.id);
  CHECK(input["job"]["state"] == "FAILED");
  CHECK(input["job"]["exit_code"] == 3);
  CHECK(input["job"]["notify"] == std::vector<std::string>{"FAIL"});
  CHECK_FALSE(input["job"].contains("argv"));
  CHECK_FALSE(input["job"].contains("env"));
  CHECK(notify::hook_input(job).find("s3cret") == std::string::npos);
}

TEST_CASE("hook environment: fixed PATH and HOME, the job's key fields, nothing of the daemon's", "[notify]") {
  Job job = test::new_job(1000, "train\x01");
  job.id = 42;
  job.state = JobState::Timeout;
  job.reason = std::string("stopped\0at", 10) + std::string(5000, 'r');
  ::setenv("JOBMAN_UNIT_DAEMON_ONLY", "x", 1);
  const auto env = notify::hook_environment(job);
  ::unsetenv("JOBMAN_UNIT_DAEMON_ONLY");
  auto has = [&](const std::string& entry) { return std::find(env.begin(), env.end(), entry) != env.end(); };
  CHECK(has("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  CHECK(has("HOME=/"));
  CHECK(has("JOBMAN_NOTIFY_STATE=TIMEOUT"));
  CHECK(has("JOBMAN_JOB_ID=42"));
  CHECK(has("JOBMAN_JOB_NAME=train\x01"));
  CHECK(has("JOBMAN_USER=user1000"));
  CHECK(has("JOBMAN_UID=1000"));
  CHECK(has("JOBMAN_EXIT_CODE="));
  for (const auto& entry : env) {
    CHECK(entry.find('\0') == std::string::npos);
    CHECK(entry.rfind("JOBMAN_UNIT_DAEMON_ONLY", 0) != 0);
    if (entry.rfind("JOBMAN_JOB_REASON=", 0) == 0) CHECK(entry.size() == std::string("JOBMAN_JOB_REASON=").size() + 999); // 1000 less the NUL
  }
}

TEST_CASE("describe_hook_run: ok, an exit code with its stderr for the log only, a timeout, a failed start", "[notify]") {
  const std::vector<std::string> command{"/usr/lib/jobman/notify-mail"};
  using engine::Captured;
  auto ok = notify::describe_hook_run(command, Result<Captured>(Captured{{0, std::nullopt}, "", ""}));
  CHECK(ok.ok);
  CHECK(ok.event == "notified (notify-mail exit 0)");
  auto failed = notify::describe_hook_run(command, Result<Captured>(Captured{{3, std::nullopt}, "", "sendmail: \x1b[2Jbad\n"}));
  CHECK_FALSE(failed.ok);
  CHECK(failed.event == "notification failed: notify-mail exit code 3");
  CHECK(failed.log.find("stderr: sendmail: \\e[2Jbad") != std::string::npos);
  auto killed = notify::describe_hook_run(command, Result<Captured>(Captured{{std::nullopt, 9}, "", ""}));
  CHECK(killed.event == "notification failed: notify-mail signal 9");
  auto late = notify::describe_hook_run(command, Result<Captured>(ErrorInfo{ErrorCode::Unavailable, "did not answer within 30s"}));
  CHECK(late.event == "notification failed: notify-mail ran past notify.timeout and was killed");
  auto missing = notify::describe_hook_run(command, Result<Captured>(ErrorInfo{ErrorCode::EngineError, "cannot run: No such file"}));
  CHECK(missing.event == "notification failed: notify-mail could not be started");
  CHECK(missing.log.find("No such file") != std::string::npos);
}

TEST_CASE("notifier: a wanted end runs the hook once, as notify.user, and records it; the state stays", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  asio::io_context io;
  FakeCommandRunner runner;
  runner.on({"/usr/lib/jobman/notify-mail"}, 0, "");
  const Config config = hook_config();
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  const Job failed = ended_job(store, {"FAIL"}, JobState::Failed);
  const Job succeeded = ended_job(store, {"FAIL"}, JobState::Succeeded); // FAIL does not cover it
  const Job cancelled = ended_job(store, {"END"}, JobState::Cancelled);
  notifier.job_ended(failed);
  notifier.job_ended(failed); // twice: still once
  notifier.job_ended(succeeded);
  notifier.job_ended(cancelled);
  Job running = test::new_job(1000);
  running.spec.notify = {"END"};
  running.state = JobState::Running;
  notifier.job_ended(running); // not an end: nothing
  io.run();
  REQUIRE(runner.calls.size() == 2);
  CHECK(runner.calls[0] == std::vector<std::string>{"/usr/lib/jobman/notify-mail", "--flag"});
  REQUIRE(runner.child_options.size() == 2);
  const auto& options = runner.child_options[0];
  CHECK(options.uid == 65534u);
  CHECK(options.gid == 65534u);
  CHECK(options.working_dir == "/");
  CHECK(options.cut_output);
  REQUIRE(options.environment);
  CHECK(std::find(options.environment->begin(), options.environment->end(), "JOBMAN_NOTIFY_STATE=FAILED") != options.environment->end());
  CHECK(nlohmann::json::parse(runner.stdins[0])["job"]["id"] == failed.id);
  CHECK(nlohmann::json::parse(runner.stdins[1])["event"] == "CANCELLED");

  const Job after = store.get(failed.id).value();
  CHECK(after.state == JobState::Failed);
  CHECK(after.notified_at);
  CHECK(events_of(store, failed.id).back() == "notified (notify-mail exit 0)");
  CHECK(store.events(failed.id).back().to == JobState::Failed);
  CHECK_FALSE(store.get(succeeded.id)->notified_at);
  CHECK(notifier.running() == 0);
}

TEST_CASE("notifier: a failing hook is recorded as such; the admin's states limit what runs", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  asio::io_context io;
  FakeCommandRunner runner;
  runner.on({"/usr/lib/jobman/notify-mail"}, 3, "", "no sendmail");
  Config config = hook_config();
  config.notify.states = {"FAILED"};
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  const Job failed = ended_job(store, {"END"}, JobState::Failed);
  const Job timed_out = ended_job(store, {"END"}, JobState::Timeout);
  notifier.job_ended(failed);
  notifier.job_ended(timed_out);
  io.run();
  CHECK(runner.calls.size() == 1);
  CHECK(events_of(store, failed.id).back() == "notification failed: notify-mail exit code 3");
  CHECK(store.get(failed.id)->notified_at);
  CHECK(store.get(failed.id)->state == JobState::Failed);
}

TEST_CASE("notifier: at most notify.max_running hooks at once; the others wait their turn", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  asio::io_context io;
  FakeCommandRunner runner;
  std::size_t most = 0;
  notify::Notifier* seen = nullptr;
  runner.rules.push_back({{"/usr/lib/jobman/notify-mail"}, [&] {
                            most = std::max(most, seen->running());
                            return Result<engine::Captured>(engine::Captured{{0, std::nullopt}, "", ""});
                          }});
  Config config = hook_config();
  config.notify.max_running = 2;
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  seen = &notifier;
  for (int i = 0; i < 7; ++i) notifier.job_ended(ended_job(store, {"END"}, JobState::Succeeded));
  CHECK(notifier.running() == 2);
  CHECK(notifier.waiting() == 5);
  io.run();
  CHECK(runner.calls.size() == 7);
  CHECK(most == 2);
  CHECK(notifier.waiting() == 0);
}

TEST_CASE("notifier: past k_max_waiting an end is dropped, logged and said in the job's events", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  asio::io_context io;
  FakeCommandRunner runner;
  runner.on({"/usr/lib/jobman/notify-mail"}, 0, "");
  Config config = hook_config();
  config.notify.max_running = 1;
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  const Job job = ended_job(store, {"END"}, JobState::Succeeded);
  for (std::size_t i = 0; i < notify::k_max_waiting + 1; ++i) {
    Job other = job;
    other.id = 100000 + static_cast<JobId>(i); // not stored: recording them does nothing
    notifier.job_ended(other);
  }
  CHECK(notifier.waiting() == notify::k_max_waiting);
  notifier.job_ended(job);
  CHECK(notifier.waiting() == notify::k_max_waiting);
  CHECK(events_of(store, job.id).back().find("notification dropped") == 0);
  CHECK(store.get(job.id)->notified_at);
  notifier.shutdown(); // what waits is the next daemon's
  io.run();
  CHECK(runner.calls.size() == 1);
}

TEST_CASE("notifier: recover runs the ends a previous daemon had not notified, within a day, once", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  const Job pending = ended_job(store, {"FAIL"}, JobState::Failed);
  const Job done = ended_job(store, {"FAIL"}, JobState::Failed);
  store.set_notified(done.id, "notified (notify-mail exit 0)");
  const Job not_wanted = ended_job(store, {"FAIL"}, JobState::Succeeded);
  const Job not_asked = ended_job(store, {}, JobState::Failed);
  asio::io_context io;
  FakeCommandRunner runner;
  runner.on({"/usr/lib/jobman/notify-mail"}, 0, "");
  const Config config = hook_config();
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  notifier.recover();
  notifier.job_ended(store.get(pending.id).value()); // the scheduler's recovery ending it again: still once
  io.run();
  REQUIRE(runner.calls.size() == 1);
  CHECK(nlohmann::json::parse(runner.stdins[0])["job"]["id"] == pending.id);
  CHECK(store.get(pending.id)->notified_at);
  CHECK(store.pending_notifications(0, 100).size() == 1); // only not_wanted is left, and never run
  CHECK(store.pending_notifications(now_ms() + 1000, 100).empty());
  (void)not_asked;
  (void)not_wanted;
}

TEST_CASE("notifier: without a hook configured nothing runs", "[notify]") {
  TempDir dir;
  store::JobStore store(dir.file("j.db"));
  asio::io_context io;
  FakeCommandRunner runner;
  const Config config; // no notify section
  notify::Notifier notifier(io.get_executor(), config, store, runner);
  notifier.job_ended(ended_job(store, {"END"}, JobState::Failed));
  notifier.recover();
  io.run();
  CHECK(runner.calls.empty());
}
