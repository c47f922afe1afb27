#include "daemon/store/report_thread.hpp"

#include "common/errors.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <exception>
#include <fmt/format.h>
#include <pthread.h>
#include <sqlite3.h>

namespace jobman::daemon::store {

namespace asio = boost::asio;

namespace {
// What the query's progress handler looks at, every few thousand SQLite steps.
struct Watch {
  std::shared_ptr<std::atomic<bool>> stopping; // the daemon is shutting down
  std::atomic<bool> cancelled{false};          // the client left
  std::chrono::steady_clock::time_point deadline;
  bool expired() const { return std::chrono::steady_clock::now() > deadline; }
};

int keep_going(void* context) {
  const auto* watch = static_cast<const Watch*>(context);
  return watch->stopping->load() || watch->cancelled.load() || watch->expired() ? 1 : 0;
}

StatsReport run_on_own_connection(const std::string& path, const StatsQuery& query, const Watch& watch) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  db.setBusyTimeout(1000);
  ::sqlite3_progress_handler(db.getHandle(), 4096, &keep_going, const_cast<Watch*>(&watch));
  return run_stats(db, query);
}
} // namespace

ReportThread::ReportThread(std::string db_path, std::chrono::milliseconds timeout) : m_db_path(std::move(db_path)), m_timeout(timeout) {
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  m_pool = std::make_unique<asio::thread_pool>(1);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

ReportThread::~ReportThread() {
  m_stopping->store(true);
  m_pool->join();
}

asio::awaitable<StatsReport> ReportThread::stats(std::uint32_t uid, StatsQuery query) {
  if (m_busy->count(uid))
    throw Error(ErrorCode::LimitExceeded, "a report of yours is still running; wait for it (one at a time per user)");
  m_busy->insert(uid);
  struct Unbusy {
    std::shared_ptr<std::set<std::uint32_t>> busy;
    std::uint32_t uid;
    ~Unbusy() { busy->erase(uid); }
  } unbusy{m_busy, uid};

  auto watch = std::make_shared<Watch>();
  watch->stopping = m_stopping;
  using Signature = void(std::exception_ptr, StatsReport);
  auto initiate = [this, watch, query](auto handler) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.assign([watch](asio::cancellation_type) { watch->cancelled.store(true); });
    asio::post(*m_pool, [watch, query, path = m_db_path, timeout = m_timeout, interrupted = m_interrupted,
                         handler = std::move(handler)]() mutable {
      // The clock starts when the report does, not while it queued behind others.
      watch->deadline = std::chrono::steady_clock::now() + timeout;
      std::exception_ptr error;
      StatsReport report;
      try {
        report = run_on_own_connection(path, query, *watch);
      } catch (const SQLite::Exception& e) {
        if (e.getErrorCode() == SQLITE_INTERRUPT && watch->stopping->load())
          error = std::make_exception_ptr(Error(ErrorCode::Unavailable, "jobmand is shutting down; ask again once it is back"));
        else if (e.getErrorCode() == SQLITE_INTERRUPT && !watch->cancelled.load())
          error = std::make_exception_ptr(Error(
            ErrorCode::Unavailable,
            fmt::format("the report read for over {} s (jobmand's limit) and was stopped; narrow it with --since and --until",
                        std::chrono::duration_cast<std::chrono::seconds>(timeout).count())));
        else error = std::current_exception();
        if (e.getErrorCode() == SQLITE_INTERRUPT && watch->cancelled.load()) ++*interrupted;
      } catch (...) {
        error = std::current_exception();
      }
      auto executor = asio::get_associated_executor(handler);
      asio::post(executor, [handler = std::move(handler), error, report = std::move(report)]() mutable {
        asio::get_associated_cancellation_slot(handler).clear();
        std::move(handler)(error, std::move(report));
      });
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), Signature>(initiate, asio::use_awaitable);
}

} // namespace jobman::daemon::store
