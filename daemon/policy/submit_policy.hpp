#pragma once
// Turns a submit request into a validated job, or an error that says what is wrong.
// Pure: config, the submitter and the catalogue in, a Job (without id) out.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"
#include "daemon/policy/image_catalogue.hpp"

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
};

struct Submitter {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
};

constexpr std::size_t k_max_args = 4096;
constexpr std::size_t k_max_env = 1024;
constexpr std::size_t k_max_command_bytes = 256 * 1024;

// Validates `request` and returns the job to queue (id 0, argv empty).
Result<Job> build_job(const Catalogue& catalogue, const Submitter& submitter, const SubmitRequest& request);

} // namespace jobman::daemon::policy
