#pragma once
// The environment the admin gives jobs (config `env`, globally and per flavor): which names
// the admin may set, the placeholders of the values, and their values for one job.
//
// jobmand never puts these values in an argv (stored in the database, shown by `details`,
// readable by every local user in /proc/PID/cmdline): the engine command names them
// (`--env=NAME`) and the engine client takes each value from its own environment, which
// only root can read (backend/local_backend.cpp; on Slurm a root-only file the batch script
// hands to `jobmand --node-exec`).

#include "common/config.hpp"
#include "common/job.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobman {

inline constexpr std::size_t k_max_platform_env = 64;          // variables globally, and in each flavor
inline constexpr std::size_t k_max_platform_env_name = 128;    // bytes
inline constexpr std::size_t k_max_platform_env_value = 4096;  // bytes, before and after its placeholders
inline constexpr std::string_view k_secret_shown = "***";      // what details and --dry-run show of a secret

// Why the admin may not set variable `name`, or nothing: not a valid name (users' -e rule),
// too long, JOBMAN_* (jobman's own), what steers GPU access, or what the engine client
// itself reads (PATH, HOME, LD_*, DOCKER_*, CONTAINERS_*, ...: the value is handed to it in
// its environment).
std::optional<std::string> platform_env_name_problem(std::string_view name);

// Why `value` is not a valid value template, or nothing. Placeholders: {user}, {uid},
// {job_id}, {job_name}, {flavor}; `{{` and `}}` are literal braces; any other brace, a NUL,
// a line break, invalid UTF-8 or more than k_max_platform_env_value bytes is refused.
std::optional<std::string> platform_env_value_problem(std::string_view value);

// What the placeholders stand for in one job.
struct PlatformEnvFields {
  std::string user, uid, job_id, job_name, flavor;
};
PlatformEnvFields platform_env_fields(const Job& job);

// `value` (valid: platform_env_value_problem) with its placeholders replaced by `fields`.
std::string expand_platform_env(std::string_view value, const PlatformEnvFields& fields);

// The admin's variables for `job` (Config::env_for its flavor), values expanded.
std::vector<PlatformEnvVar> resolve_platform_env(const Config& config, const Job& job);

// Why `resolved` cannot reach a container exactly (a user name that brought a line break
// or invalid UTF-8 in, a value grown too long), naming the variable but not its value.
std::optional<std::string> resolved_env_problem(const std::vector<PlatformEnvVar>& resolved);

// The value as details, --dry-run and --check-config show it: k_secret_shown for a secret.
std::string shown_value(const PlatformEnvVar& var);

} // namespace jobman
