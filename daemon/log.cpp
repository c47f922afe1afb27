#include "daemon/log.hpp"

#include "common/printable.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace jobman::daemon {

void log_line(std::string_view level, const std::string& message) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  // Messages carry users' words (job names, reasons, directory names): one line each, no
  // terminal escapes, whatever they contain.
  const std::string line = escape_controls(message);
  std::fprintf(stderr, "%s jobmand %.*s: %s\n", stamp, static_cast<int>(level.size()), level.data(), line.c_str());
  std::fflush(stderr);
}

void spawn_logged(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task, std::string what) {
  boost::asio::co_spawn(executor, std::move(task), [what = std::move(what)](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log_error("{}: {}", what, e.what());
    } catch (...) {
      log_error("{}: unknown exception", what);
    }
  });
}

} // namespace jobman::daemon
