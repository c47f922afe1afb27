// Tests for common/size.hpp: memory sizes as admins write them, and back.

#include "common/size.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>

using namespace jobman;
using Size = std::optional<std::int64_t>;

namespace {
constexpr std::int64_t K = 1LL << 10;
constexpr std::int64_t M = 1LL << 20;
constexpr std::int64_t G = 1LL << 30;
constexpr std::int64_t T = 1LL << 40;
} // namespace

TEST_CASE("parse_size reads plain bytes", "[size]") {
  CHECK(parse_size("1") == Size(1));
  CHECK(parse_size("512") == Size(512));
  CHECK(parse_size("1000") == Size(1000));
  CHECK(parse_size("4294967296") == Size(4294967296LL));
  CHECK(parse_size("007") == Size(7));
}

TEST_CASE("parse_size reads binary units in either case", "[size]") {
  CHECK(parse_size("1K") == Size(K));
  CHECK(parse_size("1k") == Size(K));
  CHECK(parse_size("64M") == Size(64 * M));
  CHECK(parse_size("512m") == Size(512 * M));
  CHECK(parse_size("2G") == Size(2 * G));
  CHECK(parse_size("2g") == Size(2 * G));
  CHECK(parse_size("3T") == Size(3 * T));
  CHECK(parse_size("1t") == Size(T));
}

TEST_CASE("parse_size accepts a trailing B after the unit", "[size]") {
  CHECK(parse_size("1KB") == Size(K));
  CHECK(parse_size("1kb") == Size(K));
  CHECK(parse_size("64MB") == Size(64 * M));
  CHECK(parse_size("2Gb") == Size(2 * G));
  CHECK(parse_size("100B") == Size(100));
  CHECK(parse_size("100b") == Size(100));
}

TEST_CASE("parse_size reads fractions of a unit", "[size]") {
  CHECK(parse_size("1.5G") == Size(G + G / 2));
  CHECK(parse_size("0.5K") == Size(512));
  CHECK(parse_size("0.25M") == Size(256 * K));
  CHECK(parse_size("2.0G") == Size(2 * G));
  CHECK(parse_size("1.5GB") == Size(1536 * M));
}

TEST_CASE("parse_size refuses what is not a size", "[size]") {
  for (const char* text : {"", "G", "B", "KB", "-1", "-1G", "+1G", "1X", "1 G", " 1G", "1G ", "1.2.3G", ".5G", "1e9", "0x10",
                           "1GG", "1bb", "G1", "1,5G", "one", "1.5.G"}) {
    INFO('"' << text << '"');
    CHECK(parse_size(text) == std::nullopt);
  }
}

TEST_CASE("parse_size refuses zero and less than one byte", "[size]") {
  CHECK(parse_size("0") == std::nullopt);
  CHECK(parse_size("0G") == std::nullopt);
  CHECK(parse_size("0.0M") == std::nullopt);
  CHECK(parse_size("0.1") == std::nullopt);
  CHECK(parse_size("0.0001K") == std::nullopt); // 0.1 byte
}

TEST_CASE("parse_size refuses sizes that do not fit and overlong text", "[size]") {
  CHECK(parse_size("8000000T") == Size(8000000 * T)); // about 8.8e18: still fits
  CHECK(parse_size("8388608T") == std::nullopt);      // 2^63
  CHECK(parse_size("99999999999T") == std::nullopt);
  CHECK(parse_size("99999999999999999999") == std::nullopt); // 20 digits, > 9e18
  CHECK(parse_size(std::string(21, '1')) == std::nullopt);    // over 20 characters
  CHECK(parse_size("00000000000000000001") == Size(1));       // 20 characters are fine
}

TEST_CASE("format_size uses the largest exact unit", "[size]") {
  CHECK(format_size(K) == "1K");
  CHECK(format_size(64 * M) == "64M");
  CHECK(format_size(G) == "1G");
  CHECK(format_size(2 * G) == "2G");
  CHECK(format_size(1536 * M) == "1536M"); // 1.5G is not a whole number of G
  CHECK(format_size(T) == "1T");
  CHECK(format_size(2048 * G) == "2T");
  CHECK(format_size(1025 * K) == "1025K");
}

TEST_CASE("format_size gives plain bytes when no unit divides", "[size]") {
  CHECK(format_size(0) == "0");
  CHECK(format_size(1) == "1");
  CHECK(format_size(1000) == "1000");
  CHECK(format_size(1023) == "1023");
  CHECK(format_size(K + 1) == "1025");
  CHECK(format_size(G + 1) == "1073741825");
}

TEST_CASE("parse_size reads back what format_size writes", "[size]") {
  for (std::int64_t bytes : std::initializer_list<std::int64_t>{1, 1000, K, K + 1, 6 * M, 64 * M, 1536 * M, G, 32 * G, T, 5 * T + G}) {
    CAPTURE(bytes);
    CHECK(parse_size(format_size(bytes)) == Size(bytes));
  }
}
