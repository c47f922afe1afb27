// Tests for common/job.hpp: state names, terminal states and the state machine.

#include "common/job.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <utility>

using namespace jobman;

namespace {
constexpr JobState k_all_states[] = {
  JobState::Queued, JobState::Starting,  JobState::Running,   JobState::Succeeded, JobState::Failed,
  JobState::Cancelled, JobState::Timeout, JobState::OomKilled, JobState::Lost,
};
} // namespace

TEST_CASE("job state names are the wire spellings", "[job]") {
  CHECK(to_string(JobState::Queued) == "QUEUED");
  CHECK(to_string(JobState::Starting) == "STARTING");
  CHECK(to_string(JobState::Running) == "RUNNING");
  CHECK(to_string(JobState::Succeeded) == "SUCCEEDED");
  CHECK(to_string(JobState::Failed) == "FAILED");
  CHECK(to_string(JobState::Cancelled) == "CANCELLED");
  CHECK(to_string(JobState::Timeout) == "TIMEOUT");
  CHECK(to_string(JobState::OomKilled) == "OOM_KILLED");
  CHECK(to_string(JobState::Lost) == "LOST");
}

TEST_CASE("job_state_from_string inverts to_string for every state", "[job]") {
  std::set<std::string_view> names;
  for (JobState state : k_all_states) {
    CAPTURE(state);
    CHECK(job_state_from_string(to_string(state)) == state);
    names.insert(to_string(state));
  }
  CHECK(names.size() == std::size(k_all_states));
}

TEST_CASE("job_state_from_string rejects unknown spellings", "[job]") {
  for (const char* text : {"", "queued", "Queued", "QUEUED ", "DONE", "OOMKILLED", "UNKNOWN"}) {
    CAPTURE(text);
    CHECK_FALSE(job_state_from_string(text).has_value());
  }
}

TEST_CASE("is_terminal", "[job]") {
  CHECK_FALSE(is_terminal(JobState::Queued));
  CHECK_FALSE(is_terminal(JobState::Starting));
  CHECK_FALSE(is_terminal(JobState::Running));
  CHECK(is_terminal(JobState::Succeeded));
  CHECK(is_terminal(JobState::Failed));
  CHECK(is_terminal(JobState::Cancelled));
  CHECK(is_terminal(JobState::Timeout));
  CHECK(is_terminal(JobState::OomKilled));
  CHECK(is_terminal(JobState::Lost));
}

TEST_CASE("is_allowed_transition matches the state machine exactly", "[job]") {
  using S = JobState;
  const std::set<std::pair<S, S>> allowed{
    // A queued job starts, is cancelled, or fails before starting (its image vanished).
    {S::Queued, S::Starting},
    {S::Queued, S::Cancelled},
    {S::Queued, S::Failed},
    // A starting job runs or ends, but cannot have succeeded without running.
    {S::Starting, S::Running},
    {S::Starting, S::Failed},
    {S::Starting, S::Cancelled},
    {S::Starting, S::Timeout},
    {S::Starting, S::OomKilled},
    {S::Starting, S::Lost},
    // A running job may end in any terminal state.
    {S::Running, S::Succeeded},
    {S::Running, S::Failed},
    {S::Running, S::Cancelled},
    {S::Running, S::Timeout},
    {S::Running, S::OomKilled},
    {S::Running, S::Lost},
  };
  for (S from : k_all_states) {
    for (S to : k_all_states) {
      CAPTURE(from, to);
      CHECK(is_allowed_transition(from, to) == allowed.contains({from, to}));
    }
  }
}

TEST_CASE("notable forbidden transitions", "[job]") {
  CHECK_FALSE(is_allowed_transition(JobState::Running, JobState::Queued));
  CHECK_FALSE(is_allowed_transition(JobState::Running, JobState::Starting));
  CHECK_FALSE(is_allowed_transition(JobState::Starting, JobState::Succeeded));
  CHECK_FALSE(is_allowed_transition(JobState::Queued, JobState::Running));
  CHECK_FALSE(is_allowed_transition(JobState::Queued, JobState::Succeeded));
  CHECK_FALSE(is_allowed_transition(JobState::Queued, JobState::Queued));
  CHECK_FALSE(is_allowed_transition(JobState::Succeeded, JobState::Failed));
  CHECK_FALSE(is_allowed_transition(JobState::Lost, JobState::Running));
  CHECK_FALSE(is_allowed_transition(JobState::Cancelled, JobState::Queued));
}

TEST_CASE("container_name is jobman-<instance>-<id>", "[job]") {
  CHECK(container_name("0a1b2c3d", 42) == "jobman-0a1b2c3d-42");
  CHECK(container_name("ffffffff", 1) == "jobman-ffffffff-1");
  CHECK(container_name("0a1b2c3d", 9000000000LL) == "jobman-0a1b2c3d-9000000000");
  CHECK(container_name("0a1b2c3d", 42) != container_name("0a1b2c3e", 42));
}

TEST_CASE("now_ms is milliseconds since the epoch", "[job]") {
  TimePoint t = now_ms();
  CHECK(t > 1600000000000LL); // after 2020
  CHECK(t < 4102444800000LL); // before 2100
  CHECK(now_ms() >= t);
}

TEST_CASE("job_of_container inverts container_name for its own instance only", "[job]") {
  CHECK(job_of_container(container_name("0a1b2c3d", 42), "0a1b2c3d") == std::optional<JobId>(42));
  CHECK_FALSE(job_of_container(container_name("0a1b2c3d", 42), "ffffffff").has_value());
  CHECK_FALSE(job_of_container("jobman-0a1b2c3d-", "0a1b2c3d").has_value());
  CHECK_FALSE(job_of_container("jobman-0a1b2c3d-4x", "0a1b2c3d").has_value());
  CHECK_FALSE(job_of_container("other", "0a1b2c3d").has_value());
}
