#include "daemon/logs/log_watch.hpp"

#include "daemon/log.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sys/inotify.h>
#include <unistd.h>

namespace jobman::daemon::logs {

namespace {
// A write, the end of a writer, or the file going away (the log rewritten at the job's end).
constexpr std::uint32_t k_events = IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
} // namespace

LogWatch::LogWatch(asio::any_io_executor executor, scheduler::JobWatch& jobs) : m_jobs(jobs) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log_warn("inotify is not available ({}): `jobman logs -f` polls its logs every {} ms", std::strerror(errno),
             k_poll_without_watch.count());
    return;
  }
  m_fd = std::make_unique<asio::posix::stream_descriptor>(executor, fd);
}

LogWatch::~LogWatch() {
  *m_alive = false;
  if (m_fd) {
    boost::system::error_code ec;
    m_fd->close(ec);
  }
}

int LogWatch::add(JobId id, const std::string& path) {
  if (!m_fd) return -1;
  // IN_DONT_FOLLOW: the log is root's, in a root-only directory; never a link's target.
  const int wd = ::inotify_add_watch(m_fd->native_handle(), path.c_str(), k_events | IN_DONT_FOLLOW);
  if (wd < 0) {
    if (errno != ENOENT) log_warn("job {}: cannot watch its log ({}); its followers poll it", id, std::strerror(errno));
    return -1;
  }
  Watched& w = m_by_wd[wd];
  w.id = id;
  ++w.followers;
  // Read from the first watch on, not from the start: jobmand's start-up checks run the
  // event loop until it has no work left.
  if (!m_reading) {
    m_reading = true;
    spawn_logged(m_fd->get_executor(), read_events(), "watching logs");
  }
  return wd;
}

void LogWatch::remove(int wd) {
  auto it = m_by_wd.find(wd);
  if (it == m_by_wd.end()) return; // gone with its file (IN_IGNORED)
  if (--it->second.followers > 0) return;
  m_by_wd.erase(it);
  if (m_fd) ::inotify_rm_watch(m_fd->native_handle(), wd);
}

asio::awaitable<void> LogWatch::read_events() {
  const std::shared_ptr<bool> alive = m_alive;
  alignas(inotify_event) char buffer[64 * (sizeof(inotify_event) + NAME_MAX + 1)];
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = co_await m_fd->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
    if (ec) {
      if (ec == asio::error::try_again || ec == asio::error::interrupted) continue;
      log_warn("reading log events failed ({}): `jobman logs -f` polls from now on", ec.message());
      co_return;
    }
    dispatch(buffer, n);
  }
}

void LogWatch::dispatch(const char* events, std::size_t bytes) {
  for (std::size_t at = 0; at + sizeof(inotify_event) <= bytes;) {
    inotify_event event{};
    std::memcpy(&event, events + at, sizeof event);
    at += sizeof(inotify_event) + event.len;
    auto it = m_by_wd.find(event.wd);
    if (it == m_by_wd.end()) continue;
    m_jobs.notify_log(it->second.id);
    if (event.mask & IN_IGNORED) m_by_wd.erase(it); // the kernel dropped the watch with its file
  }
}

LogWatch::Interest::Interest(LogWatch& owner, JobId id, const std::string& path) : m_owner(owner), m_id(id), m_path(path) {
  m_wd = m_owner.add(m_id, m_path);
}

LogWatch::Interest::~Interest() {
  if (m_wd >= 0) m_owner.remove(m_wd);
}

bool LogWatch::Interest::retry() {
  if (m_wd < 0) m_wd = m_owner.add(m_id, m_path);
  return m_wd >= 0;
}

} // namespace jobman::daemon::logs
