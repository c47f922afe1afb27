#include "cli/cli_main.hpp"

#include "cli/client.hpp"
#include "cli/commands/commands.hpp"
#include "common/json_depth.hpp"
#include "common/printable.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace jobman::cli {

namespace {

constexpr const char* k_default_socket = "/run/jobman/jobman.sock";
constexpr const char* k_version_line = "jobman version '" JOBMAN_VERSION "'";
// `jobman` alone: the version and CHAIMELEON's usage examples (its guide tells users to type it).
constexpr const char* k_banner = "jobman version '" JOBMAN_VERSION "'\n"
                                 "Type 'jobman --help' for every command and option, and 'man jobman' for more.\n"
                                 "\n"
                                 "Usage examples:\n"
                                 "  jobman images\n"
                                 "  jobman image-details -i ubuntu-python\n"
                                 "  jobman submit -i ubuntu-python -j job1 -r no-gpu -- python persistent-home/myScript.py\n"
                                 "  jobman list\n"
                                 "  jobman logs -j job1\n"
                                 "  jobman delete -j job1\n"
                                 "  jobman submit -i ubuntu-python:latest-cuda -r small-gpu -- nvidia-smi\n";

// Words after the first "--" go to the job; KEY=VALUE words after a second "--" become
// its environment. Split off before CLI11 sees argv.
struct SplitArgs {
  std::vector<std::string> cli;
  std::vector<std::string> job_args;
  std::vector<std::string> job_env;
  bool had_separator = false;
};

SplitArgs split_args(int argc, char** argv) {
  SplitArgs split;
  int i = 1;
  for (; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      split.had_separator = true;
      ++i;
      break;
    }
    split.cli.emplace_back(argv[i]);
  }
  bool env_part = false;
  for (; i < argc; ++i) {
    std::string word = argv[i];
    if (!env_part && word == "--") {
      env_part = true;
      continue;
    }
    if (env_part) {
      if (word.find('=') == std::string::npos || word.front() == '=')
        throw ClientError(ErrorCode::InvalidArgument,
                          fmt::format("after the second '--' every word must be KEY=VALUE (an environment variable); got '{}'", word));
      split.job_env.push_back(word);
    } else {
      split.job_args.push_back(word);
    }
  }
  return split;
}

// The command word of `words`: the first that is neither an option nor the value of a
// global option that takes one (-s, --settings, --socket).
std::optional<std::string> command_word(const std::vector<std::string>& words) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "-s" || word == "--settings" || word == "--socket") {
      ++i;
      continue;
    }
    if (!word.empty() && word.front() != '-') return word;
  }
  return std::nullopt;
}

// Levenshtein distance, for "did you mean".
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "unknown command 'log'; did you mean 'logs'?" for a command word no command has.
std::string unknown_command(const std::string& word, const std::vector<std::string>& commands) {
  std::string best;
  std::size_t best_distance = 3; // at most 2 edits away
  for (const auto& name : commands) {
    const std::size_t d = edit_distance(word, name);
    if (d < best_distance) best = name, best_distance = d;
  }
  if (!best.empty()) return fmt::format("unknown command '{}'; did you mean '{}'?", escape_controls(word), best);
  std::string all;
  for (const auto& name : commands) all += (all.empty() ? "" : ", ") + name;
  return fmt::format("unknown command '{}'; the commands are: {}", escape_controls(word), all);
}

// The socket to use: --socket, then the settings file given with -s, then JOBMAN_SOCKET,
// then the default. What is typed on the command line wins over the environment.
std::string socket_path(const std::string& flag, const std::string& settings_file) {
  if (!flag.empty()) return flag;
  if (!settings_file.empty()) {
    std::ifstream in(settings_file);
    if (!in) throw ClientError(ErrorCode::InvalidArgument, fmt::format("cannot read settings file {}", settings_file));
    std::stringstream text;
    text << in.rdbuf();
    if (auto problem = json_depth_problem(text.str()))
      throw ClientError(ErrorCode::InvalidArgument, fmt::format("settings file {}: {}", settings_file, *problem));
    auto settings = nlohmann::json::parse(text.str(), nullptr, false);
    if (settings.is_discarded() || !settings.is_object())
      throw ClientError(ErrorCode::InvalidArgument, fmt::format("settings file {} is not a JSON object", settings_file));
    for (const auto& [key, value] : settings.items()) {
      if (key != "socket") throw ClientError(ErrorCode::InvalidArgument, fmt::format("settings file {}: unknown key '{}'", settings_file, key));
      if (!value.is_string() || value.get<std::string>().empty())
        throw ClientError(ErrorCode::InvalidArgument, fmt::format("settings file {}: 'socket' must be a path", settings_file));
      return value.get<std::string>();
    }
  }
  if (const char* env = std::getenv("JOBMAN_SOCKET"); env && *env) return env;
  return k_default_socket;
}

// Errors quote what was typed and what jobmand says (names, paths): no escapes reach the terminal.
void print_error(const std::string& message) { std::cerr << "jobman: error: " << escape_controls(message) << "\n"; }

} // namespace

int cli_main(int argc, char** argv) {
  SplitArgs split;
  try {
    split = split_args(argc, argv);
  } catch (const ClientError& e) {
    print_error(e.what());
    return exit_code::usage;
  }

  CLI::App app{"jobman: run batch jobs from the platform's image catalogue in sandboxed containers."};
  app.name("jobman");
  app.footer("Arguments after '--' go to the image's entrypoint (with -c they replace it); KEY=VALUE words after a second '--' "
             "become environment variables.\nExit status: 0 ok, 1 job failed (wait), 2 usage or invalid request, 3 not found, "
             "4 permission denied, 5 daemon unreachable, 6 engine or internal error. See jobman(1).");
  app.require_subcommand(0, 1);
  app.fallthrough(); // global options may also follow the command: `jobman list --json`
  std::string settings, socket_flag;
  commands::Global global;
  bool version = false;
  app.add_option("-s,--settings", settings, "Client settings file (JSON: {\"socket\": PATH})");
  app.add_option("--socket", socket_flag, "jobmand socket (default: $JOBMAN_SOCKET or /run/jobman/jobman.sock)");
  app.add_flag("--json", global.json, "Print machine-readable JSON");
  app.add_flag("-v,--version", version, "Print the version and exit");

  app.add_subcommand("images", "List the image catalogue: names and versions");
  app.add_subcommand("resources-flavors", "List resource flavors: CPUs, memory, GPUs, maximum time");
  app.add_subcommand("queue", "Active jobs per flavor, and where each of your queued jobs stands");
  auto* cleanup = app.add_subcommand("cleanup", "Admin: remove leftover containers, and old finished jobs with their logs");
  std::string older_than;
  bool cleanup_dry_run = false;
  cleanup->add_option("--older-than", older_than, "Finished longer ago than this (default: retention.days), e.g. 30d");
  cleanup->add_flag("--dry-run", cleanup_dry_run, "Say what would be removed; remove nothing");

  auto* image_details = app.add_subcommand("image-details", "Show an image's labels, size, entrypoint and digest");
  std::string image_ref;
  image_details->add_option("-i,--image", image_ref, "Image NAME[:VERSION]")->required();

  auto* submit = app.add_subcommand("submit", "Submit a job: jobman submit -i IMAGE [options] [-- ARGS... [-- KEY=VALUE...]]");
  commands::SubmitOptions submit_options;
  auto* image_option = submit->add_option("-i,--image", submit_options.image, "Image NAME[:TAG|VERSION] from `jobman images`, or a full reference (default: the platform's images.default)");
  submit->add_option("-j,--job-name,--name", submit_options.name, "Name for the job (letters, digits, '_', '.', '-')");
  submit->add_flag("-c,--command", submit_options.replace_entrypoint, "The words after '--' replace the image's entrypoint");
  submit->add_option("-e,--env", submit_options.env, "Environment variable KEY=VALUE (repeatable)")->allow_extra_args(false);
  submit->add_option("-r,--resources-flavor", submit_options.flavor, "Resource flavor (see `jobman resources-flavors`; default: the admin's)");
  submit->add_option("-t,--time", submit_options.time, "Wall-time limit: 90s, 10m, 2h, 1d or HH:MM:SS (default and maximum set by the flavor)");
  submit->add_option("--gpus", submit_options.gpus, "Number of GPUs, up to the flavor's (default: the flavor's)")->check(CLI::Range(0, 64));
  submit->add_option("--after", submit_options.after, "Start only after these jobs (names or ids, comma-separated) succeeded; "
                                                      "any:JOB once it ended, notok:JOB once it ended otherwise");
  submit->add_option("--priority", submit_options.priority, "Order among your own queued jobs (-100 to 100, higher first; default 0)");
  submit->add_option("--retries", submit_options.retries, "Queue the job again up to N times if it is lost or the engine fails to run it "
                                                          "(not after its own failure; the platform sets the most)")->check(CLI::Range(0, 100));
  submit->add_option("--notify", submit_options.notify, "Have the platform tell you when the job ends: END (any end), FAIL (FAILED, "
                                                        "TIMEOUT, OOM_KILLED, LOST), TIMEOUT, ALL or NONE, comma-separated (Slurm's --mail-type)");
  submit->add_flag("--hold", submit_options.hold, "Queue the job held: it does not start until `jobman release`");
  submit->add_option("--array", submit_options.array, "An array: one job per index, as 0-99, 1,3,5-9 or 0-20:5, and %N to run at most N "
                                                      "at once; each gets JOBMAN_ARRAY_INDEX, and {index} in its args is replaced");
  submit->add_option("--from", submit_options.from, "Submit every job in FILE (JSON array or JSON lines), all or none")->excludes(image_option);
  submit->add_flag("--dry-run", submit_options.dry_run, "Validate and print the exact engine command; run nothing");
  submit->add_flag("--wait", submit_options.wait, "Wait for the job to end; exit status 0 only if it succeeded");

  auto* list = app.add_subcommand("list", "List your jobs, newest first");
  commands::ListOptions list_options;
  list->add_flag("--all-users", list_options.all_users, "Everyone's jobs (root and the admin group)");
  list->add_option("--state", list_options.state, "Only jobs in this state (e.g. RUNNING, FAILED)");
  list->add_option("--limit", list_options.limit, "At most this many jobs")->check(CLI::Range(1, 10000))->capture_default_str();
  list->add_option("--before", list_options.before, "Only jobs older than this id (the next page)")->check(CLI::PositiveNumber);
  list->add_option("--array", list_options.array, "Only this array's jobs (its id or name), one row each");

  std::string job_ref;
  auto* details = app.add_subcommand("details", "Everything known about a job, including its exact container command");
  details->add_option("-j,--job,--job-name", job_ref, "Job name or id")->required();

  auto* logs = app.add_subcommand("logs", "Print a job's output (stdout and stderr)");
  commands::LogsOptions logs_options;
  logs->add_option("-j,--job,--job-name", logs_options.job, "Job name or id")->required();
  logs->add_flag("-f,--follow", logs_options.follow, "Keep printing until the job ends");
  logs->add_option("--tail", logs_options.tail, "Only the last N lines")->check(CLI::Range(1, 100000000));

  auto* remove = app.add_subcommand("delete", "Cancel a job if it is active, and remove it from your list");
  bool delete_all = false;
  remove->add_option("-j,--job,--job-name", job_ref, "Job name or id");
  remove->add_flag("--all", delete_all, "All your jobs");

  auto* wait = app.add_subcommand("wait", "Wait until a job ends; exit status 0 only if it succeeded");
  wait->add_option("-j,--job,--job-name", job_ref, "Job name or id")->required();

  auto* resubmit = app.add_subcommand("resubmit", "Queue a new job with the spec of an earlier one (its image id, args, env, flavor)");
  commands::ResubmitOptions resubmit_options;
  resubmit->add_option("-j,--job,--job-name", resubmit_options.job, "The job to repeat: name or id")->required();
  resubmit->add_option("-r,--resources-flavor", resubmit_options.flavor, "Another resource flavor (default: the job's)");
  resubmit->add_option("-t,--time", resubmit_options.time, "Another wall-time limit (default: the job's)");
  resubmit->add_option("--name", resubmit_options.name, "Name for the new job (default: the job's name with -r2, -r3...)");
  resubmit->add_flag("--latest-image", resubmit_options.latest_image, "Run what the job's image name means now, not the image id it ran");
  resubmit->add_flag("--dry-run", resubmit_options.dry_run, "Validate and show what would be queued; queue nothing");
  resubmit->add_flag("--wait", resubmit_options.wait, "Wait for the new job to end; exit status 0 only if it succeeded");

  auto* hold = app.add_subcommand("hold", "Keep a queued job of yours from starting until `jobman release`");
  hold->add_option("-j,--job,--job-name", job_ref, "Job name or id")->required();
  auto* release = app.add_subcommand("release", "Let a held job start in its turn");
  release->add_option("-j,--job,--job-name", job_ref, "Job name or id")->required();

  auto* stats = app.add_subcommand("stats", "Usage report: your jobs that ended in a window (admins: everyone's), with CPU, GPU and memory");
  commands::StatsOptions stats_options;
  stats->add_option("--since", stats_options.since, "From this time: 2026-11-01, 2026-11-01T08:30, 30d (ago), all (default: 30 days ago)");
  stats->add_option("--until", stats_options.until, "Up to this time, same forms (default: now)");
  stats->add_option("-u,--user", stats_options.user, "Only this user's jobs (a name or uid; others' are for root and the admin group)");
  stats->add_option("--by", stats_options.by, "One row per user, flavor, image or state")->check(CLI::IsMember({"user", "flavor", "image", "state"}));

  auto* complete = app.add_subcommand("__complete", "")->group(""); // hidden: shell completions
  std::string complete_what;
  complete->add_option("what", complete_what)->required();

  if (auto word = command_word(split.cli)) {
    std::vector<std::string> commands;
    for (const CLI::App* command : app.get_subcommands([](CLI::App* c) { return !c->get_group().empty(); }))
      commands.push_back(command->get_name());
    if (std::find(commands.begin(), commands.end(), *word) == commands.end() && *word != "__complete") {
      print_error(unknown_command(*word, commands));
      std::cerr << "Run 'jobman --help' for usage.\n";
      return exit_code::usage;
    }
  }
  try {
    std::vector<std::string> reversed(split.cli.rbegin(), split.cli.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what());
    std::cerr << "Run 'jobman --help' (or 'jobman COMMAND --help') for usage.\n";
    return exit_code::usage;
  }
  if (version) {
    std::cout << k_version_line << "\n";
    return exit_code::ok;
  }
  if (app.get_subcommands().empty()) {
    // As CHAIMELEON's jobman: its users are told to type `jobman` for these.
    std::cout << k_banner;
    return exit_code::ok;
  }
  const bool is_submit = submit->parsed();
  if (split.had_separator && !is_submit) {
    print_error("'--' and the words after it are only for submit");
    return exit_code::usage;
  }
  if (is_submit && !submit_options.from.empty()) {
    const auto& o = submit_options;
    if (split.had_separator || !o.name.empty() || o.replace_entrypoint || !o.env.empty() || !o.flavor.empty() || !o.time.empty() ||
        o.gpus >= 0 || !o.after.empty() || o.priority != 0 || o.retries != 0 || o.hold || o.wait || !o.array.empty() ||
        !o.notify.empty()) {
      print_error("--from takes every job's settings from the file; only --dry-run may go with it");
      return exit_code::usage;
    }
  }
  if (remove->parsed() && delete_all == !job_ref.empty()) {
    print_error("delete needs either -j JOB or --all");
    return exit_code::usage;
  }

  if (complete->parsed()) {
    try {
      Client client(socket_path(socket_flag, settings));
      return commands::complete(client, complete_what);
    } catch (const std::exception&) {
      return exit_code::ok;
    }
  }

  try {
    Client client(socket_path(socket_flag, settings));
    client.escape_text(!global.json);
    if (app.got_subcommand("images")) return commands::images(client, global);
    if (app.got_subcommand("resources-flavors")) return commands::resources_flavors(client, global);
    if (app.got_subcommand("queue")) return commands::queue(client, global);
    if (cleanup->parsed()) return commands::cleanup(client, global, older_than, cleanup_dry_run);
    if (image_details->parsed()) return commands::image_details(client, global, image_ref);
    if (is_submit) {
      submit_options.args = split.job_args;
      submit_options.env.insert(submit_options.env.end(), split.job_env.begin(), split.job_env.end());
      return commands::submit(client, global, submit_options);
    }
    if (list->parsed()) return commands::list(client, global, list_options);
    if (details->parsed()) return commands::details(client, global, job_ref);
    if (logs->parsed()) return commands::logs(client, global, logs_options);
    if (remove->parsed()) return commands::remove(client, global, job_ref, delete_all);
    if (wait->parsed()) return commands::wait(client, global, job_ref);
    if (stats->parsed()) return commands::stats(client, global, stats_options);
    if (resubmit->parsed()) return commands::resubmit(client, global, resubmit_options);
    if (hold->parsed()) return commands::hold(client, global, job_ref, true);
    if (release->parsed()) return commands::hold(client, global, job_ref, false);
  } catch (const ClientError& e) {
    print_error(e.what());
    return exit_code_for(e.code());
  } catch (const Error& e) {
    print_error(e.what());
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_code::failure;
  }
  return exit_code::usage;
}

} // namespace jobman::cli
