#pragma once
// How the CLI prints: aligned tables for people, JSON for scripts.

#include "common/job.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::cli {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Prints the columns aligned, separated by two spaces.
  void print() const;
};

void print_json(const nlohmann::json& value);
// The platform's environment a reply carries (`platform_env` of details and --dry-run), one
// "NAME=VALUE" a line after `heading` (a secret's value is *** already); nothing if none.
void print_platform_env(const nlohmann::json& reply, std::string_view heading);
// "2026-11-21 18:03:04" in local time.
std::string format_time(TimePoint at);
// Run time of a job (so far, for running jobs): "1m 5s".
std::string format_elapsed(const Job& job);
// Whether stdout is a terminal (progress lines go there only then).
bool stdout_is_tty();
// Whether to color stdout: a terminal, NO_COLOR unset or empty, TERM not "dumb".
bool use_color();
// `state` as text, colored by how the job is doing when use_color(): green SUCCEEDED, red
// FAILED/OOM_KILLED/TIMEOUT/LOST, yellow QUEUED/STARTING, cyan RUNNING, dim CANCELLED.
std::string paint_state(JobState state);
// A flavor's slots as "used/total" ("3/4"); "-" when the flavor has no cap of its own.
std::string slots_used(int running, int slots);
// Columns printed by `Table`, ignoring color escapes: the width a terminal shows.
std::size_t visible_width(const std::string& text);

} // namespace jobman::cli
