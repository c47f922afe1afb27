#include "daemon/policy/submit_policy.hpp"

#include "common/duration.hpp"
#include "common/names.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <iterator>

namespace jobman::daemon::policy {

namespace {
ErrorInfo invalid(std::string message) { return {ErrorCode::InvalidArgument, std::move(message)}; }

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }
} // namespace

std::optional<std::string> reserved_env_problem(const std::string& key) {
  if (key.rfind("JOBMAN_", 0) == 0) return fmt::format("environment variable '{}': names starting with JOBMAN_ are reserved", key);
  // GPU access follows these wherever an NVIDIA (or AMD, Intel) runtime hook or library
  // reads them: jobman sets them from the job's allocation, and a user's value, later in
  // the engine's argv, would win (issue 9, V7: -e NVIDIA_VISIBLE_DEVICES=all).
  if (key.rfind("NVIDIA_", 0) == 0)
    return fmt::format("environment variable '{}': names starting with NVIDIA_ are reserved (GPU access is jobman's: use --gpus)", key);
  if (is_gpu_env_name(key)) return fmt::format("environment variable '{}' is reserved (GPU access is jobman's: use --gpus)", key);
  return std::nullopt;
}

std::vector<Mount> job_mounts(const images::ImageHome* home, std::vector<Mount> mounts) {
  const std::string image_home = home ? home->home : std::string{};
  for (auto& m : mounts) m.target = with_image_home(m.target, image_home);
  std::vector<Mount> all;
  if (home)
    for (const auto& copy : home->copies) {
      if (std::any_of(mounts.begin(), mounts.end(), [&](const Mount& m) { return m.target == copy.dir; })) continue;
      Mount m;
      m.source = fmt::format("(a copy of the image's {}, made at start)", copy.dir);
      m.target = copy.dir;
      m.read_only = false;
      m.image_copy = true;
      all.push_back(std::move(m));
    }
  all.insert(all.end(), std::make_move_iterator(mounts.begin()), std::make_move_iterator(mounts.end()));
  return all;
}

Result<Job> build_job(const SubmitContext& context, const Submitter& submitter, const SubmitRequest& request) {
  const Config& config = context.config;
  Job job;
  job.uid = submitter.uid;
  job.gid = submitter.gid;
  job.user = submitter.user;

  if (!request.name.empty()) {
    if (auto problem = job_name_problem(request.name)) return invalid(*problem);
    job.spec.name = request.name;
  }

  if (request.args.size() > k_max_args) return invalid(fmt::format("too many arguments ({}); at most {}", request.args.size(), k_max_args));
  std::size_t bytes = 0;
  for (const auto& arg : request.args) {
    if (has_nul(arg)) return invalid("an argument contains a NUL character");
    bytes += arg.size();
  }
  if (request.replace_entrypoint) {
    if (request.args.empty()) return invalid("-c replaces the image's entrypoint, so it needs a command after '--'");
    if (request.args.front().empty()) return invalid("-c: the command to run is empty");
  }
  job.spec.args = request.args;
  job.spec.replace_entrypoint = request.replace_entrypoint;

  if (request.env.size() > k_max_env) return invalid(fmt::format("too many environment variables ({}); at most {}", request.env.size(), k_max_env));
  for (const auto& item : request.env) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return invalid(fmt::format("environment variable '{}' must be KEY=VALUE", item));
    std::string key = item.substr(0, eq);
    if (!is_valid_env_name(key))
      return invalid(fmt::format("environment variable name '{}' is invalid: use letters, digits and '_', not starting with a digit", key));
    if (auto problem = reserved_env_problem(key)) return invalid(*problem);
    if (has_nul(item)) return invalid(fmt::format("environment variable '{}' contains a NUL character", key));
    bytes += item.size();
    // The last value for a key wins, as with the engines' own -e.
    std::erase_if(job.spec.env, [&](const EnvVar& var) { return var.first == key; });
    job.spec.env.emplace_back(key, item.substr(eq + 1));
  }
  if (bytes > k_max_command_bytes) return invalid(fmt::format("arguments and environment add up to {} bytes; at most {}", bytes, k_max_command_bytes));

  const std::string flavor_name = request.flavor.empty() ? config.default_flavor : request.flavor;
  const Flavor* flavor = config.find_flavor(flavor_name);
  if (!flavor) {
    std::string names;
    for (const auto& f : config.flavors) names += (names.empty() ? "" : ", ") + f.name;
    return invalid(fmt::format("unknown flavor '{}'; valid flavors: {} (see `jobman resources-flavors`)", flavor_name, names));
  }
  job.spec.flavor = flavor->name;
  // What the admin sets (config `env`, for this flavor) is the platform's: a user's value
  // would hide it (the admin's token, the API's address).
  for (const auto& var : config.env_for(flavor->name)) {
    auto named = [&](const auto& other) { return other.first == var.name; };
    if (std::none_of(job.spec.env.begin(), job.spec.env.end(), named)) continue;
    const bool of_flavor = std::any_of(flavor->env.begin(), flavor->env.end(), [&](const PlatformEnvVar& v) { return v.name == var.name; });
    return invalid(fmt::format("environment variable '{}' is set by the platform for every job{}; it cannot be set with -e", var.name,
                               of_flavor ? fmt::format(" of flavor '{}'", flavor->name) : std::string{}));
  }
  job.spec.resources.cpus = flavor->cpus;
  job.spec.resources.memory = flavor->memory;
  job.spec.resources.shm = flavor->shm;

  std::chrono::seconds time = std::min(config.limits.default_time, flavor->max_time);
  if (!request.time.empty()) {
    auto parsed = parse_duration(request.time);
    if (!parsed || parsed->count() == 0)
      return invalid(fmt::format("time limit '{}' is not a duration; use e.g. 90s, 10m, 2h, 1d or HH:MM:SS", request.time));
    if (*parsed > flavor->max_time)
      return ErrorInfo{ErrorCode::LimitExceeded, fmt::format("time limit {} is over the maximum of flavor '{}' ({})", format_duration(*parsed),
                                                             flavor->name, format_duration(flavor->max_time))};
    time = *parsed;
  }
  job.spec.resources.time_limit = time.count();

  const int gpus = request.gpus.value_or(flavor->gpus);
  if (gpus < 0) return invalid("--gpus cannot be negative");
  if (gpus > flavor->gpus)
    return ErrorInfo{ErrorCode::LimitExceeded, fmt::format("flavor '{}' allows at most {} GPU{}; pick a GPU flavor with -r", flavor->name,
                                                           flavor->gpus, flavor->gpus == 1 ? "" : "s")};
  if (gpus > context.gpu_count)
    return ErrorInfo{ErrorCode::LimitExceeded, fmt::format("{} GPUs asked, but this machine has {}", gpus, context.gpu_count)};
  job.spec.resources.gpus = gpus;

  auto image = resolve_image(context.catalogue, request.image);
  if (!image) return image.error();
  job.spec.image = image->display();
  job.spec.image_id = image->image.id;

  const images::ImageHome* home = context.home ? context.home(job.spec.image_id) : nullptr;
  std::vector<Mount> mounts;
  if (context.mounts) {
    auto checked = context.mounts(submitter);
    if (!checked) return checked.error();
    mounts = std::move(*checked);
  }
  job.spec.mounts = job_mounts(home, std::move(mounts));
  if (home && !home->home.empty()) {
    job.spec.image_home = home->home;
    // HOME as the image's user has it (the submitter's own uid has no passwd entry there);
    // a user's -e HOME=... stays.
    if (std::none_of(job.spec.env.begin(), job.spec.env.end(), [](const EnvVar& var) { return var.first == "HOME"; }))
      job.spec.env.insert(job.spec.env.begin(), {"HOME", home->home});
  }
  // The submitter's groups, so group-shared mounts work inside the job as on the host.
  for (auto group : submitter.groups)
    if (group != submitter.gid) job.spec.groups.push_back(group);
  return job;
}

} // namespace jobman::daemon::policy
