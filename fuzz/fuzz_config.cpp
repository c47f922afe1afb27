// The config file as jobmand loads it (parse_config, then the run_args allowlist that start
// and SIGHUP apply), and config_to_json, which --check-config prints: what it prints must
// load again into the same configuration. Error (InvalidArgument) is how a bad config is
// refused; anything else escaping is a bug.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "daemon/backend/container_args.hpp"
#include "fuzz/fixtures.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace jobman;
using jobman::fuzz::expect;

// jobmand turns these into steady_clock durations (nanoseconds) for its timers and the
// catalogue's age: they must fit.
bool fits_clock(std::chrono::seconds value) {
  using Clock = std::chrono::steady_clock::duration;
  return value.count() >= 0 && value <= std::chrono::duration_cast<std::chrono::seconds>(Clock::max());
}

void check(const Config& config) {
  expect(!config.flavors.empty(), "a config has a flavor");
  expect(config.find_flavor(config.default_flavor) != nullptr, "the default flavor exists");
  expect(!config.socket.path.empty() && config.socket.path.front() == '/' && config.socket.path.size() < 108,
         "the socket path is absolute and fits sun_path");
  expect(!config.state_dir.empty() && config.state_dir.front() == '/', "state_dir is absolute");
  expect(config.server.admin_reserve < config.server.max_connections, "admin_reserve leaves room for users");
  expect(fits_clock(config.images.refresh) && fits_clock(config.engine.command_timeout) && fits_clock(config.limits.kill_grace) && fits_clock(config.limits.default_time) &&
           fits_clock(config.server.idle_timeout) && fits_clock(config.server.frame_timeout),
         "durations fit the daemon's clock");
  for (const auto& flavor : config.flavors) {
    expect(fits_clock(flavor.max_time), "a flavor's max_time fits the daemon's clock");
    expect(flavor.memory > 0 && flavor.shm > 0 && flavor.cpus > 0, "a flavor's resources are positive");
    expect(config.gpus.autodetect || flavor.gpus <= static_cast<int>(config.gpus.devices.size()), "a flavor's GPUs are listed");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Config config;
  try {
    config = parse_config(text, "fuzz");
    (void)daemon::backend::run_args_problem(config.engine.run_args);
  } catch (const Error&) {
    return 0; // refused, as jobmand refuses it at start or on SIGHUP
  }
  check(config);
  const std::string shown = config_to_json(config);
  Config again;
  try {
    again = parse_config(shown, "config_to_json");
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n%s\n", shown.c_str(), e.what());
    expect(false, "what config_to_json prints loads again");
  }
  expect(config_to_json(again) == shown, "config_to_json round-trips");
  return 0;
}
