#include "daemon/server/server.hpp"

#include "common/protocol.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"
#include "daemon/server/peer_identity.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <optional>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::server {

using boost::system::error_code;
using nlohmann::json;

namespace {

// Whether something answers on `path` (another jobmand).
bool is_live_socket(asio::any_io_executor executor, const std::string& path) {
  Socket probe(executor);
  error_code ec;
  probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  return !ec;
}

// Writes one frame; false when the client is gone.
asio::awaitable<bool> send(Socket& socket, const std::string& frame) {
  error_code ec;
  co_await asio::async_write(socket, asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

// Answers the handshake; throws Error(UnsupportedVersion) for another protocol version.
asio::awaitable<void> hello(Socket& socket, const PeerIdentity& peer, const protocol::Request& request) {
  protocol::Args args(request.args, request.op);
  auto version = args.optional_int("version", 0, 0, 1'000'000);
  args.optional_string("client");
  args.finish();
  if (version != protocol::k_version)
    throw Error(ErrorCode::UnsupportedVersion, fmt::format("protocol version {} is not supported; this jobmand speaks {}; "
                                                           "use a jobman client of the same release",
                                                           version, protocol::k_version));
  const json result = {{"version", protocol::k_version},
                       {"server", "jobmand " JOBMAN_VERSION},
                       {"user", peer.user},
                       {"uid", peer.uid},
                       {"admin", peer.admin}};
  const std::string frame = protocol::encode_result(request.id, result);
  if (!co_await send(socket, frame))
    throw boost::system::system_error(asio::error::broken_pipe);
}

} // namespace

Server::Server(Daemon& daemon) : m_daemon(daemon), m_acceptor(daemon.io) {}

void Server::start() {
  const auto& cfg = m_daemon.config.socket;
  namespace fs = std::filesystem;
  std::error_code fec;
  fs::create_directories(fs::path(cfg.path).parent_path(), fec);
  if (fs::exists(fs::symlink_status(cfg.path))) {
    if (is_live_socket(m_daemon.io.get_executor(), cfg.path))
      throw Error(ErrorCode::Unavailable, fmt::format("another jobmand is already listening on {}", cfg.path));
    if (!fs::is_socket(fs::symlink_status(cfg.path)))
      throw Error(ErrorCode::InvalidArgument, fmt::format("{} exists and is not a socket; refusing to replace it", cfg.path));
    fs::remove(cfg.path, fec);
  }
  asio::local::stream_protocol::endpoint endpoint(cfg.path);
  m_acceptor.open(endpoint.protocol());
  // Created private, then opened up: no window where the socket has the wrong mode.
  mode_t old = ::umask(0077);
  error_code ec;
  m_acceptor.bind(endpoint, ec);
  ::umask(old);
  if (ec) throw Error(ErrorCode::Unavailable, fmt::format("cannot bind {}: {}", cfg.path, ec.message()));
  if (!cfg.group.empty()) {
    group* g = ::getgrnam(cfg.group.c_str());
    if (!g) throw Error(ErrorCode::InvalidArgument, fmt::format("config socket.group: no group named '{}'", cfg.group));
    if (::chown(cfg.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
      throw Error(ErrorCode::Unavailable, fmt::format("cannot chown {}: {}", cfg.path, std::strerror(errno)));
  }
  if (::chmod(cfg.path.c_str(), cfg.mode) != 0)
    throw Error(ErrorCode::Unavailable, fmt::format("cannot chmod {}: {}", cfg.path, std::strerror(errno)));
  m_acceptor.listen(asio::socket_base::max_listen_connections);
  spawn_logged(m_daemon.io.get_executor(), accept_loop(), "accepting connections");
  log_info("listening on {}", cfg.path);
}

void Server::stop() {
  error_code ec;
  m_acceptor.close(ec);
  for (Socket* socket : *m_connections) socket->close(ec);
}

asio::awaitable<void> Server::accept_loop() {
  while (m_acceptor.is_open()) {
    error_code ec;
    Socket socket = co_await m_acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log_warn("accept failed: {}", ec.message());
      continue;
    }
    if (static_cast<int>(m_connections->size()) >= m_daemon.config.server.max_connections) {
      std::string frame = protocol::encode_error(0, {ErrorCode::Unavailable, "jobmand has too many open connections; try again shortly"});
      socket.write_some(asio::buffer(frame), ec);
      continue;
    }
    spawn_logged(m_daemon.io.get_executor(), serve(std::move(socket)), "connection");
  }
}

asio::awaitable<void> Server::serve(Socket socket) {
  m_connections->insert(&socket);
  struct Forget {
    std::shared_ptr<std::set<Socket*>> set;
    Socket* socket;
    ~Forget() { set->erase(socket); }
  } forget{m_connections, &socket};

  auto identity = peer_identity(socket.native_handle(), m_daemon.config.admin_group);
  if (!identity) co_return;
  const PeerIdentity& peer = *identity;

  using namespace asio::experimental::awaitable_operators;
  std::string buffer;
  bool greeted = false;
  asio::steady_timer idle(socket.get_executor());
  for (;;) {
    // Read one frame, or give up on an idle client.
    idle.expires_after(m_daemon.config.server.idle_timeout);
    error_code ec;
    auto dynamic = asio::dynamic_buffer(buffer, protocol::k_max_frame_bytes + 1);
    auto read = co_await (asio::async_read_until(socket, dynamic, '\n', asio::redirect_error(asio::use_awaitable, ec)) ||
                          idle.async_wait(asio::use_awaitable));
    if (read.index() == 1) {
      const std::string frame = protocol::encode_error(0, ErrorInfo{ErrorCode::Unavailable, "idle for too long; connection closed"});
      co_await send(socket, frame);
      co_return;
    }
    if (ec == asio::error::not_found) {
      const std::string frame = protocol::encode_error(
        0, ErrorInfo{ErrorCode::FrameTooLarge, fmt::format("frame exceeds the {} byte limit; connection closed", protocol::k_max_frame_bytes)});
      co_await send(socket, frame);
      co_return;
    }
    if (ec) co_return; // EOF or reset: the client went away
    std::size_t length = std::get<0>(read);
    std::string frame = buffer.substr(0, length - 1);
    buffer.erase(0, length);

    std::int64_t id = 0;
    std::optional<ErrorInfo> failure;
    bool close = false;
    try {
      protocol::Request request = protocol::parse_request(frame, &id);
      id = request.id;
      if (!greeted) {
        if (request.op != protocol::op::hello)
          throw Error(ErrorCode::BadRequest, "the first request must be \"hello\" with the protocol version");
        co_await hello(socket, peer, request);
        greeted = true;
        continue;
      }
      const commands::Command* command = commands::find_command(request.op);
      if (!command) throw Error(ErrorCode::BadRequest, fmt::format("unknown op \"{}\"", request.op));
      if (command->access == commands::Access::Admin && !peer.admin)
        throw Error(ErrorCode::PermissionDenied, fmt::format("{} is for root and the admin group", request.op));
      protocol::Args args(request.args, request.op);
      commands::CommandContext ctx{m_daemon, peer, args, [&socket, id](const json& event) -> asio::awaitable<void> {
                                     if (!co_await send(socket, protocol::encode_event(id, event)))
                                       throw boost::system::system_error(asio::error::broken_pipe);
                                   }};
      json result = co_await command->handler(ctx);
      if (!co_await send(socket, protocol::encode_result(id, result))) co_return;
    } catch (const Error& e) {
      failure = e.info();
      close = !greeted || e.code() == ErrorCode::UnsupportedVersion;
    } catch (const boost::system::system_error&) {
      co_return; // writing to a client that left
    } catch (const std::exception& e) {
      log_error("request {} from {}: {}", id, peer.user, e.what());
      failure = ErrorInfo{ErrorCode::Internal, "internal error; see jobmand's log"};
    }
    if (failure && socket.is_open()) co_await send(socket, protocol::encode_error(id, *failure));
    if (close) co_return;
  }
}

} // namespace jobman::daemon::server
