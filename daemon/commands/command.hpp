#pragma once
// What a command handler gets, and the table of commands with who may call them.

#include "common/protocol.hpp"
#include "daemon/server/peer_identity.hpp"

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <span>
#include <string_view>

namespace jobman::daemon {
struct Daemon;
}

namespace jobman::daemon::commands {

namespace asio = boost::asio;
using nlohmann::json;

struct CommandContext {
  Daemon& daemon;
  const server::PeerIdentity& peer;
  protocol::Args& args;
  // Sends an event frame for this request (streams: logs --follow, wait).
  std::function<asio::awaitable<void>(const json&)> emit;
};

enum class Access {
  AnyUser, // any local user; the handler limits them to their own jobs
  Admin,   // root or admin_group only
};

using Handler = asio::awaitable<json> (*)(CommandContext&);

struct Command {
  std::string_view op;
  Access access;
  Handler handler;
};

// Every op the daemon serves besides "hello" (handled by the connection itself).
std::span<const Command> command_table();
const Command* find_command(std::string_view op);

asio::awaitable<json> images(CommandContext& ctx);
asio::awaitable<json> image_details(CommandContext& ctx);
asio::awaitable<json> submit(CommandContext& ctx);
asio::awaitable<json> list(CommandContext& ctx);
asio::awaitable<json> details(CommandContext& ctx);
asio::awaitable<json> logs(CommandContext& ctx);
asio::awaitable<json> remove(CommandContext& ctx);
asio::awaitable<json> wait(CommandContext& ctx);
asio::awaitable<json> resources_flavors(CommandContext& ctx);
asio::awaitable<json> submit_batch(CommandContext& ctx);
asio::awaitable<json> queue(CommandContext& ctx);
asio::awaitable<json> cleanup(CommandContext& ctx);
asio::awaitable<json> stats(CommandContext& ctx);
asio::awaitable<json> resubmit(CommandContext& ctx);
asio::awaitable<json> hold(CommandContext& ctx);
asio::awaitable<json> release(CommandContext& ctx);

} // namespace jobman::daemon::commands
