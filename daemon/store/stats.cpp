#include "daemon/store/stats.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace jobman::daemon::store {

std::optional<StatsKey> stats_key_from_string(std::string_view text) {
  if (text.empty()) return StatsKey::None;
  if (text == "user") return StatsKey::User;
  if (text == "flavor") return StatsKey::Flavor;
  if (text == "image") return StatsKey::Image;
  if (text == "state") return StatsKey::State;
  return std::nullopt;
}

std::string_view to_string(StatsKey key) {
  switch (key) {
  case StatsKey::None: return "";
  case StatsKey::User: return "user";
  case StatsKey::Flavor: return "flavor";
  case StatsKey::Image: return "image";
  case StatsKey::State: return "state";
  }
  return "";
}

std::optional<std::int64_t> StatsGroup::peak_percentile(double p) const {
  if (peaks.empty()) return std::nullopt;
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(peaks.size())));
  rank = std::clamp<std::size_t>(rank, 1, peaks.size());
  return peaks[rank - 1];
}

namespace {
void add_to(StatsGroup& group, const StatsRow& row) {
  ++group.jobs;
  ++group.states[row.state];
  const std::int64_t wall = row.started_at ? std::max<std::int64_t>(0, row.ended_at - *row.started_at) : 0;
  group.wall_ms += wall;
  if (row.cpu_ms) {
    group.cpu_ms += std::max<std::int64_t>(0, *row.cpu_ms);
    ++group.cpu_measured;
  }
  group.cpu_allocated_ms += std::max(0.0, row.cpus) * static_cast<double>(wall);
  group.gpu_ms += static_cast<std::int64_t>(std::max(0, row.gpus)) * wall;
  if (row.peak_memory) group.peaks.push_back(*row.peak_memory);
}
} // namespace

void StatsTally::add(const StatsRow& row) {
  auto it = m_groups.find(row.key);
  if (it == m_groups.end()) {
    it = m_groups.emplace(row.key, StatsGroup{}).first;
    it->second.key = row.key;
  }
  add_to(it->second, row);
  add_to(m_total, row);
}

StatsReport StatsTally::finish() && {
  StatsReport report;
  for (auto& [key, group] : m_groups) {
    std::sort(group.peaks.begin(), group.peaks.end());
    report.groups.push_back(std::move(group));
  }
  std::sort(m_total.peaks.begin(), m_total.peaks.end());
  report.total = std::move(m_total);
  return report;
}

StatsReport run_stats(SQLite::Database& db, const StatsQuery& query) {
  const char* key = "''";
  switch (query.by) {
  case StatsKey::None: key = "''"; break;
  case StatsKey::User: key = "user"; break;
  case StatsKey::Flavor: key = "flavor"; break;
  case StatsKey::Image: key = "image"; break;
  case StatsKey::State: key = "state"; break;
  }
  // The accounting rows of migration 10: every ended job, deleted or purged ones too (until
  // retention.accounting_days), narrow enough to read a million of in a second or two.
  SQLite::Statement q(db, fmt::format("SELECT {}, state, started_at, ended_at, cpu_ms, peak, cpus, gpus FROM job_accounting "
                                      "WHERE ended_at >= :since AND ended_at < :until{}",
                                      key, query.uid ? " AND uid = :uid" : ""));
  q.bind(":since", query.since);
  q.bind(":until", query.until);
  if (query.uid) q.bind(":uid", static_cast<std::int64_t>(*query.uid));
  StatsTally tally;
  StatsRow row;
  while (q.executeStep()) {
    row.key = q.getColumn(0).getString();
    row.state = job_state_from_string(q.getColumn(1).getString()).value_or(JobState::Lost);
    row.started_at = q.getColumn(2).isNull() ? std::nullopt : std::optional<TimePoint>(q.getColumn(2).getInt64());
    row.ended_at = q.getColumn(3).getInt64();
    row.cpu_ms = q.getColumn(4).isNull() ? std::nullopt : std::optional<std::int64_t>(q.getColumn(4).getInt64());
    row.peak_memory = q.getColumn(5).isNull() ? std::nullopt : std::optional<std::int64_t>(q.getColumn(5).getInt64());
    row.cpus = q.getColumn(6).getDouble();
    row.gpus = q.getColumn(7).getInt();
    tally.add(row);
  }
  return std::move(tally).finish();
}

} // namespace jobman::daemon::store
