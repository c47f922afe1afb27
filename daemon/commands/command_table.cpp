#include "daemon/commands/command.hpp"

#include <array>

namespace jobman::daemon::commands {

namespace {
namespace op = protocol::op;
constexpr std::array k_commands{
  Command{op::images, Access::AnyUser, &images},
  Command{op::image_details, Access::AnyUser, &image_details},
  Command{op::submit, Access::AnyUser, &submit},
  Command{op::list, Access::AnyUser, &list},
  Command{op::details, Access::AnyUser, &details},
  Command{op::logs, Access::AnyUser, &logs},
  Command{op::remove, Access::AnyUser, &remove},
  Command{op::wait, Access::AnyUser, &wait},
  Command{op::resources_flavors, Access::AnyUser, &resources_flavors},
  Command{op::submit_batch, Access::AnyUser, &submit_batch},
  Command{op::queue, Access::AnyUser, &queue},
  Command{op::cleanup, Access::Admin, &cleanup},
  Command{op::stats, Access::AnyUser, &stats},
  Command{op::resubmit, Access::AnyUser, &resubmit},
  Command{op::hold, Access::AnyUser, &hold},
  Command{op::release, Access::AnyUser, &release},
};
} // namespace

std::span<const Command> command_table() { return k_commands; }

const Command* find_command(std::string_view name) {
  for (const auto& command : k_commands)
    if (command.op == name) return &command;
  return nullptr;
}

} // namespace jobman::daemon::commands
