#pragma once
// Job logs and their cap, retention.max_log_bytes. While a job runs its engine client
// appends (O_APPEND) to <state_dir>/logs/<id>.log; when the log holds more than the cap,
// jobmand punches its middle out (fallocate PUNCH_HOLE, block aligned) so the first and
// last cap/2 bytes stay and the disk holds no more. The writer never notices: the file's
// size goes on growing, its blocks do not. Readers skip the hole (SEEK_DATA/SEEK_HOLE)
// and show a marker line in its place; when the job ends the log is rewritten as a plain
// file with that marker in it (`compact_log`).

#include "common/errors.hpp"
#include "common/file_descriptor.hpp"

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace jobman::daemon::logs {

namespace asio = boost::asio;

// Opens `path` to read (or, with `write`, also to punch holes), never through a symlink.
FileDescriptor open_log(const std::string& path, bool write = false);

// [begin, end) of a file.
struct Span {
  off_t begin = 0;
  off_t end = 0;
  bool operator==(const Span&) const = default;
};
// The parts of `fd` that hold data, in order; what lies between them are holes.
std::vector<Span> data_spans(int fd);
// Bytes of data in the log at `path` (its size less its holes); 0 if there is none.
std::int64_t log_data_bytes(const std::string& path);

// The line that stands for `bytes` cut out of a log: "[jobman: 1.2 GiB truncated]\n".
std::string cut_marker(std::int64_t bytes);

// If `fd` holds more than `max_bytes` of data, punches out all but its first and last
// `max_bytes`/2 (rounded to `fd`'s blocks, so no block is half zeroed). Returns the bytes
// cut now (0: nothing to do); an error names what the file system refused.
Result<std::int64_t> cap_log(int fd, std::int64_t max_bytes);

// Reads a log from an offset on, as users see it: each hole becomes `cut_marker` on a
// line of its own. Holes may grow while it reads (the job still runs); it then shows
// another marker for what it missed.
class LogReader {
public:
  LogReader(int fd, off_t offset) : m_fd(fd), m_offset(offset) {}
  // The next piece: data (at most `max` bytes, never across a hole nor, unless `max` is
  // tiny, inside a UTF-8 character) or a marker. Empty when nothing is left for now.
  std::string next(std::size_t max);
  off_t offset() const { return m_offset; }

private:
  int m_fd;
  off_t m_offset;
  bool m_at_line_start = true;
};

// Offset where the last `lines` lines of `fd` start, skipping holes.
off_t tail_offset(int fd, std::int64_t lines);

// Rewrites the log at `path` as a plain file if it has holes: data with a marker line
// for each hole, via `<path>.compact` and rename. Yields to the loop between chunks, so
// a large log does not stall the daemon. True if it rewrote the file.
asio::awaitable<Result<bool>> compact_log(std::string path);

} // namespace jobman::daemon::logs
