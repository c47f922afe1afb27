#include "common/errors.hpp"

#include <array>

namespace jobman {

namespace {
constexpr std::array k_names{
  std::pair{ErrorCode::BadRequest, std::string_view{"BAD_REQUEST"}},
  std::pair{ErrorCode::UnsupportedVersion, std::string_view{"UNSUPPORTED_VERSION"}},
  std::pair{ErrorCode::FrameTooLarge, std::string_view{"FRAME_TOO_LARGE"}},
  std::pair{ErrorCode::InvalidArgument, std::string_view{"INVALID_ARGUMENT"}},
  std::pair{ErrorCode::ImageNotFound, std::string_view{"IMAGE_NOT_FOUND"}},
  std::pair{ErrorCode::ImageRejected, std::string_view{"IMAGE_REJECTED"}},
  std::pair{ErrorCode::JobNotFound, std::string_view{"JOB_NOT_FOUND"}},
  std::pair{ErrorCode::Ambiguous, std::string_view{"AMBIGUOUS"}},
  std::pair{ErrorCode::PermissionDenied, std::string_view{"PERMISSION_DENIED"}},
  std::pair{ErrorCode::Conflict, std::string_view{"CONFLICT"}},
  std::pair{ErrorCode::LimitExceeded, std::string_view{"LIMIT_EXCEEDED"}},
  std::pair{ErrorCode::EngineError, std::string_view{"ENGINE_ERROR"}},
  std::pair{ErrorCode::Unavailable, std::string_view{"UNAVAILABLE"}},
  std::pair{ErrorCode::Internal, std::string_view{"INTERNAL"}},
};
} // namespace

std::string_view to_string(ErrorCode code) {
  for (const auto& [c, name] : k_names)
    if (c == code) return name;
  return "INTERNAL";
}

ErrorCode error_code_from_string(std::string_view text) {
  for (const auto& [c, name] : k_names)
    if (name == text) return c;
  return ErrorCode::Internal;
}

} // namespace jobman
