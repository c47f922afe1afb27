// Tests for common/printable.hpp, and that jobmand's log lines use it (issue 9: a directory
// name with a newline forged a `jobmand info` line; args reached an admin's terminal raw).

#include "common/printable.hpp"
#include "daemon/log.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

using jobman::escape_controls;
using jobman::utf8_sequence_length;

TEST_CASE("escape_controls writes control characters as visible escapes", "[printable]") {
  CHECK(escape_controls("plain text, ünïcödé, 日本") == "plain text, ünïcödé, 日本");
  CHECK(escape_controls("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(escape_controls("\x1b[2J\x1b]0;title\x07") == "\\e[2J\\e]0;title\\x07");
  CHECK(escape_controls(std::string("nul\0byte", 8)) == "nul\\x00byte");
  CHECK(escape_controls("del\x7f") == "del\\x7f");
  CHECK(escape_controls("csi\xc2\x9b" "31m") == "csi\\u009b31m"); // C1 CSI
  CHECK(escape_controls("bad \xff\xfe utf8 \xc0\xaf") == "bad \\xff\\xfe utf8 \\xc0\\xaf");
  CHECK(escape_controls("cut \xe6\x97") == "cut \\xe6\\x97"); // a truncated sequence
}

TEST_CASE("escape_controls can make its own escapes unforgeable", "[printable]") {
  CHECK(escape_controls("a\\nb") == "a\\nb");
  CHECK(escape_controls("a\\nb", true) == "a\\\\nb");
  CHECK(escape_controls("a\nb", true) == "a\\nb");
}

TEST_CASE("utf8_sequence_length accepts valid sequences only", "[printable]") {
  CHECK(utf8_sequence_length("a", 0) == 1);
  CHECK(utf8_sequence_length("é", 0) == 2);
  CHECK(utf8_sequence_length("日", 0) == 3);
  CHECK(utf8_sequence_length("\xf0\x9f\x98\x80", 0) == 4);
  CHECK(utf8_sequence_length("\x80", 0) == 0);
  CHECK(utf8_sequence_length("\xc3", 0) == 0);
  CHECK(utf8_sequence_length("\xc1\xbf", 0) == 0); // overlong
}

TEST_CASE("jobmand's log lines cannot be forged by what they quote", "[printable][log]") {
  jobman::test::TempDir dir;
  const std::string path = dir.file("stderr");
  fflush(stderr);
  int saved = ::dup(2);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  jobman::daemon::log_info("mount check at start: {} is not a directory", "/home/x/dir\n2026-12-01T00:00:00Z jobmand info: forged\x1b[2J");
  fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string out = text.str();
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(out.find("dir\\n2026-12-01T00:00:00Z jobmand info: forged\\e[2J is not a directory") != std::string::npos);
}
