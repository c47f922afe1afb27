#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"
#include "daemon/logs/log_file.hpp"
#include "daemon/logs/log_watch.hpp"

#include <optional>

namespace jobman::daemon::commands {

namespace {
constexpr std::size_t k_chunk_bytes = 256 * 1024;
} // namespace

asio::awaitable<json> logs(CommandContext& ctx) {
  // Every argument is checked before the job is looked up: a bad request says what is bad.
  const std::string reference = ctx.args.required_string("job");
  const bool follow = ctx.args.optional_bool("follow");
  const std::int64_t tail = ctx.args.optional_int("tail", 0, 0, 100'000'000);
  ctx.args.finish();
  Job job = find_job(ctx.daemon.store, ctx.peer, reference);

  const std::string path = ctx.daemon.scheduler.log_path(job.id);
  // Watched before it is opened: nothing written in between is missed.
  std::optional<logs::LogWatch::Interest> interest;
  if (follow && !is_terminal(job.state)) interest.emplace(ctx.daemon.log_watch, job.id, path);
  FileDescriptor file = logs::open_log(path);
  std::optional<logs::LogReader> reader;
  if (file.get() >= 0) reader.emplace(file.get(), tail > 0 ? logs::tail_offset(file.get(), tail) : 0);
  for (;;) {
    // Read before checking the state, so output written just before the end is not missed.
    bool ended = is_terminal(job.state);
    while (reader) {
      std::string data = reader->next(k_chunk_bytes);
      if (data.empty()) break;
      const json event = {{"data", std::move(data)}};
      co_await ctx.emit(event);
    }
    if (!follow || ended) break;
    // New output (inotify), a state change, or the poll, whichever comes first: read on.
    co_await ctx.daemon.watch.changed(job.id, interest->poll(), true);
    job = ctx.daemon.store.get(job.id).value_or(job);
    if (!reader) { // the log appears when the job starts
      interest->retry();
      if ((file = logs::open_log(path)).get() >= 0) reader.emplace(file.get(), 0);
    }
  }
  co_return json{{"state", to_string(job.state)}, {"exit_code", job.exit_code ? json(*job.exit_code) : json(nullptr)}};
}

} // namespace jobman::daemon::commands
