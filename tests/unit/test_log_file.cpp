// Tests for daemon/logs/log_file.hpp: the log cap (holes punched in real files in a temp
// dir), reading around the hole, --tail across it, and the rewrite when the job ends.

#include "daemon/logs/log_file.hpp"

#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::logs;
using jobman::test::TempDir;

namespace {

// Appends lines "line N\n" for N in [first, last) as a job's engine client would.
void append_lines(const std::string& path, int first, int last) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  for (int n = first; n < last; ++n) out << "line " << n << '\n';
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// What `reader` shows until nothing is left, pieces of at most `chunk` bytes.
std::string read_rest(LogReader& reader, std::size_t chunk = 4096) {
  std::string all;
  for (std::string piece = reader.next(chunk); !piece.empty(); piece = reader.next(chunk)) all += piece;
  return all;
}

// Everything a reader shows from `offset` on.
std::string read_all(int fd, off_t offset = 0) {
  LogReader reader(fd, offset);
  return read_rest(reader);
}

off_t file_size(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_size;
}

bool compact(const std::string& path) {
  boost::asio::io_context io;
  std::optional<Result<bool>> result;
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { result = co_await compact_log(path); }, boost::asio::detached);
  io.run();
  REQUIRE(result);
  REQUIRE(result->ok());
  return result->value();
}

constexpr std::int64_t k_cap = 64 * 1024;

// A log of `lines` lines at `path`, already cut to k_cap; open to cut again.
FileDescriptor cut_log(const std::string& path, int lines) {
  append_lines(path, 0, lines);
  FileDescriptor fd = open_log(path, true);
  REQUIRE(cap_log(fd.get(), k_cap).value() > 0);
  return fd;
}

} // namespace

TEST_CASE("cut_marker says how much was cut in binary units", "[log_file]") {
  CHECK(cut_marker(300) == "[jobman: 300 B truncated]\n");
  CHECK(cut_marker(1288490189) == "[jobman: 1.2 GiB truncated]\n");
  CHECK(cut_marker(5LL << 20) == "[jobman: 5.0 MiB truncated]\n");
}

TEST_CASE("cap_log leaves a log within the cap alone", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("1.log");
  append_lines(path, 0, 1000); // ~9 KiB
  const std::string before = slurp(path);
  FileDescriptor fd = open_log(path, true);
  CHECK(cap_log(fd.get(), k_cap).value() == 0);
  CHECK(cap_log(fd.get(), 0).value() == 0); // 0: no cap
  CHECK(data_spans(fd.get()).size() == 1);
  CHECK(read_all(fd.get()) == before);
  CHECK_FALSE(compact(path));
  CHECK(slurp(path) == before);
}

TEST_CASE("cap_log keeps the head and the tail and frees the middle", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("2.log");
  append_lines(path, 0, 100000); // ~1.1 MiB
  const std::string original = slurp(path);
  FileDescriptor fd = open_log(path, true);
  const off_t size = file_size(fd.get());

  const std::int64_t cut = cap_log(fd.get(), k_cap).value();
  CHECK(cut > size - k_cap - 8192);
  CHECK(file_size(fd.get()) == size); // the writer's end of file does not move
  auto spans = data_spans(fd.get());
  REQUIRE(spans.size() == 2);
  CHECK(spans[0] == Span{0, k_cap / 2});
  CHECK(spans[1].end == size);
  CHECK(size - spans[1].begin >= k_cap / 2);
  CHECK(log_data_bytes(path) <= k_cap + 4096);
  CHECK(cap_log(fd.get(), k_cap).value() == 0); // nothing new to cut

  // Head, the marker on its own line (the head ends mid-line), then the tail as written.
  const std::string shown = read_all(fd.get());
  const std::string head = original.substr(0, static_cast<std::size_t>(spans[0].end));
  const std::string tail = original.substr(static_cast<std::size_t>(spans[1].begin));
  REQUIRE(head.back() != '\n');
  CHECK(shown == head + "\n" + cut_marker(spans[1].begin - spans[0].end) + tail);
  CHECK(shown.ends_with("line 99999\n"));
}

TEST_CASE("cap_log cuts again as the job goes on writing; the hole stays one", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("3.log");
  FileDescriptor fd = cut_log(path, 50000);
  append_lines(path, 50000, 100000);
  const std::int64_t second = cap_log(fd.get(), k_cap).value();
  CHECK(second > 0);
  auto spans = data_spans(fd.get());
  REQUIRE(spans.size() == 2);
  CHECK(spans[0].end == k_cap / 2);
  CHECK(log_data_bytes(path) <= k_cap + 4096);
  const std::string shown = read_all(fd.get());
  CHECK(shown.find(cut_marker(spans[1].begin - spans[0].end)) != std::string::npos);
  CHECK(shown.starts_with("line 0\nline 1\n"));
  CHECK(shown.ends_with("line 99999\n"));
}

TEST_CASE("a reader past the head sees another marker for what was cut under it", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("4.log");
  FileDescriptor fd = cut_log(path, 50000);
  // A `logs -f` reader part way into the tail...
  LogReader reader(fd.get(), 0);
  std::string shown;
  while (reader.offset() < file_size(fd.get()) - 1000) shown += reader.next(512);
  const off_t was_at = reader.offset();
  // ...then the job writes on and the middle is cut again, past where the reader was.
  append_lines(path, 50000, 100000);
  REQUIRE(cap_log(fd.get(), k_cap).value() > 0);
  const off_t resumes_at = data_spans(fd.get()).at(1).begin;
  REQUIRE(resumes_at > was_at);
  shown += read_rest(reader);
  CHECK(shown.find(cut_marker(resumes_at - was_at)) != std::string::npos);
  CHECK(shown.ends_with("line 99999\n"));
}

TEST_CASE("tail_offset finds the last lines across the hole", "[log_file]") {
  TempDir dir;
  FileDescriptor fd = cut_log(dir.file("5.log"), 100000);
  CHECK(read_all(fd.get(), tail_offset(fd.get(), 2)) == "line 99998\nline 99999\n");
  // More lines than the tail holds: from the head on, with the marker where the cut is.
  const std::string all = read_all(fd.get(), tail_offset(fd.get(), 1000000));
  CHECK(all == read_all(fd.get()));
  CHECK(all.find("[jobman: ") != std::string::npos);
}

TEST_CASE("compact_log rewrites a cut log as a plain file showing the same text", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("6.log");
  std::string shown = read_all(cut_log(path, 100000).get());
  ::chmod(path.c_str(), 0640);
  CHECK(compact(path));
  CHECK(slurp(path) == shown);
  FileDescriptor fd = open_log(path);
  CHECK(data_spans(fd.get()) == std::vector<Span>{{0, file_size(fd.get())}});
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK_FALSE(std::filesystem::exists(path + ".compact"));
  CHECK_FALSE(compact(path)); // nothing left to do
}

TEST_CASE("LogReader never splits a UTF-8 character between two full pieces", "[log_file]") {
  TempDir dir;
  const std::string path = dir.file("7.log");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "é€😀";
  }
  FileDescriptor fd = open_log(path);
  LogReader reader(fd.get(), 0);
  std::string all;
  for (std::string piece = reader.next(100); !piece.empty(); piece = reader.next(100)) {
    auto last = static_cast<unsigned char>(piece.back());
    CHECK((last == 0xA9 || last == 0xAC || last == 0x80)); // the last byte of é, € or 😀
    all += piece;
  }
  CHECK(all == slurp(path));
}

TEST_CASE("a missing log has no data and nothing to compact", "[log_file]") {
  TempDir dir;
  CHECK(log_data_bytes(dir.file("none.log")) == 0);
  CHECK(open_log(dir.file("none.log")).get() == -1);
  CHECK_FALSE(compact(dir.file("none.log")));
}
