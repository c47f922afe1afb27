#include "daemon/backend/kernel_oom_log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace jobman::daemon::backend {

namespace {
constexpr std::size_t k_remembered = 1024;
}

std::vector<std::string> oom_memcgs_in(std::string_view record) {
  std::vector<std::string> memcgs;
  auto semicolon = record.find(';');
  std::string_view message = semicolon == std::string_view::npos ? record : record.substr(semicolon + 1);
  if (message.rfind("oom-kill:", 0) != 0) return memcgs;
  for (std::string_view key : {"oom_memcg=", "task_memcg="}) {
    auto at = message.find(key);
    if (at == std::string_view::npos) continue;
    auto value = message.substr(at + key.size());
    value = value.substr(0, value.find_first_of(",\n"));
    if (!value.empty()) memcgs.emplace_back(value);
  }
  return memcgs;
}

KernelOomLog::KernelOomLog() : m_kmsg(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {
  if (m_kmsg.get() >= 0) ::lseek(m_kmsg.get(), 0, SEEK_END);
}

void KernelOomLog::drain() {
  if (m_kmsg.get() < 0) return;
  char record[8192];
  for (;;) {
    ssize_t n = ::read(m_kmsg.get(), record, sizeof record); // one record per read
    if (n < 0 && errno == EPIPE) continue;            // the ring buffer overtook us: skip ahead
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;                               // EAGAIN: nothing more for now
    for (auto& memcg : oom_memcgs_in(std::string_view(record, static_cast<std::size_t>(n)))) {
      m_memcgs.push_back(std::move(memcg));
      if (m_memcgs.size() > k_remembered) m_memcgs.pop_front();
    }
  }
}

bool KernelOomLog::oom_killed(std::string_view full_id) {
  drain();
  if (full_id.size() < 12) return false;
  for (const auto& memcg : m_memcgs)
    if (memcg.find(full_id) != std::string::npos) return true;
  return false;
}

} // namespace jobman::daemon::backend
