#pragma once
// How the CLI prints: aligned tables for people, JSON for scripts.

#include "common/job.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace jobman::cli {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Prints the columns aligned, separated by two spaces.
  void print() const;
};

void print_json(const nlohmann::json& value);
// "2026-11-21 18:03:04" in local time.
std::string format_time(TimePoint at);
// Run time of a job (so far, for running jobs): "1m 5s".
std::string format_elapsed(const Job& job);
// Whether stdout is a terminal and NO_COLOR is not set.
bool use_color();

} // namespace jobman::cli
