#include "common/platform_env.hpp"

#include "common/names.hpp"
#include "common/printable.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>

namespace jobman {

namespace {
constexpr std::array<std::string_view, 5> k_placeholders{"user", "uid", "job_id", "job_name", "flavor"};

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Walks `value`: `literal(text)` for plain text and escaped braces, `placeholder(name)` for
// each {name}. Returns why it is malformed, or nothing.
template <typename Literal, typename Placeholder>
std::optional<std::string> walk(std::string_view value, Literal&& literal, Placeholder&& placeholder) {
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t brace = value.find_first_of("{}", i);
    if (brace == std::string_view::npos) {
      literal(value.substr(i));
      break;
    }
    literal(value.substr(i, brace - i));
    if (brace + 1 < value.size() && value[brace + 1] == value[brace]) { // {{ or }}
      literal(value.substr(brace, 1));
      i = brace + 2;
      continue;
    }
    if (value[brace] == '}') return fmt::format("a '}}' at byte {} closes nothing (write '}}}}' for a brace)", brace);
    const std::size_t close = value.find_first_of("{}", brace + 1);
    if (close == std::string_view::npos || value[close] == '{')
      return fmt::format("the '{{' at byte {} is not closed (write '{{{{' for a brace)", brace);
    const std::string_view name = value.substr(brace + 1, close - brace - 1);
    if (std::find(k_placeholders.begin(), k_placeholders.end(), name) == k_placeholders.end())
      return fmt::format("unknown placeholder {{{}}}; use {{user}}, {{uid}}, {{job_id}}, {{job_name}} or {{flavor}} ('{{{{' for a brace)",
                         escape_controls(name));
    placeholder(name);
    i = close + 1;
  }
  return std::nullopt;
}

std::optional<std::string> text_problem(std::string_view value) {
  if (value.size() > k_max_platform_env_value) return fmt::format("is {} bytes long; at most {}", value.size(), k_max_platform_env_value);
  if (value.find('\0') != std::string_view::npos) return "must not contain a NUL byte";
  if (value.find_first_of("\n\r") != std::string_view::npos) return "must not contain a line break";
  if (!valid_utf8(value)) return "must be valid UTF-8";
  return std::nullopt;
}
} // namespace

std::optional<std::string> platform_env_name_problem(std::string_view name) {
  if (!is_valid_env_name(name)) return "is not a valid variable name: use letters, digits and '_', not starting with a digit";
  if (name.size() > k_max_platform_env_name) return fmt::format("is longer than {} bytes", k_max_platform_env_name);
  if (name.starts_with("JOBMAN_")) return "names starting with JOBMAN_ are jobman's own (JOBMAN_JOB_ID, JOBMAN_JOB_NAME, JOBMAN_USER)";
  if (is_gpu_env_name(name)) return "steers GPU access, which jobman sets from each job's allocation";
  // The engine client (podman, docker) gets the values in its own environment and reads
  // these for itself: they would change how it runs, not only what the job sees.
  for (std::string_view exact : {"PATH", "HOME", "TMPDIR", "NOTIFY_SOCKET", "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINER_SSHKEY",
                                 "CONTAINER_PASSPHRASE", "STORAGE_DRIVER", "STORAGE_OPTS", "REGISTRY_AUTH_FILE", "GODEBUG", "GOGC",
                                 "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK"})
    if (name == exact)
      return "is read by the container engine's client itself, which jobmand hands the values to in its environment; set it in the image";
  for (std::string_view prefix : {"LD_", "XDG_", "DOCKER_", "CONTAINERS_", "PODMAN_", "BUILDAH_"})
    if (name.starts_with(prefix))
      return fmt::format("names starting with {} are read by the container engine's client or the dynamic loader, which jobmand hands "
                         "the values to in their environment; set it in the image",
                         prefix);
  return std::nullopt;
}

std::optional<std::string> platform_env_value_problem(std::string_view value) {
  if (auto problem = text_problem(value)) return problem;
  return walk(value, [](std::string_view) {}, [](std::string_view) {});
}

PlatformEnvFields platform_env_fields(const Job& job) {
  return {job.user, std::to_string(job.uid), std::to_string(job.id), job.spec.name, job.spec.flavor};
}

std::string expand_platform_env(std::string_view value, const PlatformEnvFields& fields) {
  std::string out;
  walk(
    value, [&](std::string_view text) { out.append(text); },
    [&](std::string_view name) {
      if (name == "user") out += fields.user;
      else if (name == "uid") out += fields.uid;
      else if (name == "job_id") out += fields.job_id;
      else if (name == "job_name") out += fields.job_name;
      else out += fields.flavor;
    });
  return out;
}

std::vector<PlatformEnvVar> resolve_platform_env(const Config& config, const Job& job) {
  std::vector<PlatformEnvVar> vars = config.env_for(job.spec.flavor);
  const PlatformEnvFields fields = platform_env_fields(job);
  for (auto& var : vars) var.value = expand_platform_env(var.value, fields);
  return vars;
}

std::optional<std::string> resolved_env_problem(const std::vector<PlatformEnvVar>& resolved) {
  for (const auto& var : resolved)
    if (auto problem = text_problem(var.value))
      return fmt::format("the platform's environment variable {}, its placeholders filled in for this job, {}", var.name, *problem);
  return std::nullopt;
}

std::string shown_value(const PlatformEnvVar& var) { return var.secret ? std::string(k_secret_shown) : var.value; }

} // namespace jobman
