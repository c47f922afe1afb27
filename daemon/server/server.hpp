#pragma once
// The Unix socket: accepts connections and serves each with its own coroutine.
// One request at a time per connection; frames are capped; idle clients are dropped;
// a misbehaving client costs only its own connection.

#include "daemon/server/peer_identity.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace jobman::daemon {
struct Daemon;
}

namespace jobman::daemon::server {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

class Server {
public:
  explicit Server(Daemon& daemon);
  // Binds the socket (replacing a stale one, refusing a live one) and starts accepting.
  // Throws Error when the socket cannot be set up.
  void start();
  // Stops accepting and closes every connection.
  void stop();

private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(Socket socket);
  // Why `peer` may not have another connection now, or nothing (and then it is counted).
  std::optional<std::string> admit(const PeerIdentity& peer);

  Daemon& m_daemon;
  asio::local::stream_protocol::acceptor m_acceptor;
  // Shared with each connection's coroutine frame: frames still suspended at shutdown are
  // destroyed with the io_context, after this Server.
  std::shared_ptr<std::set<Socket*>> m_connections = std::make_shared<std::set<Socket*>>();
  // Open connections per uid, for server.max_connections_per_user (shared likewise).
  std::shared_ptr<std::map<std::uint32_t, int>> m_per_uid = std::make_shared<std::map<std::uint32_t, int>>();
};

} // namespace jobman::daemon::server
