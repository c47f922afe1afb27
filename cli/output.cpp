#include "cli/output.hpp"

#include "common/duration.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fmt/format.h>
#include <iostream>
#include <string_view>
#include <unistd.h>

namespace jobman::cli {

void Table::print() const {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], visible_width(row[i]));
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - visible_width(row[i]) + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

std::string format_time(TimePoint at) {
  if (at <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  ::localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

std::string format_elapsed(const Job& job) {
  if (!job.started_at) return "-";
  TimePoint end = job.ended_at.value_or(now_ms());
  return format_duration(std::chrono::seconds((end - *job.started_at) / 1000));
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

bool use_color() {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return stdout_is_tty() && !(no_color && *no_color) && !(term && std::string_view(term) == "dumb");
}

std::string paint_state(JobState state) {
  std::string text(to_string(state));
  if (!use_color()) return text;
  const char* color = "";
  switch (state) {
  case JobState::Succeeded: color = "32"; break;
  case JobState::Failed:
  case JobState::OomKilled:
  case JobState::Timeout:
  case JobState::Lost: color = "31"; break;
  case JobState::Queued:
  case JobState::Starting: color = "33"; break;
  case JobState::Running: color = "36"; break;
  case JobState::Cancelled: color = "2"; break;
  }
  return fmt::format("\x1b[{}m{}\x1b[0m", color, text);
}

std::size_t visible_width(const std::string& text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      while (i < text.size() && text[i] != 'm') ++i; // a CSI color sequence
      continue;
    }
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++width; // count UTF-8 characters, not bytes
  }
  return width;
}

std::string slots_used(int running, int slots) { return slots > 0 ? fmt::format("{}/{}", running, slots) : std::string("-"); }

void print_platform_env(const nlohmann::json& reply, std::string_view heading) {
  const auto it = reply.find("platform_env");
  if (it == reply.end() || !it->is_array() || it->empty()) return;
  std::cout << heading << "\n";
  for (const auto& var : *it) {
    if (!var.is_object()) continue;
    std::cout << fmt::format("  {}={}{}\n", var.value("name", ""), var.value("value", ""), var.value("secret", false) ? " (secret)" : "");
  }
}

} // namespace jobman::cli
