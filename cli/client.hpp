#pragma once
// A blocking client for jobmand's socket: connect, hello, then one request at a time.

#include "common/errors.hpp"
#include "common/protocol.hpp"

#include <functional>
#include <string>

namespace jobman::cli {

using nlohmann::json;

// An error to show the user, with the exit code jobman(1) documents for it.
class ClientError : public Error {
public:
  ClientError(ErrorCode code, const std::string& message) : Error(code, message) {}
};

// Exit codes (jobman(1) EXIT STATUS).
namespace exit_code {
constexpr int ok = 0;
constexpr int job_failed = 1;
constexpr int usage = 2;
constexpr int not_found = 3;
constexpr int permission = 4;
constexpr int unreachable = 5;
constexpr int failure = 6;
} // namespace exit_code

int exit_code_for(ErrorCode code);

class Client {
public:
  // Connects to `socket_path` and performs the hello handshake.
  // Throws ClientError(Unavailable) with a hint when the daemon is not there.
  explicit Client(const std::string& socket_path);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `op` with `args`; calls `on_event` for each event frame; returns the result.
  // Throws ClientError with the daemon's code and message on an error reply.
  json request(const std::string& op, const json& args, const std::function<void(const json&)>& on_event = {});
  const json& hello() const { return m_hello; }
  // With `on`, every string in results and events comes back with control characters
  // escaped (escape_controls): for people's terminals, where users' args, env, names and
  // reasons must not carry escape sequences. Off for --json and for job logs.
  void escape_text(bool on) { m_escape = on; }

private:
  std::string read_frame();
  void write_all(const std::string& data);

  int m_fd = -1;
  std::string m_socket_path;
  std::string m_buffer;
  std::int64_t m_next_id = 1;
  json m_hello;
  bool m_escape = false;
};

} // namespace jobman::cli
