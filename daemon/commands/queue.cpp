#include "common/array_spec.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/daemon.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>

namespace jobman::daemon::commands {

asio::awaitable<json> queue(CommandContext& ctx) {
  ctx.args.finish();
  const auto entries = ctx.daemon.store.queue_entries();
  const auto plan = ctx.daemon.scheduler.plan(entries);
  struct Counts {
    int running = 0, queued = 0, yours_running = 0, yours_queued = 0;
  };
  std::map<std::string, Counts> by_flavor;
  for (const auto& f : ctx.daemon.config.flavors) by_flavor[f.name]; // every flavor, busy or not
  std::map<JobId, const store::QueueEntry*> by_id;
  int running = 0, queued = 0;
  for (const auto& e : entries) {
    by_id[e.id] = &e;
    Counts& c = by_flavor[e.flavor];
    const bool mine = e.uid == ctx.peer.uid;
    if (e.state == JobState::Queued) {
      ++c.queued, ++queued;
      if (mine) ++c.yours_queued;
    } else {
      ++c.running, ++running;
      if (mine) ++c.yours_running;
    }
  }
  json flavors = json::array();
  for (const auto& [name, c] : by_flavor) {
    const Flavor* flavor = ctx.daemon.config.find_flavor(name);
    flavors.push_back({{"flavor", name}, {"running", c.running}, {"queued", c.queued}, {"yours_running", c.yours_running},
                       {"yours_queued", c.yours_queued}, {"slots", flavor ? flavor->slots : 0}});
  }
  json yours = json::array();
  // An array's queued elements are one row, at the place of the first to start, saying
  // what that one waits for.
  std::map<JobId, std::pair<std::size_t, std::vector<int>>> array_rows; // array -> (row, indices)
  for (const auto& p : plan.queued) {
    if (p.uid != ctx.peer.uid) continue;
    const auto* e = by_id.at(p.id);
    if (e->array_id) {
      const int index = e->array_index;
      if (auto row = array_rows.find(*e->array_id); row != array_rows.end()) {
        row->second.second.push_back(index);
        continue;
      }
      array_rows[*e->array_id] = {yours.size(), {index}};
    }
    yours.push_back({{"id", p.id}, {"name", e->name}, {"flavor", e->flavor}, {"position", p.position},
                     {"waits_for", p.waits_for ? json(to_string(*p.waits_for)) : json("nothing: starting")}, {"detail", p.detail}});
  }
  for (auto& [array, row] : array_rows) {
    json& item = yours[row.first];
    std::sort(row.second.begin(), row.second.end());
    const std::string name = item["name"].get<std::string>();
    item["name"] = fmt::format("{}[{}]", array_name(name), format_indices(row.second));
    item["array"] = {{"id", array}, {"queued", row.second.size()}};
  }
  // Handed to a batch system and not running yet: what it waits for there (Slurm's state
  // and reason, as the last poll saw them).
  if (ctx.daemon.backend->queues_jobs()) {
    for (const auto& e : entries) {
      if (e.uid != ctx.peer.uid || e.state != JobState::Starting) continue;
      auto job = ctx.daemon.store.get(e.id);
      if (!job) continue;
      yours.push_back({{"id", e.id}, {"name", e.name}, {"flavor", e.flavor}, {"position", 0}, {"waits_for", "slurm"},
                       {"detail", job->reason}, {"backend_id", job->backend_id}});
    }
  }
  co_return json{{"flavors", flavors},
                 {"yours", yours},
                 {"running", running},
                 {"queued", queued},
                 {"max_running", ctx.daemon.config.limits.max_running},
                 {"gpus", {{"total", ctx.daemon.gpus.total()}, {"free", ctx.daemon.gpus.free_count()}}}};
}

} // namespace jobman::daemon::commands
