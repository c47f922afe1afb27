#pragma once
// Backend on a local docker or podman, through their (identical) command lines.
//
// A job runs as an attached `<engine> run` child of the daemon, in its own process group,
// with stdout and stderr going straight into the job's log file: no copy step, and if the
// daemon dies the child keeps writing. The exit code is then read with `inspect`, and the
// container removed. While it runs, its cgroup is sampled for what it uses
// (cgroup_usage.hpp): from when `inspect` first says it runs (has_started, or at adoption)
// until its run client ends.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/backend/cgroup_usage.hpp"
#include "daemon/backend/kernel_oom_log.hpp"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

namespace jobman::daemon::backend {

class LocalBackend final : public Backend {
public:
  LocalBackend(const Config& config, engine::CommandRunner& runner);
  asio::awaitable<Result<std::string>> start(Job job, std::string log_path) override;
  asio::awaitable<ContainerExit> wait(Job job, std::string log_path) override;
  asio::awaitable<std::optional<StartState>> has_started(Job job) override;
  asio::awaitable<void> stop(Job job, std::chrono::seconds grace) override;
  asio::awaitable<void> remove(Job job) override;
  asio::awaitable<ContainerPresence> presence(Job job) override;
  asio::awaitable<Result<std::vector<policy::ImageInfo>>> list_images() override;
  asio::awaitable<Result<std::vector<std::string>>> list_containers(const std::string& instance) override;
  void detach_all() override;
  std::vector<std::string> engine_argv(const Job& job) const override;

private:
  // The engine's `container inspect` object for `job`, if it has one.
  asio::awaitable<std::optional<nlohmann::json>> inspect(const Job& job);
  // Finds the cgroup of the container `inspected` describes, if it runs, for job `id`'s
  // samples (only while wait() follows the job).
  void track_usage(JobId id, const nlohmann::json& inspected);
  // Samples `job`'s cgroup every k_usage_sample_interval (asking `inspect` for it again a
  // few times while it has none); ends only when cancelled.
  asio::awaitable<void> sample_usage(Job job);
  struct Sampled {
    std::optional<CgroupDirs> dirs; // once found; reset when the cgroup is gone
    std::optional<Usage> usage;     // the last sample
  };
  const Config& m_config;
  KernelOomLog m_oom_log;
  engine::CommandRunner& m_runner;
  std::map<JobId, std::unique_ptr<engine::RunningProcess>> m_processes;
  std::map<JobId, Sampled> m_usage;      // jobs wait() follows
  std::vector<std::string> m_to_remove; // containers waiting for the next batched rm
  bool m_removing = false;
};

} // namespace jobman::daemon::backend
