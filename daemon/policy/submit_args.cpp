#include "daemon/policy/submit_args.hpp"

#include "common/notify.hpp"

#include <fmt/format.h>

namespace jobman::daemon::policy {

SubmitArgs read_submit_args(protocol::Args& args) {
  SubmitArgs s;
  s.request.image = args.optional_string("image"); // none: images.default
  s.request.name = args.optional_string("name");
  s.request.args = args.optional_string_list("args");
  s.request.replace_entrypoint = args.optional_bool("replace_entrypoint");
  s.request.env = args.optional_string_list("env");
  s.request.flavor = args.optional_string("flavor");
  s.request.time = args.optional_string("time");
  if (auto gpus = args.optional_int("gpus", -1, -1, 64); gpus >= 0) s.request.gpus = static_cast<int>(gpus);
  s.after = args.optional_string_list("after");
  // Each is a lookup on the daemon's thread and a row: a frame could name 200,000.
  if (s.after.size() > k_max_after)
    throw Error(ErrorCode::InvalidArgument, fmt::format("--after names {} jobs; at most {}", s.after.size(), k_max_after));
  s.priority = static_cast<int>(args.optional_int("priority", 0, -k_max_admin_priority, k_max_admin_priority));
  s.retries = static_cast<int>(args.optional_int("retries", 0, 0, 100));
  s.hold = args.optional_bool("hold");
  s.notify = parse_notify_words(args.optional_string_list("notify"));
  return s;
}

} // namespace jobman::daemon::policy
