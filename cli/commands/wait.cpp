#include "cli/commands/commands.hpp"
#include "cli/output.hpp"

#include <chrono>
#include <fmt/format.h>
#include <iostream>

namespace jobman::cli::commands {

namespace {
// "90 QUEUED, 4 RUNNING, 6 SUCCEEDED", in the order of the states' life.
std::string format_states(const json& states) {
  std::string out;
  for (const char* s : {"QUEUED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "OOM_KILLED", "LOST"})
    if (states.contains(s) && states[s].is_number_integer() && states[s].get<int>() > 0)
      out += fmt::format("{}{} {}", out.empty() ? "" : ", ", states[s].get<int>(), paint_state(*job_state_from_string(s)));
  return out.empty() ? "no jobs" : out;
}
} // namespace

std::string format_array_states(const json& states) { return format_states(states); }

int wait_for(Client& client, const Global& global, const std::string& reference) {
  const bool tty = !global.json && stdout_is_tty(); // progress lines for people only
  const auto start = std::chrono::steady_clock::now();
  json result = client.request("wait", {{"job", reference}}, [&](const json& event) {
    if (!tty) return;
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    if (event.contains("array")) { // a whole array: how many have ended
      std::cout << fmt::format("[{:>4}s] {} of {} ended: {}\n", elapsed, event.value("ended", 0), event.value("listed", 0),
                               format_states(event.value("states", json::object())))
                << std::flush;
      return;
    }
    auto state = job_state_from_string(event.value("state", ""));
    std::cout << fmt::format("[{:>4}s] {}\n", elapsed, state ? paint_state(*state) : event.value("state", "?")) << std::flush;
  });
  if (result.contains("array")) {
    const json& a = result["array"];
    const json not_ok = result.value("not_succeeded", json::array());
    if (global.json) {
      print_json(result);
    } else {
      std::cout << fmt::format("Array {}: {} jobs ended: {}\n", a.value("id", JobId{0}), a.value("listed", 0),
                               format_states(a.value("states", json::object())));
      for (const auto& e : not_ok)
        std::cout << fmt::format("  job {} (index {}) {}\n", e.value("id", JobId{0}), e.value("index", 0), e.value("state", "?"));
    }
    return not_ok.empty() ? exit_code::ok : exit_code::job_failed;
  }
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
