#pragma once
// jobmand configuration (/etc/jobman/jobman.json), validated at load with errors naming the key.
// jobman.json(5) documents every key; keep it in step.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace jobman {

enum class EngineKind { Podman, Docker };
std::string_view to_string(EngineKind kind);

struct SocketConfig {
  std::string path = "/run/jobman/jobman.sock";
  mode_t mode = 0666;
  std::string group; // empty: leave the socket's group as created
};

struct EngineConfig {
  EngineKind kind = EngineKind::Podman;
  std::string binary = "podman";
  std::vector<std::string> global_args; // before the subcommand
  std::vector<std::string> run_args;    // after "run", before jobman's own flags
};

struct ImagesConfig {
  std::vector<std::string> repositories = {"localhost/"};
  std::vector<std::string> required_labels = {"name", "version"};
  std::chrono::seconds refresh{30}; // how long the catalogue is cached
};

struct LimitsConfig {
  int max_running = 2;
  int pids = 1024;
  std::chrono::seconds kill_grace{10};
};

struct ServerConfig {
  int max_connections = 256;
  std::chrono::seconds idle_timeout{60};
};

struct Config {
  SocketConfig socket;
  std::string admin_group; // empty: only root is admin
  std::string state_dir = "/var/lib/jobman";
  EngineConfig engine;
  ImagesConfig images;
  LimitsConfig limits;
  ServerConfig server;
};

// Parses and validates `text`. Throws Error(InvalidArgument) naming `source` and the key.
Config parse_config(std::string_view text, std::string_view source);
// Reads and parses the file at `path`.
Config load_config(const std::string& path);
// The effective configuration as JSON (for --check-config and logs).
std::string config_to_json(const Config& config);

} // namespace jobman
