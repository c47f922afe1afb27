#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <chrono>
#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

int wait_for(Client& client, const Global& global, const std::string& reference) {
  const bool tty = !global.json && stdout_is_tty(); // progress lines for people only
  const auto start = std::chrono::steady_clock::now();
  json result = client.request("wait", {{"job", reference}}, [&](const json& event) {
    if (!tty) return;
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    auto state = job_state_from_string(event.value("state", ""));
    std::cout << fmt::format("[{:>4}s] {}\n", elapsed, state ? paint_state(*state) : event.value("state", "?")) << std::flush;
  });
  Job job = protocol::job_from_json(result.at("job"));
  if (global.json) {
    print_json(result);
  } else {
    std::string why = !job.reason.empty() ? ": " + job.reason : job.exit_code ? fmt::format(" (exit code {})", *job.exit_code) : "";
    std::cout << fmt::format("Job {} ({}) {}{}\n", job.id, job.spec.name, paint_state(job.state), why);
  }
  return job.state == JobState::Succeeded ? exit_code::ok : exit_code::job_failed;
}

int wait(Client& client, const Global& global, const std::string& job) { return wait_for(client, global, job); }

} // namespace jobman::cli::commands
