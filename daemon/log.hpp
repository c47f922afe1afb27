#pragma once
// Daemon logging to stderr (journald adds its own timestamps under systemd), and spawning
// detached coroutines whose failures are logged instead of lost.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <exception>
#include <fmt/format.h>
#include <string>
#include <string_view>

namespace jobman::daemon {

void log_line(std::string_view level, const std::string& message);

template <typename... Args> void log_info(fmt::format_string<Args...> format, Args&&... args) {
  log_line("info", fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args> void log_warn(fmt::format_string<Args...> format, Args&&... args) {
  log_line("warning", fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args> void log_error(fmt::format_string<Args...> format, Args&&... args) {
  log_line("error", fmt::format(format, std::forward<Args>(args)...));
}

// Runs `task` detached on `executor`; an exception escaping it is logged with `what`.
void spawn_logged(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task, std::string what);

} // namespace jobman::daemon
