#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <optional>
#include <unistd.h>

namespace jobman::daemon::commands {

namespace {

constexpr std::size_t k_chunk_bytes = 256 * 1024;

// A file descriptor closed on scope exit.
class File {
public:
  explicit File(const std::string& path) : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) {}
  ~File() {
    if (m_fd >= 0) ::close(m_fd);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return m_fd; }
  off_t size() const { return m_fd < 0 ? 0 : ::lseek(m_fd, 0, SEEK_END); }

  std::string read_at(off_t offset, std::size_t max) const {
    std::string data(max, '\0');
    ssize_t n = m_fd < 0 ? -1 : ::pread(m_fd, data.data(), max, offset);
    data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return data;
  }

private:
  int m_fd;
};

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

// Offset where the last `lines` lines of the file start.
off_t tail_offset(const File& file, std::int64_t lines) {
  off_t end = file.size();
  if (end > 0 && file.read_at(end - 1, 1) == "\n") --end; // a final newline does not start a line
  std::int64_t seen = 0;
  while (end > 0) {
    off_t start = end > static_cast<off_t>(k_chunk_bytes) ? end - static_cast<off_t>(k_chunk_bytes) : 0;
    std::string block = file.read_at(start, static_cast<std::size_t>(end - start));
    for (std::size_t i = block.size(); i-- > 0;)
      if (block[i] == '\n' && ++seen == lines) return start + static_cast<off_t>(i) + 1;
    end = start;
  }
  return 0;
}

} // namespace

asio::awaitable<json> logs(CommandContext& ctx) {
  Job job = find_job(ctx.daemon.store, ctx.peer, ctx.args.required_string("job"));
  const bool follow = ctx.args.optional_bool("follow");
  const std::int64_t tail = ctx.args.optional_int("tail", 0, 0, 100'000'000);
  ctx.args.finish();

  const std::string path = ctx.daemon.scheduler.log_path(job.id);
  std::optional<File> file(std::in_place, path);
  off_t offset = tail > 0 ? tail_offset(*file, tail) : 0;
  for (;;) {
    // Read before checking the state, so output written just before the end is not missed.
    bool ended = is_terminal(job.state);
    for (;;) {
      std::string data = file->read_at(offset, k_chunk_bytes);
      if (data.empty()) break;
      if (data.size() == k_chunk_bytes) data.resize(utf8_safe_length(data));
      offset += static_cast<off_t>(data.size());
      const json event = {{"data", std::move(data)}};
      co_await ctx.emit(event);
    }
    if (!follow || ended) break;
    co_await ctx.daemon.watch.changed(job.id, std::chrono::milliseconds(200));
    job = ctx.daemon.store.get(job.id).value_or(job);
    if (file->fd() < 0) file.emplace(path); // the log appears when the job starts
  }
  co_return json{{"state", to_string(job.state)}, {"exit_code", job.exit_code ? json(*job.exit_code) : json(nullptr)}};
}

} // namespace jobman::daemon::commands
