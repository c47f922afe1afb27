#pragma once
// New output in job logs, as it lands (`jobman logs -f`): one inotify instance for the whole
// daemon (they are few per user: max_user_instances), one watch per log that has
// followers, however many follow it. Each write wakes that job's followers through
// JobWatch::notify_log (not its `wait`ers: they care for states, and a job writing a
// thousand lines a second would make each re-read the database a thousand times).
// Where inotify cannot help (none left, a log on NFS: Slurm's nodes write there) the
// followers fall back to polling (k_poll_without_watch).

#include "common/job.hpp"
#include "daemon/scheduler/job_watch.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace jobman::daemon::logs {

namespace asio = boost::asio;

// How long a follower sleeps without news: with a watch a safety net only (its state
// changes wake it anyway); without one, the poll.
constexpr std::chrono::milliseconds k_poll_with_watch{2000};
constexpr std::chrono::milliseconds k_poll_without_watch{200};

class LogWatch {
public:
  // Creates the inotify instance; without one (none left) every follower polls.
  LogWatch(asio::any_io_executor executor, scheduler::JobWatch& jobs);
  ~LogWatch();
  LogWatch(const LogWatch&) = delete;
  LogWatch& operator=(const LogWatch&) = delete;

  // A follower's interest in job `id`'s log at `path` while it lives. `watched()`: writes
  // to it wake the follower (else it must poll). Made again once the log exists, if it
  // did not yet.
  class Interest {
  public:
    Interest(LogWatch& owner, JobId id, const std::string& path);
    ~Interest();
    Interest(const Interest&) = delete;
    Interest& operator=(const Interest&) = delete;
    bool watched() const { return m_wd >= 0; }
    // Tries again to watch (the log did not exist); true once it is watched.
    bool retry();
    std::chrono::milliseconds poll() const { return watched() ? k_poll_with_watch : k_poll_without_watch; }

  private:
    LogWatch& m_owner;
    JobId m_id;
    std::string m_path;
    int m_wd = -1;
  };

  // Logs being watched now (for tests).
  std::size_t watches() const { return m_by_wd.size(); }

private:
  int add(JobId id, const std::string& path);
  void remove(int wd);
  asio::awaitable<void> read_events();
  // Wakes the followers of each log `events` (`bytes` read from inotify) names.
  void dispatch(const char* events, std::size_t bytes);

  scheduler::JobWatch& m_jobs;
  std::unique_ptr<asio::posix::stream_descriptor> m_fd;
  struct Watched {
    JobId id = 0;
    int followers = 0;
  };
  std::map<int, Watched> m_by_wd; // inotify watch -> the job whose log it is
  bool m_reading = false;         // read_events() runs
  // Shared with the reading coroutine: it may outlive this object at shutdown.
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace jobman::daemon::logs
