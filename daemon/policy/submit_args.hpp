#pragma once
// One job of a `submit` (or one item of `submit_batch`) as read from the request's args,
// before build_job validates it. Separate from commands/submit.cpp so the fuzzer reads
// args exactly as the daemon does.

#include "common/protocol.hpp"
#include "daemon/policy/submit_policy.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace jobman::daemon::policy {

constexpr std::size_t k_max_after = 100; // jobs one job may run after
constexpr int k_max_admin_priority = 1000;

struct SubmitArgs {
  SubmitRequest request;
  std::vector<std::string> after; // job ids or names, resolved by the submit command
  int priority = 0;               // checked against the caller's range by the submit command
  int retries = 0;                // checked against limits.max_retries by the submit command
  bool hold = false;              // queued held
  std::vector<std::string> notify; // parse_notify_words' words; the submit command checks the platform has a hook
  bool defaulted_image = false;   // no image was asked for: images.default was put in
};

// Reads the job's keys from `args` (the caller then calls `args.finish()`). Throws Error
// naming a missing or mistyped argument.
SubmitArgs read_submit_args(protocol::Args& args);

} // namespace jobman::daemon::policy
