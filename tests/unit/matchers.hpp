#pragma once
// Catch2 helpers shared by the unit tests: readable printing of jobman enums and matchers
// that check an error's code and that its message names what was wrong.

#include "common/errors.hpp"
#include "common/job.hpp"

#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <vector>

namespace Catch {
template <> struct StringMaker<jobman::ErrorCode> {
  static std::string convert(jobman::ErrorCode code) { return std::string(jobman::to_string(code)); }
};
template <> struct StringMaker<jobman::JobState> {
  static std::string convert(jobman::JobState state) { return std::string(jobman::to_string(state)); }
};
template <> struct StringMaker<jobman::ErrorInfo> {
  static std::string convert(const jobman::ErrorInfo& info) {
    return std::string(jobman::to_string(info.code)) + ": " + info.message;
  }
};
} // namespace Catch

namespace jobman::test {

inline bool error_matches(const ErrorInfo& info, ErrorCode code, const std::vector<std::string>& parts) {
  if (info.code != code) return false;
  for (const auto& part : parts)
    if (info.message.find(part) == std::string::npos) return false;
  return true;
}

inline std::string describe_error(ErrorCode code, const std::vector<std::string>& parts) {
  std::string out = "is an error with code " + std::string(to_string(code)) + " whose message contains";
  for (const auto& part : parts) out += " \"" + part + "\"";
  return out;
}

// Matches a thrown jobman::Error with `code` whose message contains every one of `parts`.
class ErrorMatcher : public Catch::MatcherBase<Error> {
public:
  ErrorMatcher(ErrorCode code, std::vector<std::string> parts) : m_code(code), m_parts(std::move(parts)) {}
  bool match(const Error& error) const override { return error_matches(error.info(), m_code, m_parts); }
  std::string describe() const override { return describe_error(m_code, m_parts); }

private:
  ErrorCode m_code;
  std::vector<std::string> m_parts;
};

// Matches an ErrorInfo (e.g. Result<T>::error()) with `code` whose message contains `parts`.
class ErrorInfoMatcher : public Catch::MatcherBase<ErrorInfo> {
public:
  ErrorInfoMatcher(ErrorCode code, std::vector<std::string> parts) : m_code(code), m_parts(std::move(parts)) {}
  bool match(const ErrorInfo& info) const override { return error_matches(info, m_code, m_parts); }
  std::string describe() const override { return describe_error(m_code, m_parts); }

private:
  ErrorCode m_code;
  std::vector<std::string> m_parts;
};

inline ErrorMatcher IsError(ErrorCode code, std::initializer_list<std::string> parts = {}) { return {code, parts}; }
inline ErrorInfoMatcher IsErrorInfo(ErrorCode code, std::initializer_list<std::string> parts = {}) { return {code, parts}; }

} // namespace jobman::test
