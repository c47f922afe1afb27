#include "common/job.hpp"

#include <array>
#include <chrono>
#include <string>

namespace jobman {

std::optional<std::int64_t> needed_memory(const Usage& usage) { return usage.peak_resident ? usage.peak_resident : usage.peak_memory; }

TimePoint now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {
constexpr std::array k_state_names{
  std::pair{JobState::Queued, std::string_view{"QUEUED"}},
  std::pair{JobState::Starting, std::string_view{"STARTING"}},
  std::pair{JobState::Running, std::string_view{"RUNNING"}},
  std::pair{JobState::Succeeded, std::string_view{"SUCCEEDED"}},
  std::pair{JobState::Failed, std::string_view{"FAILED"}},
  std::pair{JobState::Cancelled, std::string_view{"CANCELLED"}},
  std::pair{JobState::Timeout, std::string_view{"TIMEOUT"}},
  std::pair{JobState::OomKilled, std::string_view{"OOM_KILLED"}},
  std::pair{JobState::Lost, std::string_view{"LOST"}},
};
} // namespace

std::string_view to_string(JobState state) {
  for (const auto& [s, name] : k_state_names)
    if (s == state) return name;
  return "UNKNOWN";
}

std::optional<JobState> job_state_from_string(std::string_view text) {
  for (const auto& [s, name] : k_state_names)
    if (name == text) return s;
  return std::nullopt;
}

bool is_terminal(JobState state) {
  return state != JobState::Queued && state != JobState::Starting && state != JobState::Running;
}

std::string_view to_string(AfterKind kind) {
  switch (kind) {
  case AfterKind::Ok: return "ok";
  case AfterKind::Any: return "any";
  case AfterKind::NotOk: return "notok";
  }
  return "ok";
}

std::optional<AfterKind> after_kind_from_string(std::string_view text) {
  if (text == "ok" || text == "afterok") return AfterKind::Ok;
  if (text == "any" || text == "afterany") return AfterKind::Any;
  if (text == "notok" || text == "afternotok") return AfterKind::NotOk;
  return std::nullopt;
}

std::optional<bool> dependency_met(AfterKind kind, JobState state) {
  if (!is_terminal(state)) return std::nullopt;
  switch (kind) {
  case AfterKind::Ok: return state == JobState::Succeeded;
  case AfterKind::Any: return true;
  case AfterKind::NotOk: return state != JobState::Succeeded;
  }
  return false;
}

bool is_allowed_transition(JobState from, JobState to) {
  switch (from) {
  case JobState::Queued:
    // A queued job may start, be cancelled, or fail before it starts.
    return to == JobState::Starting || to == JobState::Cancelled || to == JobState::Failed;
  case JobState::Starting:
    return to == JobState::Running || (is_terminal(to) && to != JobState::Succeeded);
  case JobState::Running:
    return is_terminal(to);
  default:
    return false; // terminal states are final
  }
}

std::optional<JobId> job_of_container(std::string_view name, std::string_view instance) {
  const std::string prefix = "jobman-" + std::string(instance) + "-";
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = name.substr(prefix.size());
  if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return std::stoll(std::string(digits));
}

std::string container_name(std::string_view instance, JobId id) {
  return "jobman-" + std::string(instance) + "-" + std::to_string(id);
}

} // namespace jobman
