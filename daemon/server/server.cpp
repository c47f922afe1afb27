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
#include <poll.h>
#include <sys/socket.h>
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

// How long a client may take to read one frame: one that never reads must not hold its
// reply (and its connection) for ever.
constexpr std::chrono::seconds k_write_timeout{60};

// Writes one frame; false when the client is gone or did not read it in time.
asio::awaitable<bool> send(Socket& socket, const std::string& frame) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor(), k_write_timeout);
  error_code ec;
  auto written = co_await (asio::async_write(socket, asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec)) ||
                           timer.async_wait(asio::use_awaitable));
  if (written.index() == 1) {
    socket.close(ec);
    co_return false;
  }
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

// Reads one frame (up to '\n') into `frame`. The first byte may take up to `wait_for_start`;
// once a frame has begun, the whole of it must arrive within `frame_timeout`. Returns an
// error to send (the connection then closes), or nothing with `frame` set; `gone` when
// the client closed or reset the connection.
struct ReadOutcome {
  std::optional<ErrorInfo> error;
  bool gone = false;
};
asio::awaitable<ReadOutcome> read_frame(Socket& socket, std::string& buffer, std::string& frame, std::chrono::steady_clock::duration wait_for_start,
                                        std::chrono::steady_clock::duration frame_timeout, const char* waiting_for) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor());
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> frame_began;
  if (!buffer.empty()) frame_began = started;
  for (;;) {
    if (auto nl = buffer.find('\n'); nl != std::string::npos) {
      frame = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      co_return ReadOutcome{};
    }
    if (buffer.size() > protocol::k_max_frame_bytes)
      co_return ReadOutcome{ErrorInfo{ErrorCode::FrameTooLarge,
                                      fmt::format("frame exceeds the {} byte limit; connection closed", protocol::k_max_frame_bytes)}};
    timer.expires_at(frame_began ? *frame_began + frame_timeout : started + wait_for_start);
    char chunk[16384];
    error_code ec;
    auto read = co_await (socket.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec)) ||
                          timer.async_wait(asio::use_awaitable));
    if (read.index() == 1) {
      const std::string what = frame_began ? fmt::format("a frame did not arrive whole within {} s (server.frame_timeout)",
                                                          std::chrono::duration_cast<std::chrono::seconds>(frame_timeout).count())
                                           : fmt::format("no {} within {} s", waiting_for,
                                                         std::chrono::duration_cast<std::chrono::seconds>(wait_for_start).count());
      co_return ReadOutcome{ErrorInfo{ErrorCode::Unavailable, what + "; connection closed"}};
    }
    if (ec) co_return ReadOutcome{std::nullopt, true}; // EOF or reset: the client went away
    const std::size_t n = std::get<0>(read);
    if (n > 0 && !frame_began) frame_began = std::chrono::steady_clock::now();
    buffer.append(chunk, n);
  }
}

// Completes when the client closes its end while a request is served (a stream such as
// `wait` then stops within k_peer_check instead of holding the connection until the job
// changes). A timer, not a wait on the socket: asio cannot cancel a reactor wait on a
// Unix socket here, and `||` waits for the cancelled branch. Data from the client (a
// request sent ahead) is left for the next read.
constexpr std::chrono::milliseconds k_peer_check{200};
asio::awaitable<void> until_peer_closes(Socket& socket) {
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    timer.expires_after(k_peer_check);
    co_await timer.async_wait(asio::use_awaitable); // cancelled (throws) when the request ends
    // POLLHUP: the peer closed both directions. A client that only shut down its writing
    // side (socat, nc after stdin ends) still reads its reply; unread data changes nothing.
    pollfd p{socket.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) co_return;
  }
}

} // namespace

std::optional<std::string> Server::admit(const PeerIdentity& peer) {
  const auto& limits = m_daemon.config.server;
  // Every limit is per user: a uid with no account (a user namespace's subordinate uids,
  // say) would be a fresh user for each of them.
  if (!peer.known && peer.uid != 0)
    return fmt::format("uid {} has no account on this host (no passwd entry); jobmand serves only local users", peer.uid);
  const int total = static_cast<int>(m_connections->size()); // this one included
  const auto counted = m_per_uid->find(peer.uid);
  const int mine = counted == m_per_uid->end() ? 0 : counted->second;
  if (!peer.admin && total > limits.max_connections - limits.admin_reserve)
    return fmt::format("jobmand has too many open connections ({} of {}; the last {} are kept for administrators); try again shortly",
                       total - 1, limits.max_connections, limits.admin_reserve);
  if (!peer.admin && mine >= limits.max_connections_per_user)
    return fmt::format("you ({}) have {} connections open to jobmand, the most one user may (server.max_connections_per_user); "
                       "close some",
                       peer.user, mine);
  ++(*m_per_uid)[peer.uid];
  return std::nullopt;
}

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
  // GCC 12 destroys a temporary twice when an `if`-declared variable is used in a co_await
  // in its body (a double free, seen here): named locals only.
  const std::optional<std::string> refused = admit(peer);
  if (refused) {
    const std::string frame = protocol::encode_error(0, ErrorInfo{ErrorCode::LimitExceeded, *refused});
    co_await send(socket, frame);
    co_return;
  }
  struct Uncount {
    std::shared_ptr<std::map<std::uint32_t, int>> per_uid;
    std::uint32_t uid;
    ~Uncount() {
      if (--(*per_uid)[uid] <= 0) per_uid->erase(uid);
    }
  } uncount{m_per_uid, peer.uid};

  using namespace asio::experimental::awaitable_operators;
  std::string buffer;
  bool greeted = false;
  for (;;) {
    // A new client must say hello promptly; a greeted one may sit idle between requests.
    const auto& limits = m_daemon.config.server;
    std::string frame;
    auto read = co_await read_frame(socket, buffer, frame, greeted ? std::chrono::steady_clock::duration(limits.idle_timeout)
                                                                   : std::chrono::steady_clock::duration(limits.frame_timeout),
                                    limits.frame_timeout, greeted ? "request" : "hello");
    if (read.gone) co_return;
    if (read.error) {
      const std::string error_frame = protocol::encode_error(0, *read.error);
      co_await send(socket, error_frame);
      co_return;
    }

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
      // `||` waits for one branch to *succeed*: the handler's errors come back as a value,
      // or a failing request would wait for the client to leave.
      auto guarded = [](const commands::Command* c, commands::CommandContext& context) -> asio::awaitable<std::pair<json, std::exception_ptr>> {
        try {
          co_return std::pair<json, std::exception_ptr>{co_await c->handler(context), nullptr};
        } catch (...) {
          co_return std::pair<json, std::exception_ptr>{json{}, std::current_exception()};
        }
      };
      auto served = co_await (guarded(command, ctx) || until_peer_closes(socket));
      if (served.index() == 1) co_return; // the client left mid-request (a stream)
      auto& [result, error] = std::get<0>(served);
      if (error) std::rethrow_exception(error);
      if (!co_await send(socket, protocol::encode_result(id, result))) co_return;
    } catch (const Error& e) {
      failure = e.info();
      close = !greeted || e.code() == ErrorCode::UnsupportedVersion;
    } catch (const boost::system::system_error&) {
      co_return; // writing to a client that left
    } catch (const std::exception& e) {
      if (auto problem = store::database_problem(e)) {
        log_warn("request {} from {}: {}", id, peer.user, e.what());
        failure = *problem;
      } else {
        log_error("request {} from {}: {}", id, peer.user, e.what());
        failure = ErrorInfo{ErrorCode::Internal, "internal error; see jobmand's log"};
      }
    }
    if (failure && socket.is_open()) co_await send(socket, protocol::encode_error(id, *failure));
    if (close) co_return;
  }
}

} // namespace jobman::daemon::server
