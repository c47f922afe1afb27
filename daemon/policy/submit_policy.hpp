#pragma once
// Turns a submit request into a validated job, or an error that says what is wrong.
// Pure: config, the submitter and the catalogue in, a Job (without id) out.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/images/image_home.hpp"
#include "daemon/policy/image_catalogue.hpp"
#include "daemon/policy/mount_policy.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace jobman::daemon::policy {

// What the client asked for, before validation.
struct SubmitRequest {
  std::string image;
  std::string name;
  std::vector<std::string> args;
  bool replace_entrypoint = false;
  std::vector<std::string> env; // "KEY=VALUE"
  std::string flavor;           // empty: default_flavor
  std::string time;             // wall-time limit as typed ("90s", "2h", "HH:MM:SS"); empty: default
  std::optional<int> gpus;      // empty: the flavor's
};

// What build_job needs besides the request.
struct SubmitContext {
  const Config& config;
  const Catalogue& catalogue;
  int gpu_count = 0; // GPUs on this machine
  // Expands and checks config.mounts for a submitter (resolve_mounts, or a stub in tests).
  std::function<Result<std::vector<Mount>>(const Submitter&)> mounts;
  // The image's home and writable copies, by image id (ImageHomes, probed before), or nothing.
  std::function<const images::ImageHome*(const std::string& image_id)> home;
};

constexpr std::size_t k_max_args = 4096;
constexpr std::size_t k_max_env = 1024;
constexpr std::size_t k_max_command_bytes = 256 * 1024;

// Why a user may not set the environment variable `key`: JOBMAN_*, and the variables that
// steer GPU access (NVIDIA_*, CUDA_VISIBLE_DEVICES, ...). Nothing if they may.
std::optional<std::string> reserved_env_problem(const std::string& key);

// The image's writable copies (first), then `mounts` with a leading {image_home} in their
// targets replaced; a copy the admin mounts something at itself is left out.
std::vector<Mount> job_mounts(const images::ImageHome* home, std::vector<Mount> mounts);

// Validates `request` and returns the job to queue (id 0, argv empty).
Result<Job> build_job(const SubmitContext& context, const Submitter& submitter, const SubmitRequest& request);

} // namespace jobman::daemon::policy
