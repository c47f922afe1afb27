#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include "common/duration.hpp"
#include "common/size.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>

namespace jobman::cli::commands {

namespace {
// Quotes `word` for a POSIX shell when it needs it, so the printed command can be read
// (and copied) unambiguously.
std::string shell_quote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=,@%+") == std::string::npos)
    return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
// CPU time to the tenth of a second under a minute ("0.4s"), as durations are above.
std::string format_cpu_time(std::int64_t ms) {
  if (ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  return format_duration(std::chrono::seconds(ms / 1000));
}

// What the job used against what its flavor gave (the daemon's usage report), seff-style.
void print_usage(const json& usage, const Job& job) {
  if (!usage.is_object()) {
    if (is_terminal(job.state) && job.started_at) std::cout << "Usage:       not measured\n";
    return;
  }
  if (usage.contains("memory")) {
    const json& m = usage["memory"];
    std::string line = fmt::format("peak {}", format_size(m.value("peak", std::int64_t{0})));
    if (m.contains("percent")) line += fmt::format(" of {} ({}%)", format_size(m.value("limit", std::int64_t{0})), m.value("percent", 0));
    if (m.contains("peak_with_cache")) line += fmt::format("; {} with page cache", format_size(m.value("peak_with_cache", std::int64_t{0})));
    std::cout << "Memory:      " << line << "\n";
  }
  if (usage.contains("cpu")) {
    const json& c = usage["cpu"];
    const double cpus = c.value("cpus", 0.0);
    std::string line = fmt::format("{} over {} wall", format_cpu_time(c.value("used_ms", std::int64_t{0})), format_cpu_time(c.value("wall_ms", std::int64_t{0})));
    if (c.contains("percent")) line += fmt::format(" on {:g} CPU{} ({}%)", cpus, cpus == 1.0 ? "" : "s", c.value("percent", 0));
    std::cout << "CPU:         " << line << "\n";
  }
  if (!job.gpu_devices.empty()) std::cout << fmt::format("GPUs used:   {}\n", fmt::join(job.gpu_devices, ", "));
  for (const auto& hint : usage.value("hints", json::array()))
    if (hint.is_string()) std::cout << fmt::format("Hint:        {}\n", hint.get<std::string>());
}
// A whole array: what it is, its jobs' states, and a row for each.
int print_array(const json& result) {
  const json& a = result.at("array");
  Job first = protocol::job_from_json(result.at("job"));
  const int limit = a.value("limit", 0);
  std::cout << fmt::format("Array:       {} ({}[{}]), {} jobs{}\nUser:        {} ({}:{})\nImage:       {} ({})\nFlavor:      {}\nStates:      {}\n",
                           a.value("id", JobId{0}), a.value("name", ""), a.value("indices", ""), a.value("listed", 0),
                           limit > 0 ? fmt::format(", at most {} running at once", limit) : "", first.user, first.uid, first.gid,
                           first.spec.image, first.spec.image_id, first.spec.flavor, format_array_states(a.value("states", json::object())));
  std::cout << fmt::format("An element's details: jobman details -j {}[{}]\n\n", a.value("name", ""), first.array ? first.array->index : 0);
  Table table{{"ID", "INDEX", "STATE", "EXIT"}, {}};
  for (const auto& e : a.value("elements", json::array())) {
    auto state = job_state_from_string(e.value("state", ""));
    std::string shown = state ? paint_state(*state) : e.value("state", "?");
    if (e.value("held", false) && state == JobState::Queued) shown += " (held)";
    table.rows.push_back({std::to_string(e.value("id", JobId{0})), std::to_string(e.value("index", 0)), shown,
                          e.contains("exit_code") && e["exit_code"].is_number_integer() ? std::to_string(e["exit_code"].get<int>()) : "-"});
  }
  table.print();
  return exit_code::ok;
}
} // namespace

int details(Client& client, const Global& global, const std::string& reference) {
  json result = client.request("details", {{"job", reference}});
  if (printed_as_json(global, result)) return exit_code::ok;
  if (result.contains("array")) return print_array(result);
  Job job = protocol::job_from_json(result.at("job"));
  std::string command;
  for (const auto& word : job.argv) command += (command.empty() ? "" : " ") + shell_quote(word);
  std::cout << fmt::format("Id:          {}\nName:        {}\nUser:        {} ({}:{})\nImage:       {} ({})\nState:       {}{}\n"
                           "Exit code:   {}\nSubmitted:   {}\nStarted:     {}\nEnded:       {}\nRuntime:     {}\nContainer:   {}\n"
                           "Log size:    {}\n",
                           job.id, job.spec.name, job.user, job.uid, job.gid, job.spec.image, job.spec.image_id, paint_state(job.state),
                           job.reason.empty() ? "" : " (" + job.reason + ")", job.exit_code ? std::to_string(*job.exit_code) : "-",
                           format_time(job.submitted_at), format_time(job.started_at.value_or(0)), format_time(job.ended_at.value_or(0)),
                           format_elapsed(job), job.container, format_bytes(result.value("log_bytes", std::int64_t{0})));
  const Resources& r = job.spec.resources;
  std::cout << fmt::format("Flavor:      {} ({:g} CPUs, {} memory, {} shm, {} GPU(s))\nTime limit:  {}\n", job.spec.flavor, r.cpus,
                           format_size(r.memory), format_size(r.shm), r.gpus, format_duration(std::chrono::seconds(r.time_limit)));
  if (!job.gpu_devices.empty()) std::cout << fmt::format("GPUs:        {}\n", fmt::join(job.gpu_devices, ", "));
  if (!job.spec.after.empty()) {
    std::string after;
    for (const auto& dep : job.spec.after)
      after += fmt::format("{}job {} to {}", after.empty() ? "" : ", ", dep.id,
                           dep.kind == AfterKind::Ok ? "succeed" : dep.kind == AfterKind::Any ? "end" : "fail");
    std::cout << "After:       " << after << "\n";
  }
  if (job.held && job.state == JobState::Queued) std::cout << "Held:        yes: it starts once released (jobman release)\n";
  if (job.spec.retries > 0)
    std::cout << fmt::format("Attempt:     {} of {} (queued again after LOST or an engine failure)\n", job.attempt, job.spec.retries + 1);
  if (job.resubmit_of) std::cout << fmt::format("Resubmit of: job {}\n", *job.resubmit_of);
  if (!job.spec.notify.empty())
    std::cout << fmt::format("Notify:      {}{}\n", fmt::join(job.spec.notify, ","),
                             job.notified_at ? fmt::format(" (done {})", format_time(*job.notified_at)) : "");
  if (job.array)
    std::cout << fmt::format("Array:       index {} of array {} ({} jobs{})\n", job.array->index, job.array->id, job.array->count,
                             job.array->limit > 0 ? fmt::format(", at most {} at once", job.array->limit) : "");
  if (const auto as = result.value("resubmitted_as", std::vector<JobId>{}); !as.empty())
    std::cout << fmt::format("Resubmitted: as job {}\n", fmt::join(as, ", "));
  for (const auto& m : job.spec.mounts) {
    // Once started: what was really mounted (`origin`), pinned at a staging path.
    if (m.origin.empty())
      std::cout << fmt::format("Mount:       {} -> {} ({})\n", m.source, m.target, m.read_only ? "read-only" : "read-write");
    else
      std::cout << fmt::format("Mount:       {} -> {} ({}, pinned at {})\n", m.origin, m.target, m.read_only ? "read-only" : "read-write",
                               m.source);
  }
  if (!job.backend_id.empty() || !job.node.empty())
    std::cout << fmt::format("Slurm job:   {}{}\n", job.backend_id.empty() ? "-" : job.backend_id, job.node.empty() ? "" : " on node " + job.node);
  print_usage(result.value("usage", json(nullptr)), job);
  print_platform_env(result, "Platform env:");
  std::cout << fmt::format("Command:     {}\n", command);
  if (result.contains("backend") && result["backend"].is_object()) {
    std::string sbatch;
    for (const auto& word : result["backend"].value("sbatch", std::vector<std::string>{})) sbatch += (sbatch.empty() ? "" : " ") + shell_quote(word);
    if (!sbatch.empty()) std::cout << fmt::format("sbatch:      {}\n", sbatch);
  }
  std::cout << "Events:\n";
  for (const auto& event : result.value("events", json::array()))
    std::cout << fmt::format("  {}  {:<10} {}\n", format_time(event.value("at", TimePoint{0})), event.value("to", ""),
                             event.value("reason", ""));
  return exit_code::ok;
}

} // namespace jobman::cli::commands
