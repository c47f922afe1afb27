#pragma once
// Error types shared by the daemon, the client and the wire protocol.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jobman {

// Stable error codes. Their spelling is part of the wire protocol (doc/protocol.md).
enum class ErrorCode {
  BadRequest,        // malformed frame, unknown op, wrong argument types
  UnsupportedVersion,
  FrameTooLarge,
  InvalidArgument,   // well-formed request with a value the policy refuses
  ImageNotFound,
  ImageRejected,     // image exists but is not in the catalogue
  JobNotFound,
  Ambiguous,         // a job name matches jobs of several users
  PermissionDenied,
  Conflict,          // e.g. job name already in use
  LimitExceeded,
  EngineError,       // docker/podman failed
  Unavailable,       // daemon cannot reach the engine, shutting down, ...
  Internal,
};

std::string_view to_string(ErrorCode code);
// Inverse of to_string; unknown spellings map to Internal.
ErrorCode error_code_from_string(std::string_view text);

// An error with a stable code and a message that says what was wrong and what to do.
struct ErrorInfo {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

// Thrown for errors that should reach the user as they are.
class Error : public std::runtime_error {
public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
  ErrorCode code() const { return m_code; }
  ErrorInfo info() const { return {m_code, what()}; }

private:
  ErrorCode m_code;
};

// Value-or-error for expected failures (engine calls, connects), so callers cannot ignore them.
template <typename T> class Result {
public:
  Result(T value) : m_v(std::move(value)) {}
  Result(ErrorInfo error) : m_v(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(m_v); }
  explicit operator bool() const { return ok(); }
  T& value() {
    if (!ok()) throw Error(error().code, error().message);
    return std::get<T>(m_v);
  }
  const T& value() const {
    if (!ok()) throw Error(error().code, error().message);
    return std::get<T>(m_v);
  }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const T& operator*() const { return value(); }
  const T* operator->() const { return &value(); }
  const ErrorInfo& error() const { return std::get<ErrorInfo>(m_v); }

private:
  std::variant<T, ErrorInfo> m_v;
};

struct Unit {};

} // namespace jobman
