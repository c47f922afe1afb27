#pragma once
// What the admin's notification hook (config `notify`) is given and what its run came to:
// pure functions, so that the notifier's words and the hook's input are unit-tested.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/engine/command_runner.hpp"

#include <string>
#include <vector>

namespace jobman::daemon::notify {

// Bytes of the hook's stdout and of its stderr kept (for the log); more is dropped.
constexpr std::size_t k_max_hook_output = 4096;

// The hook's stdin: one JSON object, {"event": STATE, "user", "uid", "job": the job as
// `details` shows it}, without the job's `argv` and `env` (the user's values, perhaps
// secrets; a hook needs neither), then a newline.
std::string hook_input(const Job& job);

// The hook's whole environment: a fixed PATH, HOME=/, and the job's key fields, so that a
// shell script needs no JSON parser: JOBMAN_NOTIFY_STATE, JOBMAN_JOB_ID, JOBMAN_JOB_NAME,
// JOBMAN_USER, JOBMAN_UID, JOBMAN_JOB_REASON (at most 1000 bytes), JOBMAN_EXIT_CODE ("" if
// none). Values may hold any byte but NUL (dropped); a hook must not trust them.
std::vector<std::string> hook_environment(const Job& job);

// How one run of `command` ended, in words: for the job's events (`event`, which never
// quotes the hook's output: that is the admin's) and jobmand's log (`log`, with the
// hook's stderr when it failed).
struct HookOutcome {
  bool ok = false;
  std::string event;
  std::string log;
};
HookOutcome describe_hook_run(const std::vector<std::string>& command, const Result<engine::Captured>& result);

} // namespace jobman::daemon::notify
