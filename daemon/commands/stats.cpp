#include "common/printable.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

#include <charconv>
#include <fmt/format.h>
#include <pwd.h>
#include <vector>

namespace jobman::daemon::commands {

namespace {
constexpr TimePoint k_default_window = 30LL * 24 * 3600 * 1000; // without since: the last 30 days
constexpr TimePoint k_latest_time = 253402300799999;            // 9999-12-31T23:59:59.999Z
constexpr JobState k_end_states[] = {JobState::Succeeded, JobState::Failed,    JobState::Cancelled,
                                     JobState::Timeout,   JobState::OomKilled, JobState::Lost};

// `text` (a user name, or a uid in digits for accounts that are gone) as a uid.
std::uint32_t uid_of(const std::string& text) {
  std::uint32_t uid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (ec == std::errc{} && end == text.data() + text.size()) return uid;
  if (text.size() <= 256) {
    passwd pw{}, *found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwnam_r(text.c_str(), &pw, buffer.data(), buffer.size(), &found) == 0 && found) return found->pw_uid;
  }
  throw Error(ErrorCode::InvalidArgument,
              fmt::format("no user named '{}' on this host (--user takes a user name, or a uid)", escape_controls(std::string_view(text).substr(0, 64))));
}

json group_to_json(const store::StatsGroup& group) {
  constexpr double k_hour_ms = 3600.0 * 1000.0;
  json states = json::object();
  for (JobState state : k_end_states) {
    auto it = group.states.find(state);
    states[std::string(to_string(state))] = it == group.states.end() ? 0 : it->second;
  }
  auto percentile = [&](double p) -> json {
    auto value = group.peak_percentile(p);
    return value ? json(*value) : json(nullptr);
  };
  return {{"key", group.key},
          {"jobs", group.jobs},
          {"states", std::move(states)},
          {"wall_hours", static_cast<double>(group.wall_ms) / k_hour_ms},
          {"cpu_hours", static_cast<double>(group.cpu_ms) / k_hour_ms},
          {"cpu_measured_jobs", group.cpu_measured},
          {"cpu_hours_allocated", group.cpu_allocated_ms / k_hour_ms},
          {"gpu_hours", static_cast<double>(group.gpu_ms) / k_hour_ms},
          {"peak_memory",
           {{"measured_jobs", group.peaks.size()}, {"p50", percentile(50)}, {"p90", percentile(90)}, {"p99", percentile(99)},
            {"max", percentile(100)}}}};
}
} // namespace

asio::awaitable<json> stats(CommandContext& ctx) {
  const TimePoint now = now_ms();
  store::StatsQuery query;
  query.until = ctx.args.optional_int("until", now + 1, 0, k_latest_time);
  query.since = ctx.args.optional_int("since", std::max<TimePoint>(0, query.until - k_default_window), 0, k_latest_time);
  const std::string user = ctx.args.optional_string("user");
  const std::string by = ctx.args.optional_string("by");
  ctx.args.finish();
  if (query.since > query.until)
    throw Error(ErrorCode::InvalidArgument, "--since is after --until: the report's window would be empty the wrong way round");
  const auto key = store::stats_key_from_string(by);
  if (!key)
    throw Error(ErrorCode::InvalidArgument, fmt::format("cannot group by '{}'; --by takes user, flavor, image or state", escape_controls(std::string_view(by).substr(0, 64))));
  query.by = *key;
  if (!user.empty()) query.uid = uid_of(user);
  else if (!ctx.peer.admin) query.uid = ctx.peer.uid;
  if (query.uid && *query.uid != ctx.peer.uid && !ctx.peer.admin)
    throw Error(ErrorCode::PermissionDenied, "other users' figures are for root and the admin group; without --user you see your own");

  const store::StatsReport report = co_await ctx.daemon.reports.stats(ctx.peer.uid, query);
  json groups = json::array();
  for (const auto& group : report.groups) groups.push_back(group_to_json(group));
  co_return json{{"since", query.since},
                 {"until", query.until},
                 {"by", to_string(query.by)},
                 {"uid", query.uid ? json(*query.uid) : json(nullptr)},
                 {"groups", std::move(groups)},
                 {"total", group_to_json(report.total)}};
}

} // namespace jobman::daemon::commands
