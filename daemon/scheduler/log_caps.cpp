// The Scheduler's running logs, held to their caps: retention.max_log_bytes per job, and
// limits.max_log_bytes_per_user shared by a user's running jobs (scheduler.hpp, WatchedLog).

#include "common/size.hpp"
#include "daemon/log.hpp"
#include "daemon/scheduler/scheduler.hpp"

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <map>

namespace jobman::daemon::scheduler {

namespace {
// How often running jobs' logs are held to retention.max_log_bytes: a job writing R
// bytes/s can overshoot the cap by about R times this before it is cut again.
constexpr std::chrono::milliseconds k_log_cap_interval{100};
} // namespace

void Scheduler::watch_log(const Job& job) {
  FileDescriptor fd = logs::open_log(log_path(job.id), true);
  if (fd.get() < 0) {
    log_warn("job {}: cannot open its log {} to cap it: {}", job.id, log_path(job.id), std::strerror(errno));
    return;
  }
  m_logs[job.id] = WatchedLog{std::move(fd), job.uid};
  if (m_capping_logs) return;
  m_capping_logs = true;
  spawn_logged(m_executor, cap_logs(), "capping logs");
}

std::int64_t Scheduler::log_cap_for(std::uint32_t uid, std::size_t running_logs) const {
  // No user's running log is cut below this by the per-user total: its first and last
  // lines (what failed, and how) stay readable. Submits stop once the total is passed.
  constexpr std::int64_t k_min_share = 64 << 10;
  const std::int64_t per_job = m_config.retention.max_log_bytes; // 0: no cap
  std::int64_t ended = 0;
  try {
    ended = m_store.log_bytes(uid);
  } catch (const std::exception& e) { // the database busy or broken: the per-job cap still holds
    log_warn("logs of uid {}: {}", uid, e.what());
    return per_job;
  }
  const std::int64_t left = m_config.limits.max_log_bytes_per_user - ended;
  const std::int64_t share = std::max(k_min_share, left / static_cast<std::int64_t>(std::max<std::size_t>(running_logs, 1)));
  return per_job > 0 ? std::min(per_job, share) : share;
}

void Scheduler::cap_log(JobId id, WatchedLog& log, std::int64_t cap) {
  if (log.failed) return;
  auto cut = logs::cap_log(log.fd.get(), cap);
  if (!cut) {
    log.failed = true;
    log_warn("job {}: {}; its log {} is not capped", id, cut.error().message, log_path(id));
  } else if (*cut > 0 && !log.cut) {
    log.cut = true;
    if (m_config.retention.max_log_bytes > 0 && cap >= m_config.retention.max_log_bytes)
      log_info("job {}: its log passed retention.max_log_bytes ({}); keeping its first and last half", id,
               format_size(m_config.retention.max_log_bytes));
    else
      log_info("job {}: its log passed {}, its share of what its user's logs may take (limits.max_log_bytes_per_user, {}); "
               "keeping its first and last half",
               id, format_size(cap), format_size(m_config.limits.max_log_bytes_per_user));
  }
}

void Scheduler::cap_all_logs() {
  std::map<std::uint32_t, std::size_t> per_user;
  for (const auto& [id, log] : m_logs) ++per_user[log.uid];
  std::map<std::uint32_t, std::int64_t> caps;
  for (const auto& [uid, n] : per_user) caps[uid] = log_cap_for(uid, n);
  for (auto& [id, log] : m_logs) cap_log(id, log, caps[log.uid]);
}

asio::awaitable<void> Scheduler::cap_logs() {
  asio::steady_timer timer(m_executor); // expired: the first round is at once
  while (!m_logs.empty() && !m_shutting_down) {
    // At a fixed rate, not 100 ms after each check: a slow round makes the next one sooner.
    timer.expires_at(std::max(timer.expiry(), std::chrono::steady_clock::now() - k_log_cap_interval) + k_log_cap_interval);
    co_await timer.async_wait(asio::use_awaitable);
    cap_all_logs();
  }
  m_capping_logs = false;
}

asio::awaitable<void> Scheduler::close_log(JobId id) {
  if (auto it = m_logs.find(id); it != m_logs.end()) {
    // What it wrote since the last check, at its share of its user's total.
    const std::uint32_t uid = it->second.uid;
    const auto logs_of_user = static_cast<std::size_t>(std::count_if(m_logs.begin(), m_logs.end(), [uid](const auto& l) { return l.second.uid == uid; }));
    cap_log(id, it->second, log_cap_for(uid, logs_of_user));
    m_logs.erase(it);
  }
  auto rewritten = co_await logs::compact_log(log_path(id));
  if (!rewritten) log_warn("job {}: {}", id, rewritten.error().message);
  // What the log now takes counts against limits.max_log_bytes_per_user until it is purged.
  try {
    m_store.set_log_bytes(id, logs::log_data_bytes(log_path(id)));
  } catch (const std::exception& e) {
    log_warn("job {}: cannot record its log's size: {}", id, e.what());
  }
}

} // namespace jobman::daemon::scheduler
