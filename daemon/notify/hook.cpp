#include "daemon/notify/hook.hpp"

#include "common/printable.hpp"
#include "common/protocol.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobman::daemon::notify {

namespace {

std::string without_nul(std::string text) {
  std::erase(text, '\0');
  return text;
}

// The hook's output as one log line's part: escaped, trimmed, at most 400 bytes.
std::string output_excerpt(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r' || trimmed.back() == ' ')) trimmed.pop_back();
  if (trimmed.size() > 400) trimmed = trimmed.substr(0, 400) + "...";
  return escape_controls(trimmed);
}

} // namespace

std::string hook_input(const Job& job) {
  nlohmann::json shown = protocol::job_to_json(job);
  shown.erase("argv");
  shown.erase("env");
  const nlohmann::json input = {{"event", to_string(job.state)}, {"user", job.user}, {"uid", job.uid}, {"job", std::move(shown)}};
  // Invalid UTF-8 in a reason (an engine's words) becomes U+FFFD rather than an exception.
  return input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::string> hook_environment(const Job& job) {
  std::string reason = job.reason.substr(0, std::min<std::size_t>(job.reason.size(), 1000));
  return {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/",
    fmt::format("JOBMAN_NOTIFY_STATE={}", to_string(job.state)),
    fmt::format("JOBMAN_JOB_ID={}", job.id),
    "JOBMAN_JOB_NAME=" + without_nul(job.spec.name),
    "JOBMAN_USER=" + without_nul(job.user),
    fmt::format("JOBMAN_UID={}", job.uid),
    "JOBMAN_JOB_REASON=" + without_nul(std::move(reason)),
    "JOBMAN_EXIT_CODE=" + (job.exit_code ? std::to_string(*job.exit_code) : std::string()),
  };
}

HookOutcome describe_hook_run(const std::vector<std::string>& command, const Result<engine::Captured>& result) {
  const std::string& path = command.empty() ? std::string() : command.front();
  const std::string name = escape_controls(path.substr(path.rfind('/') + 1));
  HookOutcome outcome;
  if (!result) {
    // Not started (a missing or unrunnable file), or past notify.timeout and killed.
    const bool timed_out = result.error().code == ErrorCode::Unavailable;
    outcome.event = timed_out ? fmt::format("notification failed: {} ran past notify.timeout and was killed", name)
                              : fmt::format("notification failed: {} could not be started", name);
    outcome.log = escape_controls(result.error().message);
    return outcome;
  }
  const engine::ExitStatus& status = result.value().status;
  outcome.ok = status.success();
  if (outcome.ok) {
    outcome.event = fmt::format("notified ({} exit 0)", name);
    outcome.log = outcome.event;
    return outcome;
  }
  // 126: the child could not become notify.user (or enter /) before its exec.
  const std::string how = status.code == 126 ? "exit code 126 (perhaps it could not switch to notify.user)" : status.describe();
  outcome.event = fmt::format("notification failed: {} {}", name, how);
  outcome.log = fmt::format("{} {}", escape_controls(path), how);
  if (!result.value().err.empty()) outcome.log += "; stderr: " + output_excerpt(result.value().err);
  if (!result.value().out.empty()) outcome.log += "; stdout: " + output_excerpt(result.value().out);
  return outcome;
}

} // namespace jobman::daemon::notify
