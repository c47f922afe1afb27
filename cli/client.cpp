#include "cli/client.hpp"

#include "common/printable.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace jobman::cli {

int exit_code_for(ErrorCode code) {
  switch (code) {
  case ErrorCode::BadRequest:
  case ErrorCode::InvalidArgument:
  case ErrorCode::Conflict:
  case ErrorCode::LimitExceeded:
  case ErrorCode::UnsupportedVersion:
  case ErrorCode::FrameTooLarge: return exit_code::usage;
  case ErrorCode::JobNotFound:
  case ErrorCode::ImageNotFound:
  case ErrorCode::Ambiguous: return exit_code::not_found;
  case ErrorCode::PermissionDenied:
  case ErrorCode::ImageRejected: return exit_code::permission;
  case ErrorCode::Unavailable: return exit_code::unreachable;
  case ErrorCode::EngineError:
  case ErrorCode::Internal: return exit_code::failure;
  }
  return exit_code::failure;
}

Client::Client(const std::string& socket_path) : m_socket_path(socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
    throw ClientError(ErrorCode::InvalidArgument, fmt::format("socket path '{}' is empty or too long", socket_path));
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_fd < 0) throw ClientError(ErrorCode::Unavailable, fmt::format("cannot create a socket: {}", std::strerror(errno)));
  if (::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(m_fd);
    m_fd = -1;
    throw ClientError(ErrorCode::Unavailable,
                      fmt::format("cannot reach jobmand at {}: {}. Is it running? Start it with "
                                  "`systemctl start jobmand` (or `jobmand --config FILE`), or point --socket / "
                                  "JOBMAN_SOCKET at the right socket",
                                  socket_path, std::strerror(err)));
  }
  m_hello = request(std::string(protocol::op::hello), {{"version", protocol::k_version}, {"client", "jobman " JOBMAN_VERSION}});
}

Client::~Client() {
  if (m_fd >= 0) ::close(m_fd);
}

void Client::write_all(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(m_fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      // jobmand may have refused the connection (too many, or idle) and closed it before
      // reading: its reason is waiting to be read.
      char chunk[65536];
      ssize_t got = ::recv(m_fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (got > 0) m_buffer.append(chunk, static_cast<std::size_t>(got));
      if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
        try {
          protocol::Reply reply = protocol::parse_reply(m_buffer.substr(0, nl));
          if (reply.kind == protocol::Reply::Kind::Error) throw ClientError(reply.error.code, reply.error.message);
        } catch (const ClientError&) {
          throw;
        } catch (const Error&) {
        }
      }
      throw ClientError(ErrorCode::Unavailable, fmt::format("lost the connection to jobmand: {}", std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
}

std::string Client::read_frame() {
  for (;;) {
    if (auto nl = m_buffer.find('\n'); nl != std::string::npos) {
      std::string frame = m_buffer.substr(0, nl);
      m_buffer.erase(0, nl + 1);
      return frame;
    }
    if (m_buffer.size() > protocol::k_max_reply_bytes) throw ClientError(ErrorCode::Internal, "jobmand sent an oversized reply");
    char chunk[65536];
    ssize_t n = ::recv(m_fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw ClientError(ErrorCode::Unavailable, "jobmand closed the connection (was it stopped or restarted?)");
    m_buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

namespace {
json escaped(const json& value) {
  if (value.is_string()) return escape_controls(value.get_ref<const std::string&>());
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(escaped(item));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) out[escape_controls(key)] = escaped(item);
    return out;
  }
  return value;
}
} // namespace

json Client::request(const std::string& op, const json& args, const std::function<void(const json&)>& on_event) {
  protocol::Request request{m_next_id++, op, args};
  std::string frame = protocol::encode_request(request);
  if (frame.size() > protocol::k_max_frame_bytes + 1)
    throw ClientError(ErrorCode::FrameTooLarge,
                      fmt::format("the request is {} bytes; jobmand accepts at most {}", frame.size(), protocol::k_max_frame_bytes));
  write_all(frame);
  for (;;) {
    protocol::Reply reply;
    try {
      reply = protocol::parse_reply(read_frame());
    } catch (const ClientError&) {
      throw;
    } catch (const Error& e) {
      throw ClientError(ErrorCode::Internal, fmt::format("jobmand sent an unreadable reply: {}", e.what()));
    }
    if (reply.kind == protocol::Reply::Kind::Error && reply.id == 0)
      throw ClientError(reply.error.code, reply.error.message); // connection-level error
    if (reply.id != request.id) continue;
    switch (reply.kind) {
    case protocol::Reply::Kind::Event:
      if (on_event) on_event(m_escape ? escaped(reply.body) : reply.body);
      break;
    case protocol::Reply::Kind::Result: return m_escape ? escaped(reply.body) : reply.body;
    case protocol::Reply::Kind::Error: throw ClientError(reply.error.code, reply.error.message);
    }
  }
}

} // namespace jobman::cli
