#pragma once
// Running engine commands (docker/podman) as child processes, behind an interface so that
// unit tests can use a fake. Commands are argv vectors; nothing goes through a shell.

#include "common/errors.hpp"
#include "common/job.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jobman::daemon::engine {

namespace asio = boost::asio;

// How a process ended: an exit code or a signal, never both.
struct ExitStatus {
  std::optional<int> code;
  std::optional<int> signal;
  bool success() const { return code && *code == 0; }
  std::string describe() const;
};

// How capture_with starts its child, besides what capture does.
struct ChildOptions {
  int stdin_fd = -1;            // -1: /dev/null
  int stdout_fd = -1;           // -1: captured
  std::string working_dir;      // empty: the runner's
  std::optional<std::uint32_t> uid, gid; // both set: the child drops to them (no supplementary groups) before exec
  std::optional<std::uint64_t> max_file_size; // RLIMIT_FSIZE: a longer write kills the child (SIGXFSZ)
  // The child's whole environment ("NAME=value" each); nothing: the daemon's.
  std::optional<std::vector<std::string>> environment;
  // Output past max_output is dropped (the status still counts), not an error.
  bool cut_output = false;
};

struct Captured {
  ExitStatus status;
  std::string out;
  std::string err;
};

// A child started by spawn(); it runs in its own process group.
class RunningProcess {
public:
  virtual ~RunningProcess() = default;
  virtual int pid() const = 0;
  // Completes when the process has exited (and reaps it), never blocking the event loop.
  // Cancelled, it leaves the child running: it may be waited for again.
  virtual asio::awaitable<ExitStatus> wait() = 0;
  // Sends `signal` to the child.
  virtual void send_signal(int signal) = 0;
  // Leaves the child running when this object is destroyed (daemon shutdown).
  virtual void detach() = 0;
};

class CommandRunner {
public:
  virtual ~CommandRunner() = default;
  // Runs `argv` to completion with stdin from /dev/null, capturing stdout and stderr
  // (each up to `max_output` bytes; more is an error). Past `timeout` (if any) its whole
  // process group is killed and the result is an error (Unavailable) saying it did not
  // answer: a hung engine must not hold a job, a stop or a catalogue load forever.
  // Cancelled (say, the losing side of an `||`), its process group is killed, and it is
  // reaped later, never waited for (engine/reap.hpp: abandon_child).
  virtual asio::awaitable<Result<Captured>> capture(std::vector<std::string> argv, std::optional<std::chrono::milliseconds> timeout,
                                                    std::size_t max_output = 64 << 20) = 0;
  // capture, with the child's stdin, stdout, working directory and identity as `options` say.
  // The working directory is entered before the identity is dropped.
  virtual asio::awaitable<Result<Captured>> capture_with(std::vector<std::string> argv, ChildOptions options,
                                                         std::optional<std::chrono::milliseconds> timeout, std::size_t max_output = 64 << 20) = 0;
  // Starts `argv` with stdin from /dev/null and stdout and stderr both to `output_fd`, and
  // `env` in its environment over the daemon's own (the platform's variables, which the
  // engine's `--env=NAME` reads from there: never in an argv).
  virtual Result<std::unique_ptr<RunningProcess>> spawn(const std::vector<std::string>& argv, int output_fd,
                                                        const std::vector<EnvVar>& env) = 0;
};

// The real runner, on Boost.Process v2. Children start in `working_dir`: podman's conmon
// (2.1, Debian bookworm) drops an `oom` file into its working directory when a container
// is OOM-killed, and the daemon's own may be / or wherever an admin started it.
std::unique_ptr<CommandRunner> make_process_runner(asio::any_io_executor executor, std::string working_dir);

} // namespace jobman::daemon::engine
