#pragma once
// Validation of names users type: job names, environment variable names.

#include <optional>
#include <string>
#include <string_view>

namespace jobman {

// Returns why `name` is not a valid job name, or nothing when it is.
// Valid: 1-63 chars of [A-Za-z0-9_.-], starting with a letter (so it never looks like an id).
std::optional<std::string> job_name_problem(std::string_view name);

// Whether `name` matches [A-Za-z_][A-Za-z0-9_]*.
bool is_valid_env_name(std::string_view name);

// Whether `name` steers GPU access (NVIDIA_*, CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, ...):
// jobman sets those from a job's allocation, so neither users nor the admin's `env` may.
bool is_gpu_env_name(std::string_view name);

// Whether `text` is all decimal digits (a job id rather than a name).
bool is_job_id(std::string_view text);

} // namespace jobman
