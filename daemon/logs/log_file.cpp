#include "daemon/logs/log_file.hpp"

#include "common/size.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::logs {

namespace {
constexpr std::size_t k_chunk_bytes = 256 * 1024;
constexpr std::size_t k_compact_yield_bytes = 8 * 1024 * 1024; // copied between two turns of the loop

std::string read_at(int fd, off_t offset, std::size_t max) {
  std::string data(max, '\0');
  ssize_t n = ::pread(fd, data.data(), max, offset);
  data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return data;
}

// Length of the longest prefix of `data` that does not end inside a UTF-8 sequence.
std::size_t utf8_safe_length(const std::string& data) {
  std::size_t n = data.size();
  for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(data[n - back]);
    if ((c & 0xC0) == 0x80) continue; // continuation byte
    std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}
} // namespace

FileDescriptor open_log(const std::string& path, bool write) {
  return FileDescriptor(::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW));
}

std::vector<Span> data_spans(int fd) {
  std::vector<Span> spans;
  off_t offset = 0;
  for (;;) {
    off_t data = ::lseek(fd, offset, SEEK_DATA);
    if (data < 0) break; // ENXIO: no data from `offset` on
    off_t hole = ::lseek(fd, data, SEEK_HOLE); // the end of the file counts as a hole
    if (hole <= data) break;
    spans.push_back({data, hole});
    offset = hole;
  }
  return spans;
}

std::int64_t log_data_bytes(const std::string& path) {
  FileDescriptor fd = open_log(path);
  std::int64_t bytes = 0;
  if (fd.get() >= 0)
    for (const Span& span : data_spans(fd.get())) bytes += span.end - span.begin;
  return bytes;
}

std::string cut_marker(std::int64_t bytes) { return fmt::format("[jobman: {} truncated]\n", format_bytes(bytes)); }

Result<std::int64_t> cap_log(int fd, std::int64_t max_bytes) {
  struct stat st {};
  if (max_bytes <= 0 || ::fstat(fd, &st) != 0 || st.st_size <= max_bytes) return std::int64_t{0};
  const off_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
  const off_t keep = max_bytes / 2;
  const off_t head_end = (keep + block - 1) / block * block;
  const off_t tail_begin = (st.st_size - keep) / block * block;
  if (tail_begin <= head_end) return std::int64_t{0};
  // Only what is still data in [head_end, tail_begin) is cut now.
  std::int64_t cut = 0;
  for (const Span& span : data_spans(fd)) {
    off_t begin = std::max(span.begin, head_end), end = std::min(span.end, tail_begin);
    if (end > begin) cut += end - begin;
  }
  if (cut == 0) return std::int64_t{0};
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, head_end, tail_begin - head_end) != 0)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot cut the log (fallocate PUNCH_HOLE): {}", std::strerror(errno))};
  return cut;
}

std::string LogReader::next(std::size_t max) {
  off_t data = ::lseek(m_fd, m_offset, SEEK_DATA);
  if (data < 0) return {}; // nothing written past `m_offset` yet
  if (data > m_offset) {
    std::string marker = (m_at_line_start ? "" : "\n") + cut_marker(data - m_offset);
    m_offset = data;
    m_at_line_start = true;
    return marker;
  }
  off_t hole = ::lseek(m_fd, m_offset, SEEK_HOLE);
  if (hole <= m_offset) return {};
  std::string piece = read_at(m_fd, m_offset, std::min<std::size_t>(max, static_cast<std::size_t>(hole - m_offset)));
  // A full piece may end inside a character whose rest comes next time.
  if (piece.size() == max && m_offset + static_cast<off_t>(max) < hole) piece.resize(utf8_safe_length(piece));
  m_offset += static_cast<off_t>(piece.size());
  if (!piece.empty()) m_at_line_start = piece.back() == '\n';
  return piece;
}

off_t tail_offset(int fd, std::int64_t lines) {
  std::vector<Span> spans = data_spans(fd);
  if (spans.empty()) return 0;
  off_t end = spans.back().end;
  if (read_at(fd, end - 1, 1) == "\n") --end; // a final newline does not start a line
  std::int64_t seen = 0;
  for (auto span = spans.rbegin(); span != spans.rend(); ++span) {
    end = std::min(end, span->end);
    while (end > span->begin) {
      off_t start = std::max(span->begin, end - static_cast<off_t>(k_chunk_bytes));
      std::string block = read_at(fd, start, static_cast<std::size_t>(end - start));
      for (std::size_t i = block.size(); i-- > 0;)
        if (block[i] == '\n' && ++seen == lines) return start + static_cast<off_t>(i) + 1;
      end = start;
    }
  }
  return 0;
}

asio::awaitable<Result<bool>> compact_log(std::string path) {
  FileDescriptor in = open_log(path);
  if (in.get() < 0) co_return false; // no log: the job never wrote one
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) co_return false;
  std::vector<Span> spans = data_spans(in.get());
  if (spans.empty() || (spans.size() == 1 && spans.front() == Span{0, st.st_size})) co_return false;

  const std::string temp = path + ".compact";
  FileDescriptor out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 07777));
  if (out.get() < 0)
    co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot write {}: {}", temp, std::strerror(errno))};
  LogReader reader(in.get(), 0);
  std::size_t since_yield = 0;
  for (std::string piece = reader.next(k_chunk_bytes); !piece.empty(); piece = reader.next(k_chunk_bytes)) {
    if (!write_all(out.get(), piece)) {
      int error = errno;
      ::unlink(temp.c_str());
      co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot write {}: {}", temp, std::strerror(error))};
    }
    if ((since_yield += piece.size()) >= k_compact_yield_bytes) {
      since_yield = 0;
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    co_return ErrorInfo{ErrorCode::Internal, fmt::format("cannot replace {}: {}", path, std::strerror(error))};
  }
  co_return true;
}

} // namespace jobman::daemon::logs
