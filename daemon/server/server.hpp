#pragma once
// The Unix socket: accepts connections and serves each with its own coroutine.
// One request at a time per connection; frames are capped; idle clients are dropped;
// a misbehaving client costs only its own connection.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <set>

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

  Daemon& m_daemon;
  asio::local::stream_protocol::acceptor m_acceptor;
  // Shared with each connection's coroutine frame: frames still suspended at shutdown are
  // destroyed with the io_context, after this Server.
  std::shared_ptr<std::set<Socket*>> m_connections = std::make_shared<std::set<Socket*>>();
};

} // namespace jobman::daemon::server
