#include "daemon/scheduler/job_watch.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobman::daemon::scheduler {

asio::awaitable<void> JobWatch::changed(JobId id, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto it = m_waiters.emplace(id, &timer);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  m_waiters.erase(it);
}

void JobWatch::notify(JobId id) {
  auto [begin, end] = m_waiters.equal_range(id);
  for (auto it = begin; it != end; ++it) it->second->cancel();
}

void JobWatch::notify_all() {
  for (auto& [id, timer] : m_waiters) timer->cancel();
}

} // namespace jobman::daemon::scheduler
