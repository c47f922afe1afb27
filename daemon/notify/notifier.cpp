#include "daemon/notify/notifier.hpp"

#include "common/file_descriptor.hpp"
#include "common/notify.hpp"
#include "daemon/log.hpp"
#include "daemon/notify/hook.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

namespace jobman::daemon::notify {

namespace {

// `text` in an anonymous memory file, at its start: the hook's stdin. A file rather than a
// pipe: the daemon writes it whole now and never waits on a hook that does not read.
FileDescriptor memory_file(const std::string& text) {
  FileDescriptor fd(::memfd_create("jobman-notify", MFD_CLOEXEC));
  if (fd.get() < 0) return fd;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FileDescriptor();
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return FileDescriptor();
  return fd;
}

} // namespace

Notifier::Notifier(asio::any_io_executor executor, const Config& config, store::JobStore& store, engine::CommandRunner& runner)
  : m_executor(std::move(executor)), m_config(config), m_store(store), m_runner(runner) {}

bool Notifier::wanted(const Job& job) const {
  if (m_config.notify.command.empty() || !is_terminal(job.state) || !notify_wants(job.spec.notify, job.state)) return false;
  const auto& states = m_config.notify.states;
  return std::find(states.begin(), states.end(), to_string(job.state)) != states.end();
}

void Notifier::job_ended(const Job& job) {
  if (job.spec.notify.empty() || m_shutting_down || !wanted(job)) return;
  enqueue(job);
}

void Notifier::recover() {
  if (m_config.notify.command.empty()) return;
  // Said once at start; each run that fails for it says so again.
  if (::access(m_config.notify.command.front().c_str(), X_OK) != 0)
    log_warn("notify.command {}: {}; notifications will fail until it is installed", m_config.notify.command.front(), std::strerror(errno));
  try {
    const TimePoint since = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(k_recovery_window).count();
    std::size_t queued = 0;
    for (const Job& job : m_store.pending_notifications(since, static_cast<int>(k_max_waiting) * 4))
      if (wanted(job) && !m_pending.contains(job.id)) {
        enqueue(job);
        ++queued;
      }
    if (queued > 0) log_info("notify: {} notification{} the previous jobmand had not run", queued, queued == 1 ? "" : "s");
  } catch (const std::exception& e) {
    log_warn("notify: cannot read the notifications left to run: {}", e.what());
  }
}

void Notifier::shutdown() {
  m_shutting_down = true;
  m_waiting.clear();
}

void Notifier::enqueue(const Job& job) {
  if (!m_pending.insert(job.id).second) return;
  if (m_waiting.size() >= k_max_waiting) {
    m_pending.erase(job.id);
    log_warn("job {}: notification of {} dropped: {} hooks run and {} wait already (notify.max_running)", job.id, to_string(job.state),
             m_running, m_waiting.size());
    record(job.id, fmt::format("notification dropped: {} others were waiting", m_waiting.size()));
    return;
  }
  m_waiting.push_back(job);
  start_waiting();
}

void Notifier::start_waiting() {
  while (!m_shutting_down && !m_waiting.empty() && m_running < static_cast<std::size_t>(m_config.notify.max_running)) {
    Job job = std::move(m_waiting.front());
    m_waiting.pop_front();
    ++m_running;
    const JobId id = job.id;
    spawn_logged(m_executor, run(std::move(job)), fmt::format("notifying job {}", id));
  }
}

asio::awaitable<void> Notifier::run(Job job) {
  // A copy: a reload may change the hook meanwhile; this run keeps the one it started with.
  const NotifyConfig hook = m_config.notify;
  const auto started = std::chrono::steady_clock::now();
  NotifyConfig for_run = hook;
  Result<engine::Captured> result = ErrorInfo{ErrorCode::Internal, "not run"};
  try {
    result = co_await run_hook(job, std::move(for_run));
  } catch (const std::exception& e) { // (not the loop stopping: then the frame is only destroyed)
    result = ErrorInfo{ErrorCode::Internal, e.what()};
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const HookOutcome outcome = describe_hook_run(hook.command, result);
  if (outcome.ok) log_info("job {}: {} in {} ms", job.id, outcome.event, took.count());
  else log_warn("job {}: {} after {} ms: {}", job.id, outcome.event, took.count(), outcome.log);
  record(job.id, outcome.event);
  --m_running;
  m_pending.erase(job.id);
  start_waiting();
}

asio::awaitable<Result<engine::Captured>> Notifier::run_hook(const Job& job, NotifyConfig hook) {
  FileDescriptor input = memory_file(hook_input(job));
  if (input.get() < 0) co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot write the hook's input: {}", std::strerror(errno))};
  engine::ChildOptions options;
  options.stdin_fd = input.get();
  options.working_dir = "/";
  options.uid = hook.uid;
  options.gid = hook.gid;
  options.environment = hook_environment(job);
  options.cut_output = true;
  std::vector<std::string> argv = hook.command;
  const std::optional<std::chrono::milliseconds> timeout = hook.timeout;
  auto result = co_await m_runner.capture_with(std::move(argv), std::move(options), timeout, k_max_hook_output);
  co_return result;
}

void Notifier::record(JobId id, const std::string& event) {
  try {
    m_store.set_notified(id, event);
  } catch (const std::exception& e) { // the database refused: the next daemon runs it again
    log_warn("job {}: cannot record its notification ({}): {}", id, event, e.what());
  }
}

} // namespace jobman::daemon::notify
