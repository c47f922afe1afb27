// Tests for daemon/images/catalogue_cache.hpp: loads are cached and coalesced (issue 9:
// every request for an unknown image started two podman processes, uncoalesced).

#include "daemon/images/catalogue_cache.hpp"

#include "fake_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace jobman;
using jobman::daemon::images::CatalogueCache;
using jobman::test::FakeBackend;

namespace {
daemon::policy::ImageInfo image(const std::string& name) {
  daemon::policy::ImageInfo info;
  info.id = "sha256:" + std::string(64, 'a');
  info.repo_tags = {"localhost/" + name + ":1.0"};
  info.labels = {{"name", name}, {"version", "1.0"}};
  return info;
}

struct Outcome {
  int served = 0;
  int failed = 0;
  std::string last_error;
};

// Runs `n` concurrent get(force) calls to completion.
Outcome get_concurrently(CatalogueCache& cache, int n, bool force) {
  boost::asio::io_context io;
  Outcome outcome;
  for (int i = 0; i < n; ++i)
    boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        try {
          auto catalogue = co_await cache.get(force);
          if (catalogue) ++outcome.served;
        } catch (const Error& e) {
          ++outcome.failed;
          outcome.last_error = e.what();
        }
      },
      boost::asio::detached);
  io.run();
  return outcome;
}
} // namespace

TEST_CASE("CatalogueCache coalesces concurrent loads into one engine listing", "[catalogue_cache]") {
  ImagesConfig config;
  FakeBackend backend;
  backend.images = {image("app")};
  CatalogueCache cache(config, backend);
  auto outcome = get_concurrently(cache, 10, true); // ten clients naming an unknown image at once
  CHECK(outcome.served == 10);
  CHECK(backend.list_calls == 1);
  // Then the cache serves without the engine, and a forced refresh loads once more.
  CHECK(get_concurrently(cache, 5, false).served == 5);
  CHECK(backend.list_calls == 1);
  CHECK(get_concurrently(cache, 3, true).served == 3);
  CHECK(backend.list_calls == 2);
}

TEST_CASE("CatalogueCache gives every waiter a failed load's error, then tries again", "[catalogue_cache]") {
  ImagesConfig config;
  FakeBackend backend;
  backend.error = ErrorInfo{ErrorCode::EngineError, "'podman images' failed: boom"};
  CatalogueCache cache(config, backend);
  auto outcome = get_concurrently(cache, 4, false);
  CHECK(outcome.failed == 4);
  CHECK(outcome.last_error == "'podman images' failed: boom");
  CHECK(backend.list_calls == 1);
  backend.error.reset();
  backend.images = {image("app")};
  CHECK(get_concurrently(cache, 2, false).served == 2);
  CHECK(backend.list_calls == 2);
}

TEST_CASE("CatalogueCache answers a load that failed before it ever waited", "[catalogue_cache]") {
  // Issue 9 fault tests: with engine.binary missing, the listing fails at once, inside
  // co_spawn's first step; the requester then waited for an end that had already come.
  ImagesConfig config;
  FakeBackend backend;
  backend.list_delay = std::chrono::milliseconds(0);
  backend.error = ErrorInfo{ErrorCode::Unavailable, "cannot run /nonexistent/podman: No such file or directory"};
  CatalogueCache cache(config, backend);
  auto outcome = get_concurrently(cache, 3, true);
  CHECK(outcome.failed == 3);
  CHECK(outcome.last_error == "cannot run /nonexistent/podman: No such file or directory");
  backend.error.reset();
  backend.images = {image("app")};
  CHECK(get_concurrently(cache, 2, true).served == 2);
}
