#pragma once
// One function per CLI command. Each sends one request (two for submit --wait) and prints
// a table or, with --json, the daemon's result. Returns the process exit code.

#include "cli/client.hpp"
#include "cli/output.hpp"

#include <string>
#include <vector>

namespace jobman::cli::commands {

struct Global {
  bool json = false;
};
// With --json, prints `result` as the daemon sent it and returns true: the command is done.
inline bool printed_as_json(const Global& global, const json& result) {
  if (global.json) print_json(result);
  return global.json;
}

int images(Client& client, const Global& global);
int image_details(Client& client, const Global& global, const std::string& image);

struct SubmitOptions {
  std::string image;
  std::string name;
  bool replace_entrypoint = false;
  std::vector<std::string> env;  // -e KEY=VALUE, and KEY=VALUE words after a second "--"
  std::vector<std::string> args; // words after "--"
  bool dry_run = false;
  bool wait = false;
  std::string flavor;
  std::string time;
  int gpus = -1; // -1: the flavor's
  std::vector<std::string> after; // job names or ids; each may be a comma-separated list
  int priority = 0;
  int retries = 0;  // queued again this many times after LOST or an engine failure
  bool hold = false; // queued held, until `jobman release`
  std::string array; // --array 0-99%4: one job per index
  std::string notify; // --notify END,FAIL: words checked by jobmand (common/notify.hpp)
  std::string from; // a file of job specs: submit them all, or none
};
int submit(Client& client, const Global& global, const SubmitOptions& options);
// An array's counts by state, as "90 QUEUED, 4 RUNNING, 6 SUCCEEDED".
std::string format_array_states(const json& states);
// What jobmand wants the submitter to know (the default image used, what stays read-only), on stderr.
void print_notes(const Global& global, const json& result);

struct ResubmitOptions {
  std::string job;
  std::string flavor; // empty: the job's
  std::string time;   // empty: the job's time limit
  std::string name;   // empty: "<name>-r2"...
  bool latest_image = false;
  bool dry_run = false;
  bool wait = false;
};
int resubmit(Client& client, const Global& global, const ResubmitOptions& options);
// `jobman hold` (`held`) and `jobman release`: a queued job of yours.
int hold(Client& client, const Global& global, const std::string& job, bool held);

struct ListOptions {
  bool all_users = false;
  std::string state;
  int limit = 50;
  std::int64_t before = 0; // only jobs with a smaller id (0: from the newest)
  std::string array;       // only this array's jobs, each on a row of its own
};
int list(Client& client, const Global& global, const ListOptions& options);
int details(Client& client, const Global& global, const std::string& job);

struct LogsOptions {
  std::string job;
  bool follow = false;
  int tail = 0;
};
int logs(Client& client, const Global& global, const LogsOptions& options);
int remove(Client& client, const Global& global, const std::string& job, bool all);
int wait(Client& client, const Global& global, const std::string& job);
int resources_flavors(Client& client, const Global& global);
int queue(Client& client, const Global& global);
// Admin: removes leftover containers of ended jobs, and finished jobs' rows, events and
// logs older than `older_than` (default: retention.days).
int cleanup(Client& client, const Global& global, const std::string& older_than, bool dry_run);
// Usage report: ended jobs in a window, tallied (jobmand's defaults for what is left empty).
struct StatsOptions {
  std::string since, until; // as users type times (common/when.hpp)
  std::string user;
  std::string by; // user, flavor, image or state
};
int stats(Client& client, const Global& global, const StatsOptions& options);
// Reads `path`: a JSON array of job objects, or one JSON object per line (blank lines and
// lines starting with '#' skipped), with the keys of submit's flags. Throws ClientError
// naming the line or item and the key.
nlohmann::json read_job_specs(const std::string& path);
// Hidden `jobman __complete WHAT` for shell completions: one candidate per line for
// images, jobs (your job names), flavors or states; prints nothing on any error.
int complete(Client& client, const std::string& what);

// Shared by wait and submit --wait: follows `job` to its end; exit code 0 if it succeeded.
int wait_for(Client& client, const Global& global, const std::string& job);

} // namespace jobman::cli::commands
