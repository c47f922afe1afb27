#include "common/array_spec.hpp"
#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include "common/duration.hpp"
#include "common/size.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>

namespace jobman::cli::commands {

namespace {
// "a,b" -> a, b; a kind applies to the jobs after it: "any:a,b" -> any:a, any:b (as
// Slurm's afterany:1:2), "any:a,notok:b" -> any:a, notok:b.
std::vector<std::string> split_refs(const std::vector<std::string>& refs) {
  std::vector<std::string> out;
  for (const auto& ref : refs) {
    std::size_t start = 0;
    std::string kind;
    while (start <= ref.size()) {
      auto comma = ref.find(',', start);
      std::string part = ref.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (auto colon = part.find(':'); colon != std::string::npos) kind = part.substr(0, colon + 1);
      else if (!part.empty()) part = kind + part;
      if (!part.empty()) out.push_back(part);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

int submit_from(Client& client, const Global& global, const SubmitOptions& options) {
  json args = {{"jobs", read_job_specs(options.from)}};
  if (options.dry_run) args["dry_run"] = true;
  json result = client.request("submit_batch", args);
  print_notes(global, result);
  if (global.json) {
    print_json(result);
  } else if (options.dry_run) {
    const int count = result.value("count", 0);
    std::cout << fmt::format("Dry run: {} job{} in {} {} valid; nothing was queued\n", count, count == 1 ? "" : "s", options.from,
                             count == 1 ? "is" : "are");
  } else {
    const auto ids = result.at("ids").get<std::vector<JobId>>();
    std::cout << fmt::format("Submitted {} job{} from {}: {}\n", ids.size(), ids.size() == 1 ? "" : "s", options.from, fmt::join(ids, " "));
  }
  return exit_code::ok;
}
} // namespace

void print_notes(const Global& global, const json& result) {
  if (global.json || !result.contains("notes") || !result.at("notes").is_array()) return;
  for (const auto& note : result.at("notes"))
    if (note.is_string()) std::cerr << "jobman: note: " << note.get<std::string>() << "\n";
}

int submit(Client& client, const Global& global, const SubmitOptions& options) {
  if (!options.from.empty()) return submit_from(client, global, options);
  json args = {{"args", options.args}, {"env", options.env}};
  if (!options.image.empty()) args["image"] = options.image; // none: the platform's default
  if (!options.after.empty()) args["after"] = split_refs(options.after);
  if (options.priority != 0) args["priority"] = options.priority;
  if (options.retries > 0) args["retries"] = options.retries;
  if (options.hold) args["hold"] = true;
  if (!options.notify.empty()) args["notify"] = json::array({options.notify}); // a comma list: jobmand splits and checks it
  if (!options.array.empty()) args["array"] = options.array;
  if (!options.name.empty()) args["name"] = options.name;
  if (options.replace_entrypoint) args["replace_entrypoint"] = true;
  if (options.dry_run) args["dry_run"] = true;
  if (!options.flavor.empty()) args["flavor"] = options.flavor;
  if (!options.time.empty()) args["time"] = options.time;
  if (options.gpus >= 0) args["gpus"] = options.gpus;
  json result = client.request("submit", args);
  print_notes(global, result);
  Job job = protocol::job_from_json(result.at("job"));
  if (options.dry_run) {
    if (global.json) {
      print_json(result);
    } else {
      const Resources& r = job.spec.resources;
      std::cout << fmt::format("Dry run: job would run image {} ({}) as {} ({}:{})\n"
                               "Flavor {}: {:g} CPUs, {} memory, {} shm, {} GPU(s), time limit {}\n",
                               job.spec.image, job.spec.image_id, job.user, job.uid, job.gid, job.spec.flavor, r.cpus,
                               format_size(r.memory), format_size(r.shm), r.gpus, format_duration(std::chrono::seconds(r.time_limit)));
      for (const auto& m : job.spec.mounts)
        std::cout << fmt::format("Mount {} -> {} ({})\n", m.source, m.target, m.read_only ? "read-only" : "read-write");
      print_platform_env(result, "Platform env (set by jobmand when it starts):");
      if (r.gpus > 0)
        std::cout << fmt::format("GPUs: {} if it started now (devices are picked when it starts)\n", fmt::join(job.gpu_devices, ", "));
      if (result.contains("array"))
        std::cout << fmt::format("Array: {} jobs [{}]{}; the command of the first, index {}:\n", result["array"].value("count", 0),
                                 result["array"].value("indices", ""),
                                 result["array"].value("limit", 0) > 0 ? fmt::format(", at most {} at once", result["array"].value("limit", 0)) : "",
                                 job.array ? job.array->index : 0);
      std::cout << "Engine command:\n";
      for (const auto& word : job.argv) std::cout << "  " << word << "\n";
    }
    return exit_code::ok;
  }
  if (global.json && !options.wait) {
    print_json(result);
    return exit_code::ok;
  }
  if (result.contains("array")) {
    const json& a = result["array"];
    const std::string_view base = array_name(job.spec.name);
    const auto ids = a.value("ids", std::vector<JobId>{});
    if (!global.json)
      std::cout << fmt::format("Submitted array {} ({}[{}]): {} jobs, ids {} to {}{}, with image {}\n", a.value("id", JobId{0}), base,
                               a.value("indices", ""), ids.size(), ids.empty() ? 0 : ids.front(), ids.empty() ? 0 : ids.back(),
                               a.value("limit", 0) > 0 ? fmt::format(", at most {} at once", a.value("limit", 0)) : "", job.spec.image);
    if (!options.wait) return exit_code::ok;
    return wait_for(client, global, std::to_string(a.value("id", JobId{0})));
  }
  if (!global.json) std::cout << fmt::format("Submitted job {} ({}) with image {}\n", job.id, job.spec.name, job.spec.image);
  if (!options.wait) return exit_code::ok;
  return wait_for(client, global, std::to_string(job.id));
}

} // namespace jobman::cli::commands
