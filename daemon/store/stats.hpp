#pragma once
// Usage reports (`jobman stats`): ended jobs in a time window, tallied per user, flavor,
// image or end state, from the accounting table (migration 10: a narrow row per ended job,
// kept by triggers, outliving the job's own row). Read-only; runs on its own connection
// (store/report_thread.hpp), never on the daemon's.

#include "common/job.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace SQLite {
class Database;
}

namespace jobman::daemon::store {

enum class StatsKey { None, User, Flavor, Image, State };
std::optional<StatsKey> stats_key_from_string(std::string_view text); // "", "user", "flavor", "image", "state"
std::string_view to_string(StatsKey key);

struct StatsQuery {
  TimePoint since = 0; // jobs that ended at or after this (ms)...
  TimePoint until = 0; // ...and before this
  std::optional<std::uint32_t> uid; // nothing: every user's
  StatsKey by = StatsKey::None;
};

// One ended job, as much of it as a report needs.
struct StatsRow {
  std::string key; // the group it falls in ("" without --by)
  JobState state = JobState::Succeeded;
  std::optional<TimePoint> started_at;
  TimePoint ended_at = 0;
  std::optional<std::int64_t> cpu_ms;      // measured CPU time (user + system)
  std::optional<std::int64_t> peak_memory; // what it needed (needed_memory())
  double cpus = 0;                         // what its flavor gave
  int gpus = 0;                            // devices it was given
};

struct StatsGroup {
  std::string key;
  std::int64_t jobs = 0;
  std::map<JobState, std::int64_t> states;
  std::int64_t wall_ms = 0;          // from RUNNING to the end, summed
  std::int64_t cpu_ms = 0;           // measured, summed over the jobs that have it
  std::int64_t cpu_measured = 0;     // how many jobs have a CPU figure
  double cpu_allocated_ms = 0;       // the flavor's CPUs x wall time
  std::int64_t gpu_ms = 0;           // GPUs given x wall time
  std::vector<std::int64_t> peaks;   // measured peak memory of each job, sorted once finished
  // Nearest-rank percentile `p` (0-100] of `peaks`; nothing when none was measured.
  std::optional<std::int64_t> peak_percentile(double p) const;
};

struct StatsReport {
  std::vector<StatsGroup> groups; // by key; empty without jobs
  StatsGroup total;
};

// Adds up rows into groups, then finishes them into a report.
class StatsTally {
public:
  void add(const StatsRow& row);
  StatsReport finish() &&;

private:
  std::map<std::string, StatsGroup> m_groups;
  StatsGroup m_total;
};

// Runs `query` on `db` (a connection of its own). Throws SQLite::Exception as SQLite does
// (SQLITE_INTERRUPT when the connection was interrupted).
StatsReport run_stats(SQLite::Database& db, const StatsQuery& query);

} // namespace jobman::daemon::store
