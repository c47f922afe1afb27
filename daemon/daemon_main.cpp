#include "common/config.hpp"
#include "common/errors.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_check.hpp"
#include "daemon/backend/local_backend.hpp"
#include "daemon/backend/slurm_backend.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"
#include "daemon/node_helper.hpp"
#include "daemon/server/server.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/detached.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <grp.h>
#include <sys/stat.h>

namespace jobman::daemon {

namespace {

// Creates `path` (and parents) if needed and makes it root-only: it holds every user's
// job history and output.
void ensure_private_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error(ErrorCode::Unavailable, fmt::format("cannot create {}: {}", path, ec.message()));
  if (::chmod(path.c_str(), 0700) != 0) throw Error(ErrorCode::Unavailable, fmt::format("cannot chmod {}: {}", path, std::strerror(errno)));
}

// GPUs jobs may use: gpus.devices, or with "auto" what `nvidia-smi -L` lists (none when
// nvidia-smi is missing or fails).
boost::asio::awaitable<void> capture_into(engine::CommandRunner& runner, std::vector<std::string> argv,
                                          std::optional<Result<engine::Captured>>& out) {
  out = co_await runner.capture(std::move(argv), std::chrono::seconds(30));
}

std::vector<std::string> detect_gpus(boost::asio::io_context& io, const Config& config, engine::CommandRunner& runner) {
  if (!config.gpus.autodetect) return config.gpus.devices;
  std::optional<Result<engine::Captured>> captured;
  boost::asio::co_spawn(io, capture_into(runner, {"nvidia-smi", "-L"}, captured), boost::asio::detached);
  io.run(); // before anything else is set up: runs just this
  io.restart();
  if (!captured) return {};
  auto& result = *captured;
  if (!result || !result->status.success()) {
    log_info("gpus.devices is \"auto\" and nvidia-smi {}: no GPUs", result ? "failed" : "is not installed");
    return {};
  }
  auto devices = scheduler::parse_nvidia_smi_list(result->out);
  log_info("nvidia-smi lists {} GPU(s)", devices.size());
  return devices;
}

// The engine check, run to completion on `io` before anything else is set up.
backend::EngineReport check_engine(boost::asio::io_context& io, const Config& config, engine::CommandRunner& runner) {
  std::optional<backend::EngineReport> report;
  boost::asio::co_spawn(
    io, [&]() -> boost::asio::awaitable<void> { report = co_await backend::check_engine(config.engine, runner); }, boost::asio::detached);
  io.run();
  io.restart();
  return report.value_or(backend::EngineReport{{{true, "the engine check did not finish"}}, ""});
}

// A mount template is only as safe as the directory holding its first placeholder: if
// others may create entries there, one user could plant a symlink in another's place.
void warn_about_writable_template_roots(const Config& config) {
  for (const auto& t : config.mounts) {
    auto brace = t.source.find('{');
    if (brace == std::string::npos) continue;
    std::string parent = t.source.substr(0, t.source.rfind('/', brace));
    if (parent.empty()) parent = "/";
    struct stat st {};
    if (::stat(parent.c_str(), &st) == 0 && ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0)))
      log_warn("mount template {}: {} is writable by other users, who could plant symlinks where users' directories "
               "should be; make it writable by root only",
               t.source, parent);
  }
}

Config checked(Config config, const std::string& path) {
  if (auto problem = backend::run_args_problem(config.engine.run_args))
    throw Error(ErrorCode::InvalidArgument, fmt::format("config {}: {}", path, *problem));
  return config;
}

Config load_checked(const std::string& path) {
  Config config = checked(load_config(path), path);
  if (const char* socket = std::getenv("JOBMAN_SOCKET"); socket && *socket) {
    if (socket[0] != '/' || std::strlen(socket) >= 108)
      throw Error(ErrorCode::InvalidArgument, "JOBMAN_SOCKET must be an absolute path of at most 107 bytes");
    config.socket.path = socket;
  }
  return config;
}

// SIGHUP: limits, flavors, images, mounts and engine args take effect for jobs that start
// from now on; running and queued jobs stay. What the daemon was started with (socket,
// state dir, GPU devices) needs a restart. A config that does not validate changes nothing.
void reload(Daemon& daemon, const std::string& path) {
  try {
    Config fresh = load_checked(path);
    const Config& old = daemon.config;
    if (fresh.socket.path != old.socket.path || fresh.socket.mode != old.socket.mode || fresh.socket.group != old.socket.group ||
        fresh.state_dir != old.state_dir || fresh.gpus.devices != old.gpus.devices || fresh.gpus.autodetect != old.gpus.autodetect)
      log_warn("reload: socket, state_dir and gpus take effect only at the next start; keeping the current ones");
    if (fresh.backend.kind != old.backend.kind) log_warn("reload: backend.kind takes effect only at the next start; keeping {}", to_string(old.backend.kind));
    fresh.backend.kind = old.backend.kind;
    fresh.socket = old.socket;
    fresh.state_dir = old.state_dir;
    fresh.gpus = old.gpus;
    for (const auto& flavor : fresh.flavors)
      if (fresh.backend.kind == BackendKind::Local && flavor.gpus > daemon.gpus.total())
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("flavor '{}' asks for {} GPUs; this jobmand has {}", flavor.name, flavor.gpus, daemon.gpus.total()));
    if (!fresh.admin_group.empty() && !::getgrnam(fresh.admin_group.c_str()))
      log_warn("admin_group '{}' does not exist: only root is an admin", fresh.admin_group);
    warn_about_writable_template_roots(fresh);
    daemon.config = std::move(fresh); // components hold references into it
    daemon.catalogue.invalidate();
    log_info("reload: configuration from {} applied ({} flavors, max_running {})", path, daemon.config.flavors.size(),
             daemon.config.limits.max_running);
    daemon.scheduler.schedule();
  } catch (const std::exception& e) {
    log_error("reload: {}; keeping the current configuration", e.what());
  }
}

std::unique_ptr<backend::Backend> make_backend(boost::asio::io_context& io, const Config& config, engine::CommandRunner& runner,
                                              const std::string& instance) {
  if (config.backend.kind == BackendKind::Local) return std::make_unique<backend::LocalBackend>(config, runner);
  auto slurm = std::make_unique<backend::SlurmBackend>(io.get_executor(), config, runner, instance);
  if (auto installed = slurm->install_script(); !installed) throw Error(installed.error().code, installed.error().message);
  return slurm;
}

// `slurm` answers: sbatch is there and slurmctld is up (--check-config, and at start).
std::vector<std::string> check_slurm(boost::asio::io_context& io, const Config& config, engine::CommandRunner& runner) {
  std::vector<std::string> problems;
  if (config.backend.kind != BackendKind::Slurm) return problems;
  const SlurmConfig& s = config.backend.slurm;
  boost::asio::co_spawn(
    io,
    [&]() -> boost::asio::awaitable<void> {
      for (std::vector<std::string> argv : {std::vector<std::string>{s.sbatch, "--version"}, {s.squeue, "--noheader", "--format=%i", "--states=PENDING"},
                                            {s.scontrol, "ping"}}) {
        const std::string what = argv[0] + " " + argv[1];
        auto result = co_await runner.capture(std::move(argv), config.engine.command_timeout);
        if (!result) problems.push_back(fmt::format("'{}': {}", what, result.error().message));
        else if (!result->status.success())
          problems.push_back(fmt::format("'{}' failed: {}", what, result->err.empty() ? result->out : result->err));
        else if (what.find("ping") != std::string::npos && result->out.find("is UP") == std::string::npos)
          problems.push_back(fmt::format("'{}': slurmctld is not up: {}", what, result->out));
      }
    },
    boost::asio::detached);
  io.run();
  io.restart();
  for (auto& p : problems) {
    while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
    std::replace(p.begin(), p.end(), '\n', ' ');
  }
  return problems;
}

} // namespace

Daemon::Daemon(boost::asio::io_context& io_context, Config cfg)
  : io(io_context),
    config(std::move(cfg)),
    store((ensure_private_dir(config.state_dir), ensure_private_dir(config.state_dir + "/logs"), config.state_dir + "/jobman.db")),
    inserts(io.get_executor(), store),
    runner((ensure_private_dir(config.state_dir + "/engine"), engine::make_process_runner(io.get_executor(), config.state_dir + "/engine"))),
    backend(make_backend(io, config, *runner, store.instance())),
    notifier(io.get_executor(), config, store, *runner),
    log_watch(io.get_executor(), watch),
    gpus(detect_gpus(io, config, *runner)),
    scheduler(io.get_executor(), config, store, *backend, watch, gpus),
    catalogue(config.images, *backend),
    homes(config, *runner, store.instance()),
    reports(config.state_dir + "/jobman.db") {
  scheduler.use_image_homes(homes, catalogue);
  inserts.after_commit([this] { return scheduler.queued(); });
  scheduler.use_notifier(notifier);
}

int daemon_main(int argc, char** argv) {
  // The batch script's `--node-exec ENV COMMAND...`: the command's words are not options.
  if (argc >= 3 && std::string_view(argv[1]) == "--node-exec")
    return node_exec_main(argv[2], std::vector<std::string>(argv + 3, argv + argc));
  CLI::App app{"jobmand: the jobman daemon. Runs users' batch jobs in sandboxed containers."};
  std::string config_path = "/etc/jobman/jobman.json";
  bool foreground = false;
  bool check_only = false;
  bool version = false;
  std::string node_stage, node_unstage;
  std::vector<std::string> node_usage;
  app.add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
  app.add_flag("-f,--foreground", foreground, "Run in the foreground (jobmand always does; for systemd and scripts)");
  app.add_flag("--check-config", check_only, "Validate the configuration, print the effective settings and exit");
  app.add_flag("-v,--version", version, "Print the version and exit");
  auto* stage_option = app.add_option("--node-stage", node_stage, "On a Slurm node (jobman's batch script): pin a job's mounts from its plan file");
  auto* unstage_option =
    app.add_option("--node-unstage", node_unstage, "On a Slurm node (jobman's batch script): remove a job's pinned mounts")->excludes(stage_option);
  app.add_option("--node-usage", node_usage, "On a Slurm node (jobman's batch script): sample a container's cgroup (PID ID NAME)")
    ->expected(3)
    ->excludes(stage_option)
    ->excludes(unstage_option);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "jobmand: error: " << e.what() << "\nRun 'jobmand --help' for usage.\n";
    return 2;
  }
  if (version) {
    std::cout << "jobmand " JOBMAN_VERSION "\n";
    return 0;
  }
  if (!node_stage.empty()) return node_stage_main(node_stage);
  if (!node_unstage.empty()) return node_unstage_main(node_unstage);
  if (!node_usage.empty()) return node_usage_main(node_usage[0], node_usage[1], node_usage[2]);

  try {
    Config config = load_checked(config_path);
    if (check_only) {
      std::cout << config_to_json(config) << "\n";
      boost::asio::io_context io;
      auto runner = engine::make_process_runner(io.get_executor(), "/");
      auto report = check_engine(io, config, *runner);
      for (const auto& problem : report.problems)
        std::cerr << "jobmand: " << (problem.fatal ? "error" : "warning") << ": engine: " << problem.message << "\n";
      if (report.ok()) std::cerr << "jobmand: engine ok: " << report.summary << "\n";
      auto slurm = check_slurm(io, config, *runner);
      for (const auto& problem : slurm) std::cerr << "jobmand: error: slurm: " << problem << "\n";
      if (config.backend.kind == BackendKind::Slurm && slurm.empty()) std::cerr << "jobmand: slurm ok: sbatch, squeue and scontrol ping answer\n";
      return report.ok() && slurm.empty() ? 0 : 1;
    }
    std::signal(SIGPIPE, SIG_IGN);
    warn_about_writable_template_roots(config);
    if (!config.admin_group.empty() && !::getgrnam(config.admin_group.c_str()))
      log_warn("admin_group '{}' does not exist: only root is an admin", config.admin_group);
    boost::asio::io_context io;
    // Signals are handled in the event loop; the one other thread (store::ReportThread)
    // blocks them all, so asio's handler sees every SIGTERM/SIGINT/SIGHUP sent to the process.
    boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
    Daemon daemon(io, std::move(config));
    // Before any job can fail for it: say what is missing (the daemon still serves, and
    // jobs then fail with the engine's own words).
    auto engine_report = check_engine(io, daemon.config, *daemon.runner);
    for (const auto& problem : engine_report.problems) {
      if (problem.fatal) log_error("engine: {}; jobs will fail until this is fixed", problem.message);
      else log_warn("engine: {}", problem.message);
    }
    if (engine_report.ok()) log_info("engine: {}", engine_report.summary);
    for (const auto& problem : check_slurm(io, daemon.config, *daemon.runner))
      log_error("slurm: {}; jobs handed to Slurm wait until it answers", problem);
    server::Server server(daemon);
    server.start();
    // Only now (a second jobmand on the same state dir stopped at the socket above): the
    // image homes' cache lives in memory, so an earlier jobmand's copies and probes go.
    daemon.homes.clear_cache_dir();
    spawn_logged(io.get_executor(), daemon.homes.remove_leftover_probes(), "removing leftover probe containers");
    daemon.notifier.recover(); // first: ends the scheduler's recovery records are notified as they happen
    daemon.scheduler.recover();
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload(daemon, config_path);
        signals.async_wait(on_signal);
        return;
      }
      log_info("signal {}: shutting down; running containers keep running and are re-adopted at the next start", signal);
      server.stop();
      daemon.scheduler.shutdown();
      daemon.notifier.shutdown();
      io.stop();
    };
    signals.async_wait(on_signal);
    log_info("jobmand {} ready (backend {}, engine {}, state {})", JOBMAN_VERSION, to_string(daemon.config.backend.kind), daemon.config.engine.binary,
             daemon.config.state_dir);
    io.run();
    log_info("stopped");
    return 0;
  } catch (const Error& e) {
    std::cerr << "jobmand: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "jobmand: error: " << e.what() << "\n";
    return 1;
  }
}

} // namespace jobman::daemon
