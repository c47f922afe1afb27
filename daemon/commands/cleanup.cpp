#include "common/duration.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"
#include "daemon/logs/log_file.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <set>

namespace jobman::daemon::commands {

namespace {
constexpr int k_batch = 5000; // rows per transaction, so the daemon stays responsive

} // namespace

asio::awaitable<json> cleanup(CommandContext& ctx) {
  const std::string older_than = ctx.args.optional_string("older_than");
  const bool dry_run = ctx.args.optional_bool("dry_run");
  ctx.args.finish();
  Daemon& d = ctx.daemon;
  std::chrono::seconds age = std::chrono::hours(24) * d.config.retention.days;
  if (!older_than.empty()) {
    auto parsed = parse_duration(older_than);
    if (!parsed) throw Error(ErrorCode::InvalidArgument, fmt::format("--older-than '{}' is not a duration; use e.g. 30d, 12h", older_than));
    // In milliseconds below: past ~292,000 years that overflows (found by fuzzing).
    if (*parsed > std::chrono::hours(24) * 36500)
      throw Error(ErrorCode::InvalidArgument, fmt::format("--older-than '{}' is more than 100 years", older_than));
    age = *parsed;
  }

  // Containers of ended (or forgotten) jobs that are still on the engine.
  json containers = json::array();
  auto names = co_await d.backend->list_containers(d.store.instance());
  if (!names) throw Error(names.error().code, names.error().message);
  std::vector<Job> leftovers;
  for (const auto& name : *names) {
    auto id = job_of_container(name, d.store.instance());
    auto job = id ? d.store.get(*id) : std::nullopt;
    if (job && !is_terminal(job->state)) continue;
    containers.push_back(name);
    Job stub;
    stub.container = name;
    leftovers.push_back(job.value_or(stub));
  }
  if (!dry_run)
    for (const auto& job : leftovers) co_await d.backend->remove(job);

  // Rows, events and logs of jobs that ended before the cut-off.
  const TimePoint before = now_ms() - static_cast<TimePoint>(age.count()) * 1000;
  std::int64_t jobs_removed = 0, logs_removed = 0, log_bytes = 0;
  std::set<JobId> seen;
  for (;;) {
    auto ids = d.store.finished_before(before, k_batch);
    std::erase_if(ids, [&](JobId id) { return seen.contains(id); }); // dry runs see the same rows again
    if (ids.empty()) break;
    for (JobId id : ids) {
      seen.insert(id);
      std::error_code ec;
      const auto path = d.scheduler.log_path(id);
      if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec))) continue;
      log_bytes += logs::log_data_bytes(path); // a log cut while its job ran may still have a hole
      ++logs_removed;
      if (!dry_run) {
        std::filesystem::remove(path, ec);
        std::filesystem::remove(path + ".compact", ec); // left if jobmand died while rewriting it
      }
    }
    jobs_removed += static_cast<std::int64_t>(ids.size());
    if (!dry_run) d.store.remove_jobs(ids);
  }
  // Accounting (what `jobman stats` reads) outlives the rows: retention.accounting_days.
  const TimePoint accounting_before = now_ms() - static_cast<TimePoint>(d.config.retention.accounting_days) * 86400 * 1000;
  std::int64_t accounting_removed = 0;
  if (dry_run) accounting_removed = d.store.count_accounting_before(accounting_before);
  else
    for (std::int64_t n; (n = d.store.remove_accounting_before(accounting_before, k_batch)) > 0;) accounting_removed += n;
  std::int64_t db_bytes = 0;
  if (!dry_run && jobs_removed + accounting_removed > 0) {
    std::error_code ec;
    const std::string db = d.config.state_dir + "/jobman.db";
    auto before_size = std::filesystem::file_size(db, ec);
    d.store.vacuum();
    auto after_size = std::filesystem::file_size(db, ec);
    if (!ec && before_size > after_size) db_bytes = static_cast<std::int64_t>(before_size - after_size);
  }
  log_info("cleanup by {}{}: {} containers, {} jobs older than {}, {} logs ({} bytes), {} accounting rows older than {} days, "
           "database {} bytes smaller",
           ctx.peer.user, dry_run ? " (dry run)" : "", containers.size(), jobs_removed, format_duration(age), logs_removed, log_bytes,
           accounting_removed, d.config.retention.accounting_days, db_bytes);
  co_return json{{"dry_run", dry_run},
                 {"older_than", age.count()},
                 {"containers_removed", containers},
                 {"jobs_removed", jobs_removed},
                 {"logs_removed", logs_removed},
                 {"accounting_removed", accounting_removed},
                 {"bytes_freed", log_bytes + db_bytes}};
}

} // namespace jobman::daemon::commands
