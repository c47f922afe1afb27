#pragma once
// Reports that read much of the database (`jobman stats` over a million jobs) run here, on
// one thread of their own with a read-only connection of their own (WAL: they never block
// the daemon's writes, nor wait for them), so the event loop keeps serving everyone else.

#include "daemon/store/stats.hpp"

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace boost::asio {
class thread_pool;
}

namespace jobman::daemon::store {

// How long one report may read before it is stopped (its client is told to narrow it).
constexpr std::chrono::seconds k_report_timeout{60};

class ReportThread {
public:
  // `db_path`: the database the daemon's JobStore has opened (and migrated). The thread is
  // started with every signal blocked: signals stay the event loop's.
  explicit ReportThread(std::string db_path, std::chrono::milliseconds timeout = k_report_timeout);
  // Stops the report that is running (SQLite interrupted) and joins the thread.
  ~ReportThread();
  ReportThread(const ReportThread&) = delete;
  ReportThread& operator=(const ReportThread&) = delete;

  // Runs `query` on the thread and resumes the caller on its own executor. Reports queue
  // up, one at a time, and each user has at most one in the queue: a second one of `uid`'s
  // while the first has not finished is refused (LIMIT_EXCEEDED), so one user's reports
  // cannot keep another's waiting. Cancelling the wait (the client left) interrupts the
  // query. Throws Error(Unavailable) when the report ran past the timeout.
  boost::asio::awaitable<StatsReport> stats(std::uint32_t uid, StatsQuery query);

  // How many reports were interrupted because their waiter was cancelled (for tests).
  std::uint64_t interrupted() const { return m_interrupted->load(); }

private:
  std::string m_db_path;
  std::chrono::milliseconds m_timeout;
  // Uids with a report queued or running (event-loop thread only). Shared with the waiting
  // frames: one still suspended at shutdown is destroyed with the io_context, after this.
  std::shared_ptr<std::set<std::uint32_t>> m_busy = std::make_shared<std::set<std::uint32_t>>();
  std::shared_ptr<std::atomic<bool>> m_stopping = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<std::uint64_t>> m_interrupted = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::unique_ptr<boost::asio::thread_pool> m_pool; // last: its queued work is destroyed first
};

} // namespace jobman::daemon::store
