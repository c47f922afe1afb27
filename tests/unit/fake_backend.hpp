#pragma once
// A Backend whose image listing is scripted: each call takes `list_delay` on the loop (0:
// none, not even a suspension) and
// returns `images` or `error`; calls are counted. Everything else does nothing.

#include "daemon/backend/backend.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobman::test {

namespace asio = boost::asio;
using daemon::backend::ContainerExit;
using daemon::backend::ContainerPresence;

class FakeBackend final : public daemon::backend::Backend {
public:
  std::vector<daemon::policy::ImageInfo> images;
  std::optional<ErrorInfo> error;
  std::chrono::milliseconds list_delay{20};
  int list_calls = 0;

  asio::awaitable<Result<std::string>> start(Job, std::string) override { co_return std::string{}; }
  asio::awaitable<ContainerExit> wait(Job, std::string) override { co_return ContainerExit{}; }
  asio::awaitable<std::optional<daemon::backend::StartState>> has_started(Job) override {
    co_return daemon::backend::StartState{true, "", ""};
  }
  asio::awaitable<void> stop(Job, std::chrono::seconds) override { co_return; }
  asio::awaitable<void> remove(Job) override { co_return; }
  asio::awaitable<ContainerPresence> presence(Job) override { co_return ContainerPresence::Missing; }
  asio::awaitable<Result<std::vector<daemon::policy::ImageInfo>>> list_images() override {
    ++list_calls;
    if (list_delay.count() > 0) { // 0: answers without waiting, as a missing engine binary does
      asio::steady_timer timer(co_await asio::this_coro::executor, list_delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    if (error) co_return *error;
    co_return images;
  }
  asio::awaitable<Result<std::vector<std::string>>> list_containers(const std::string&) override { co_return std::vector<std::string>{}; }
  void detach_all() override {}
  std::vector<std::string> engine_argv(const Job&) const override { return {"engine", "run"}; }
};

} // namespace jobman::test
