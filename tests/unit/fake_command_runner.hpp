#pragma once
// A CommandRunner with scripted replies, as ninja's FakeCommandRunner: each command is
// answered by the first rule whose words all appear in its argv (in order of the rules),
// and every argv is recorded. spawn() gives a process that exits with `spawn_exit` at once.

#include "daemon/engine/command_runner.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <unistd.h>
#include <functional>
#include <string>
#include <vector>

namespace jobman::test {

namespace asio = boost::asio;

class FakeCommandRunner final : public daemon::engine::CommandRunner {
public:
  struct Rule {
    std::vector<std::string> words;                    // all must be in the argv
    std::function<Result<daemon::engine::Captured>()> reply;
  };
  std::vector<Rule> rules;
  std::vector<std::vector<std::string>> calls;
  std::vector<std::vector<EnvVar>> spawn_envs; // the environment each spawn() was given
  std::vector<daemon::engine::ChildOptions> child_options; // what each capture_with() was given
  std::vector<std::string> stdins;                         // ... and what its stdin_fd held (read at the call)
  daemon::engine::ExitStatus spawn_exit{0, std::nullopt};

  // Answers commands with all of `words` with exit `code`, `out` and `err`.
  void on(std::vector<std::string> words, int code, std::string out, std::string err = {}) {
    rules.push_back({std::move(words), [=] { return Result<daemon::engine::Captured>(daemon::engine::Captured{{code, std::nullopt}, out, err}); }});
  }
  // Answers them with an error (a command that did not answer).
  void fail(std::vector<std::string> words, std::string message) {
    rules.push_back({std::move(words), [=] { return Result<daemon::engine::Captured>(ErrorInfo{ErrorCode::Unavailable, message}); }});
  }
  // How many recorded calls had all of `words`.
  std::size_t count(const std::vector<std::string>& words) const {
    return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [&](const auto& argv) { return has_all(argv, words); }));
  }

  asio::awaitable<Result<daemon::engine::Captured>> capture(std::vector<std::string> argv, std::optional<std::chrono::milliseconds>,
                                                            std::size_t) override {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable); // a real command never answers at once
    calls.push_back(argv);
    for (const auto& rule : rules)
      if (has_all(argv, rule.words)) co_return rule.reply();
    co_return daemon::engine::Captured{{127, std::nullopt}, "", "fake: no rule for " + argv.front()};
  }
  asio::awaitable<Result<daemon::engine::Captured>> capture_with(std::vector<std::string> argv, daemon::engine::ChildOptions options,
                                                                 std::optional<std::chrono::milliseconds> timeout, std::size_t max) override {
    std::string input;
    if (options.stdin_fd >= 0) {
      char buffer[4096];
      for (ssize_t n; (n = ::pread(options.stdin_fd, buffer, sizeof buffer, static_cast<off_t>(input.size()))) > 0;)
        input.append(buffer, static_cast<std::size_t>(n));
    }
    stdins.push_back(std::move(input));
    child_options.push_back(std::move(options));
    auto result = co_await capture(std::move(argv), timeout, max);
    co_return result;
  }
  Result<std::unique_ptr<daemon::engine::RunningProcess>> spawn(const std::vector<std::string>& argv, int,
                                                                const std::vector<EnvVar>& env) override {
    calls.push_back(argv);
    spawn_envs.push_back(env);
    return std::unique_ptr<daemon::engine::RunningProcess>(std::make_unique<Process>(spawn_exit));
  }

private:
  struct Process final : daemon::engine::RunningProcess {
    explicit Process(daemon::engine::ExitStatus s) : status(s) {}
    daemon::engine::ExitStatus status;
    int pid() const override { return 1; }
    asio::awaitable<daemon::engine::ExitStatus> wait() override {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable); // a real child is waited for
      co_return status;
    }
    void send_signal(int) override {}
    void detach() override {}
  };
  static bool has_all(const std::vector<std::string>& argv, const std::vector<std::string>& words) {
    return std::all_of(words.begin(), words.end(), [&](const std::string& w) { return std::find(argv.begin(), argv.end(), w) != argv.end(); });
  }
};

} // namespace jobman::test
