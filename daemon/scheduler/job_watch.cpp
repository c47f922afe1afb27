#include "daemon/scheduler/job_watch.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobman::daemon::scheduler {

asio::awaitable<void> JobWatch::changed(JobId id, std::chrono::milliseconds timeout, bool or_logged) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto it = m_waiters.emplace(id, Waiter{&timer, or_logged});
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  m_waiters.erase(it);
}

void JobWatch::notify(JobId id) {
  auto [begin, end] = m_waiters.equal_range(id);
  for (auto it = begin; it != end; ++it) it->second.timer->cancel();
}

void JobWatch::notify_log(JobId id) {
  auto [begin, end] = m_waiters.equal_range(id);
  for (auto it = begin; it != end; ++it)
    if (it->second.or_logged) it->second.timer->cancel();
}

void JobWatch::notify_all() {
  for (auto& [id, waiter] : m_waiters) waiter.timer->cancel();
}

} // namespace jobman::daemon::scheduler
