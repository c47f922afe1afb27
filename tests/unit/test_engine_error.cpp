// Tests for daemon/backend/engine_error.hpp: the engine's own error line out of a run
// client's output, made safe for a log line and a terminal.

#include "daemon/backend/engine_error.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

using jobman::daemon::backend::engine_error_line;
using jobman::daemon::backend::k_max_engine_message;
using jobman::daemon::backend::printable_message;
using jobman::daemon::backend::read_tail;

TEST_CASE("engine_error_line takes podman's last Error: line", "[engine_error]") {
  // As podman 4.3 printed it with catatonit missing (seen on a fresh Debian 12).
  CHECK(engine_error_line("Error: container-init binary not found on the host: stat /usr/libexec/podman/catatonit: no such file or "
                          "directory\n") ==
        "container-init binary not found on the host: stat /usr/libexec/podman/catatonit: no such file or directory");
  CHECK(engine_error_line("time=\"x\" level=warning msg=\"y\"\nError: first\nsomething\nError: second\n\n") == "second");
  CHECK(engine_error_line("Error: crlf line\r\n") == "crlf line");
}

TEST_CASE("engine_error_line takes docker's error, not its help pointer", "[engine_error]") {
  CHECK(engine_error_line("docker: Error response from daemon: unknown or invalid runtime name: nope.\nSee 'docker run --help'.\n") ==
        "unknown or invalid runtime name: nope.");
  CHECK(engine_error_line("Error response from daemon: No such image: x\n") == "No such image: x");
}

TEST_CASE("engine_error_line finds nothing in output without an error line", "[engine_error]") {
  CHECK_FALSE(engine_error_line(""));
  CHECK_FALSE(engine_error_line("hello\nworld\n"));
  CHECK_FALSE(engine_error_line("Error:\n"));           // nothing after the prefix
  CHECK_FALSE(engine_error_line("an Error: inside\n")); // not at the start of a line
}

TEST_CASE("engine_error_line bounds and cleans what it returns", "[engine_error]") {
  std::string huge = "Error: " + std::string(100000, 'x') + "\n";
  auto line = engine_error_line(huge);
  REQUIRE(line);
  CHECK(line->size() <= k_max_engine_message);
  CHECK(line->substr(line->size() - 3) == "...");
  // Escape sequences and a forged log line cannot pass through.
  auto escaped = engine_error_line("Error: a\x1b[2Jb\tc\x7f" "d\xc2\x9b" "e\n");
  REQUIRE(escaped);
  CHECK(*escaped == "a [2Jb c d e");
  CHECK(engine_error_line("Error: bad \xff\xfe utf8\n") == "bad ?? utf8");
}

TEST_CASE("printable_message never cuts inside a UTF-8 character", "[engine_error]") {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "é"; // 2 bytes each
  for (std::size_t max : {3U, 4U, 10U, 11U, 100U, 101U}) {
    std::string cut = printable_message(text, max);
    CHECK(cut.size() <= max);
    CHECK(cut.substr(cut.size() - 3) == "...");
    CHECK((cut.size() - 3) % 2 == 0);
  }
  CHECK(printable_message("short", 400) == "short");
}

TEST_CASE("read_tail reads the end of a regular file and never follows a symlink", "[engine_error]") {
  jobman::test::TempDir dir;
  std::ofstream(dir.file("log")) << "0123456789";
  CHECK(read_tail(dir.file("log"), 4) == "6789");
  CHECK(read_tail(dir.file("log"), 100) == "0123456789");
  REQUIRE(::symlink(dir.file("log").c_str(), dir.file("link").c_str()) == 0);
  CHECK_FALSE(read_tail(dir.file("link"), 100));
  CHECK_FALSE(read_tail(dir.file("missing"), 100));
  CHECK_FALSE(read_tail(dir.path().string(), 100)); // a directory
}
