#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int resubmit(Client& client, const Global& global, const ResubmitOptions& options) {
  json args = {{"job", options.job}};
  if (!options.flavor.empty()) args["flavor"] = options.flavor;
  if (!options.time.empty()) args["time"] = options.time;
  if (!options.name.empty()) args["name"] = options.name;
  if (options.latest_image) args["latest_image"] = true;
  if (options.dry_run) args["dry_run"] = true;
  json result = client.request("resubmit", args);
  print_notes(global, result);
  if (global.json && !options.wait) {
    print_json(result);
    return exit_code::ok;
  }
  Job job = protocol::job_from_json(result.at("job"));
  if (!global.json) {
    if (options.dry_run)
      std::cout << fmt::format("Dry run: job {} would be resubmitted with image {} ({}), flavor {}; nothing was queued\n",
                               result.value("resubmit_of", JobId{0}), job.spec.image, job.spec.image_id, job.spec.flavor);
    else
      std::cout << fmt::format("Resubmitted job {} as job {} ({}) with image {}\n", result.value("resubmit_of", JobId{0}), job.id,
                               job.spec.name, job.spec.image);
  }
  if (!options.wait || options.dry_run) return exit_code::ok;
  return wait_for(client, global, std::to_string(job.id));
}

} // namespace jobman::cli::commands
