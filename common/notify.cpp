#include "common/notify.hpp"

#include "common/errors.hpp"
#include "common/printable.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>

namespace jobman {

namespace {

constexpr std::array<std::string_view, 4> k_words{"ALL", "END", "FAIL", "TIMEOUT"};
// Slurm's --mail-type words that are not a job's end: refused with what to use instead.
constexpr std::array<std::string_view, 9> k_slurm_not_ends{"BEGIN", "REQUEUE", "INVALID_DEPEND", "STAGE_OUT", "TIME_LIMIT_90",
                                                           "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS", "FAIL_ON_REQUEUE"};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// The word as an error may quote it: at most 40 bytes, control characters escaped.
std::string quoted(std::string_view word) { return escape_controls(word.substr(0, std::min<std::size_t>(word.size(), 40))); }

} // namespace

std::vector<std::string> parse_notify_words(const std::vector<std::string>& items) {
  std::vector<std::string> typed;
  for (const auto& item : items) {
    std::size_t start = 0;
    for (;;) {
      const auto comma = item.find(',', start);
      typed.push_back(item.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (typed.size() > k_max_notify_words)
        throw Error(ErrorCode::InvalidArgument, fmt::format("--notify names more than {} words; use END, FAIL, TIMEOUT, ALL or NONE", k_max_notify_words));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  bool none = false;
  std::vector<std::string> words;
  for (const auto& word : typed) {
    const std::string w = upper(word);
    if (w.empty()) throw Error(ErrorCode::InvalidArgument, "--notify has an empty word; give a comma list such as END or FAIL,TIMEOUT");
    if (w == "NONE") {
      none = true;
      continue;
    }
    const std::string name = w == "TIME_LIMIT" ? "TIMEOUT" : w;
    if (std::find(k_words.begin(), k_words.end(), name) != k_words.end()) {
      if (std::find(words.begin(), words.end(), name) == words.end()) words.push_back(name);
      continue;
    }
    if (std::find(k_slurm_not_ends.begin(), k_slurm_not_ends.end(), w) != k_slurm_not_ends.end())
      throw Error(ErrorCode::InvalidArgument, fmt::format("--notify {}: jobman notifies only when a job ends; use END, FAIL, TIMEOUT, ALL or NONE", quoted(word)));
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("--notify: unknown word '{}'; use END (any end), FAIL (FAILED, TIMEOUT, OOM_KILLED, LOST), TIMEOUT, ALL or NONE",
                            quoted(word)));
  }
  if (none && !words.empty()) throw Error(ErrorCode::InvalidArgument, "--notify NONE cannot be combined with other words");
  std::vector<std::string> ordered;
  for (auto known : k_words)
    if (std::find(words.begin(), words.end(), known) != words.end()) ordered.emplace_back(known);
  return ordered;
}

bool notify_wants(const std::vector<std::string>& words, JobState state) {
  if (!is_terminal(state)) return false;
  for (const auto& word : words) {
    if (word == "ALL" || word == "END") return true;
    if (word == "FAIL" && state != JobState::Succeeded && state != JobState::Cancelled) return true;
    if (word == "TIMEOUT" && state == JobState::Timeout) return true;
  }
  return false;
}

std::vector<JobState> notify_states(const std::vector<std::string>& words) {
  std::vector<JobState> states;
  for (JobState s : {JobState::Succeeded, JobState::Failed, JobState::Cancelled, JobState::Timeout, JobState::OomKilled, JobState::Lost})
    if (notify_wants(words, s)) states.push_back(s);
  return states;
}

std::string join_notify_words(const std::vector<std::string>& words) { return fmt::format("{}", fmt::join(words, ",")); }

std::vector<std::string> split_notify_words(std::string_view text) {
  std::vector<std::string> words;
  while (!text.empty()) {
    const auto comma = text.find(',');
    if (comma != 0) words.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return words;
}

} // namespace jobman
