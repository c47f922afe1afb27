#include "common/names.hpp"

#include <fmt/format.h>

namespace jobman {

namespace {
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
} // namespace

std::optional<std::string> job_name_problem(std::string_view name) {
  if (name.empty()) return "job name is empty";
  if (name.size() > 63) return fmt::format("job name is {} characters long; at most 63 are allowed", name.size());
  if (!is_alpha(name.front())) return fmt::format("job name '{}' must start with a letter", name);
  for (char c : name) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != '-')
      return fmt::format("job name '{}' may contain only letters, digits, '_', '.' and '-'", name);
  }
  return std::nullopt;
}

bool is_valid_env_name(std::string_view name) {
  if (name.empty() || !(is_alpha(name.front()) || name.front() == '_')) return false;
  for (char c : name)
    if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
  return true;
}

bool is_gpu_env_name(std::string_view name) {
  if (name.starts_with("NVIDIA_")) return true;
  for (std::string_view gpu : {"CUDA_VISIBLE_DEVICES", "CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY", "ROCR_VISIBLE_DEVICES",
                               "HIP_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ZE_AFFINITY_MASK"})
    if (name == gpu) return true;
  return false;
}

bool is_job_id(std::string_view text) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (!is_digit(c)) return false;
  return true;
}

} // namespace jobman
