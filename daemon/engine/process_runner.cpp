// The one file that includes Boost.Process: everything else uses engine::CommandRunner.
#include "daemon/engine/command_runner.hpp"

#include "common/duration.hpp"
#include "common/file_descriptor.hpp"
#include "daemon/engine/reap.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
// Boost 1.81: process/v2 uses boost::optional and type traits without including them
// when BOOST_PROCESS_USE_STD_FS is set.
#include <boost/optional.hpp>
#include <type_traits>
#include <memory>
#include <boost/type_traits/remove_pointer.hpp>
#include <algorithm>
#include <map>
#include <boost/process/v2.hpp>
#include <fcntl.h>
#include <grp.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

namespace jobman::daemon::engine {

namespace bp = boost::process::v2;
using boost::system::error_code;

std::string ExitStatus::describe() const {
  if (code) return fmt::format("exit code {}", *code);
  if (signal) return fmt::format("signal {}", *signal);
  return "unknown status";
}

namespace {

// Runs in the forked child just before exec (after stdio is in place on fds 0-2):
// - a process group of its own, so a terminal's Ctrl-C or a signal to the daemon's group
//   does not reach it;
// - an empty signal mask and default dispositions (SIGPIPE is ignored in the daemon);
// - the runner's working directory (a failed chdir leaves the daemon's);
// - every fd from 3 up close-on-exec. Boost 1.81's close_all() compares each whitelist
//   entry with itself and so leaves open every fd between stderr and its error pipe, and
//   asio opens sockets without CLOEXEC: without this, engine processes would inherit the
//   listening socket, client connections and the database.
// Only async-signal-safe calls here.
// With `uid`/`gid` (capture_with): the child enters `working_dir` (it must), then drops
// every group and becomes that uid and gid, or exits 126 before exec.
struct ChildSetup {
  const char* working_dir;
  const char* const* env = nullptr; // the child's whole environment; null: the daemon's
  bool switch_identity = false;
  uid_t uid = 0;
  gid_t gid = 0;
  rlim_t max_file_size = RLIM_INFINITY;
  // In the parent, before the fork.
  error_code on_setup(bp::posix::default_launcher& launcher, const std::filesystem::path&, const char* const*) {
    if (env) launcher.env = env;
    return {};
  }
  error_code on_exec_setup(bp::posix::default_launcher&, const std::filesystem::path&, const char* const*) {
    ::setpgid(0, 0);
    if (::chdir(working_dir) != 0) {
      if (switch_identity) ::_exit(126);
      // stays where the daemon is
    }
    if (max_file_size != RLIM_INFINITY) {
      const rlimit limit{max_file_size, max_file_size};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    if (switch_identity && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) ::_exit(126);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      rlimit limit{};
      rlim_t max = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? std::min<rlim_t>(limit.rlim_cur, 1 << 20) : 1024;
      for (int fd = 3; fd < static_cast<int>(max); ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return {};
  }
  // An exec that failed: the child ends at once with _exit (Boost's own exit() would run
  // the daemon's atexit handlers and flush copies of its stdio buffers), and the parent
  // reaps it (Boost 1.81 returns without the pid and leaves it a zombie: one per engine
  // command while engine.binary is missing). Variadic: Boost detects these hooks with a
  // call of more arguments than it passes, and silently skips exact signatures.
  template <class... A>
  void on_exec_error(bp::posix::default_launcher&, A&&...) {
    ::_exit(127);
  }
  template <class... A>
  void on_error(bp::posix::default_launcher& launcher, A&&...) {
    if (launcher.pid > 0) ::waitpid(launcher.pid, nullptr, 0);
  }
};

ExitStatus decode(int native) {
  ExitStatus status;
  if (WIFEXITED(native)) status.code = WEXITSTATUS(native);
  else if (WIFSIGNALED(native)) status.signal = WTERMSIG(native);
  return status;
}

// Waits for `process` to end and reaps it; its wait status (nullopt: not ours to reap).
// Then `process` holds no pid, so its destructor neither signals nor waits. Cancelled (the
// co_await throws), it leaves `process` as it was.
asio::awaitable<std::optional<int>> reap(bp::process& process) {
  if (!process.is_open()) co_return std::nullopt;
  const pid_t pid = process.id();
  auto ready = child_pidfd(process.get_executor(), pid);
  auto status = co_await reap_child(pid, std::move(ready));
  process.detach();
  co_return status;
}

class BoostRunningProcess final : public RunningProcess {
public:
  explicit BoostRunningProcess(bp::process process) : m_process(std::move(process)), m_pid(m_process.id()) {}
  ~BoostRunningProcess() override {
    if (!m_process.is_open()) return;
    // Not reaped: detached, it runs on (daemon shutdown); else it is killed, never waited
    // for here (Boost's own destructor would block in waitpid).
    if (!m_detached) abandon_child(m_process.id());
    m_process.detach();
  }
  int pid() const override { return m_pid; }
  asio::awaitable<ExitStatus> wait() override {
    if (m_exit) co_return *m_exit; // waited for already
    auto status = co_await reap(m_process); // cancelled: the process runs on, untouched
    m_exit = status ? decode(*status) : ExitStatus{};
    co_return *m_exit;
  }
  void send_signal(int signal) override {
    if (m_process.is_open()) ::kill(m_process.id(), signal);
  }
  void detach() override { m_detached = true; }

private:
  bp::process m_process;
  pid_t m_pid;
  std::optional<ExitStatus> m_exit;
  bool m_detached = false;
};

class ProcessRunner final : public CommandRunner {
public:
  ProcessRunner(asio::any_io_executor executor, std::string working_dir)
    : m_executor(std::move(executor)), m_working_dir(std::move(working_dir)) {}

  asio::awaitable<Result<Captured>> capture(std::vector<std::string> argv, std::optional<std::chrono::milliseconds> timeout,
                                            std::size_t max_output) override {
    ChildOptions defaults; // named, then moved in: GCC 12 destroys a temporary passed by value inside co_await twice
    auto result = co_await capture_with(std::move(argv), std::move(defaults), timeout, max_output);
    co_return result;
  }

  asio::awaitable<Result<Captured>> capture_with(std::vector<std::string> argv, ChildOptions options,
                                                 std::optional<std::chrono::milliseconds> timeout, std::size_t max_output) override {
    auto exe = resolve(argv);
    if (!exe) co_return exe.error();
    asio::readable_pipe out(m_executor), err(m_executor);
    FileDescriptor null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ChildSetup setup{options.working_dir.empty() ? m_working_dir.c_str() : options.working_dir.c_str()};
    if (options.uid && options.gid) {
      setup.switch_identity = true;
      setup.uid = *options.uid;
      setup.gid = *options.gid;
    }
    if (options.max_file_size) setup.max_file_size = static_cast<rlim_t>(*options.max_file_size);
    // Built here, since the child may call nothing but async-signal-safe functions (alive
    // until launch returns: Boost waits for the exec).
    std::vector<const char*> envp;
    if (options.environment) {
      for (const auto& entry : *options.environment) envp.push_back(entry.c_str());
      envp.push_back(nullptr);
      setup.env = envp.data();
    }
    const int in_fd = options.stdin_fd >= 0 ? options.stdin_fd : null.get();
    error_code ec;
    bp::process process = [&] {
      asio::writable_pipe out_w(m_executor), err_w(m_executor);
      if (options.stdout_fd < 0) asio::connect_pipe(out, out_w, ec);
      if (!ec) asio::connect_pipe(err, err_w, ec);
      if (ec) return bp::process(m_executor);
      if (options.stdout_fd >= 0) return launch(*exe, argv, bp::process_stdio{in_fd, options.stdout_fd, err_w}, ec, setup);
      return launch(*exe, argv, bp::process_stdio{in_fd, out_w, err_w}, ec, setup);
      // the write ends close here, so reads see EOF when the child exits
    }();
    if (ec) co_return ErrorInfo{ErrorCode::EngineError, fmt::format("cannot run {}: {}", argv.front(), ec.message())};

    // Past the timeout the child's process group is killed: the pipes then reach EOF and
    // the child is reaped below as usual. The handler outlives this frame (a destroyed timer
    // still calls it), so it holds only what it owns. Until `state->done` the child is not
    // reaped (only reap() below, or Abandon, reaps it), so its pid and group are still its own.
    struct TimeoutState {
      bool done = false;
      bool fired = false;
    };
    auto state = std::make_shared<TimeoutState>();
    // Unwound before reap() (the capture was cancelled: each co_await then throws), the
    // child's group is killed and left to be reaped later, never waited for here.
    struct Abandon {
      bp::process& process;
      TimeoutState& state;
      ~Abandon() {
        if (!process.is_open()) return; // reaped
        state.done = true;
        abandon_child(process.id());
        process.detach();
      }
    } abandon{process, *state};
    asio::steady_timer timer(m_executor);
    if (timeout) {
      timer.expires_after(*timeout);
      timer.async_wait([state, group = process.id()](error_code e) {
        if (e || state->done) return;
        state->fired = true;
        ::kill(-group, SIGKILL);
      });
    }
    Captured result;
    using namespace asio::experimental::awaitable_operators;
    // (With stdout_fd, `out` was never opened: its read ends at once.)
    auto [ec_out, ec_err] = co_await (read_all(out, result.out, max_output) && read_all(err, result.err, max_output));
    auto status = co_await reap(process);
    state->done = true;
    timer.cancel();
    result.status = status ? decode(*status) : ExitStatus{};
    if (state->fired)
      co_return ErrorInfo{ErrorCode::Unavailable,
                          fmt::format("'{}' did not answer within {}; jobmand killed it", command_words(argv),
                                      format_duration(std::chrono::duration_cast<std::chrono::seconds>(*timeout)))};
    if ((ec_out || ec_err) && !options.cut_output)
      co_return ErrorInfo{ErrorCode::EngineError, fmt::format("{} printed more than {} bytes", argv.front(), max_output)};
    co_return result;
  }

  Result<std::unique_ptr<RunningProcess>> spawn(const std::vector<std::string>& argv, int output_fd, const std::vector<EnvVar>& env) override {
    auto exe = resolve(argv);
    if (!exe) return exe.error();
    FileDescriptor null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    // The daemon's environment without the names `env` sets, then `env`: built here, since
    // the child may call nothing but async-signal-safe functions. (Alive until launch
    // returns: Boost waits for the exec.)
    std::vector<std::string> entries;
    for (char** e = ::environ; e && *e; ++e) {
      const std::string_view entry(*e);
      const std::string_view name = entry.substr(0, entry.find('='));
      if (std::none_of(env.begin(), env.end(), [&](const EnvVar& var) { return var.first == name; })) entries.emplace_back(entry);
    }
    for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
    std::vector<const char*> envp;
    for (const auto& entry : entries) envp.push_back(entry.c_str());
    envp.push_back(nullptr);
    ChildSetup setup{m_working_dir.c_str()};
    if (!env.empty()) setup.env = envp.data();
    error_code ec;
    bp::process process = launch(*exe, argv, bp::process_stdio{null.get(), output_fd, output_fd}, ec, setup);
    if (ec) return ErrorInfo{ErrorCode::EngineError, fmt::format("cannot start {}: {}", argv.front(), ec.message())};
    return std::unique_ptr<RunningProcess>(std::make_unique<BoostRunningProcess>(std::move(process)));
  }

private:
  // Starts `exe` with argv[1...]. Errors (an exec that failed: ENOENT, EACCES) come back in
  // `ec`: bp::process's own constructors throw them (and an error_code given to them is
  // taken for an initializer and ignored).
  bp::process launch(const std::filesystem::path& exe, const std::vector<std::string>& argv, bp::process_stdio stdio, error_code& ec) {
    return launch(exe, argv, std::move(stdio), ec, ChildSetup{m_working_dir.c_str()});
  }
  bp::process launch(const std::filesystem::path& exe, const std::vector<std::string>& argv, bp::process_stdio stdio, error_code& ec,
                     ChildSetup setup) {
    return bp::default_process_launcher()(m_executor, ec, exe, std::vector<std::string>(argv.begin() + 1, argv.end()), std::move(stdio),
                                          setup);
  }

  // The command as messages name it: its words, the whole of it up to 200 bytes.
  static std::string command_words(const std::vector<std::string>& argv) {
    std::string words;
    for (const auto& arg : argv) {
      if (!words.empty()) words += ' ';
      words += arg;
      if (words.size() > 200) return words.substr(0, 200) + "...";
    }
    return words;
  }

  static asio::awaitable<bool> read_all(asio::readable_pipe& pipe, std::string& out, std::size_t max) {
    char buffer[16384];
    for (;;) {
      error_code ec;
      std::size_t n = co_await pipe.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
      if (n > 0 && out.size() < max) out.append(buffer, std::min(n, max - out.size()));
      if (ec) co_return out.size() >= max; // EOF (or error): done; true when the cap was hit
    }
  }

  Result<std::filesystem::path> resolve(const std::vector<std::string>& argv) {
    if (argv.empty()) return ErrorInfo{ErrorCode::Internal, "empty command"};
    if (argv.front().find('/') != std::string::npos) return std::filesystem::path(argv.front());
    if (auto it = m_paths.find(argv.front()); it != m_paths.end()) return it->second;
    auto path = bp::environment::find_executable(argv.front());
    if (path.empty())
      return ErrorInfo{ErrorCode::Unavailable, fmt::format("container engine '{}' not found in PATH; install it or set engine.binary", argv.front())};
    m_paths.emplace(argv.front(), path);
    return path;
  }

  asio::any_io_executor m_executor;
  std::string m_working_dir;
  std::map<std::string, std::filesystem::path> m_paths;
};

} // namespace

std::unique_ptr<CommandRunner> make_process_runner(asio::any_io_executor executor, std::string working_dir) {
  return std::make_unique<ProcessRunner>(std::move(executor), std::move(working_dir));
}

} // namespace jobman::daemon::engine
