#pragma once
// Lets coroutines sleep until a job changes state (wait, logs --follow) instead of
// re-reading the database in a loop. Waiters also give a timeout: `logs -f` uses a short
// one to pick up new output between state changes.

#include "common/job.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>

namespace jobman::daemon::scheduler {

namespace asio = boost::asio;

class JobWatch {
public:
  // Completes when job `id` changed state, or after `timeout`, whichever comes first;
  // with `or_logged`, also when its log got new output (notify_log).
  asio::awaitable<void> changed(JobId id, std::chrono::milliseconds timeout, bool or_logged = false);
  // Wakes everything waiting on job `id`.
  void notify(JobId id);
  // Wakes what waits on job `id` with `or_logged` (logs -f): its log got new output.
  void notify_log(JobId id);
  // Wakes everyone (shutdown).
  void notify_all();

private:
  struct Waiter {
    asio::steady_timer* timer;
    bool or_logged;
  };
  std::multimap<JobId, Waiter> m_waiters;
};

} // namespace jobman::daemon::scheduler
