#include "common/atomic_file.hpp"

#include "common/file_descriptor.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace jobman {

Result<Unit> write_file(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) return ErrorInfo{ErrorCode::Internal, fmt::format("cannot create {}: {}", tmp, std::strerror(errno))};
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrorInfo{ErrorCode::Internal, fmt::format("cannot write {}: {}", tmp, std::strerror(errno))};
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot write {}: {}", path, std::strerror(errno))};
  return Unit{};
}
} // namespace jobman
