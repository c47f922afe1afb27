#pragma once
// The exact engine command line for a job: a pure function of config and job, so every
// forced flag is unit-testable and shown verbatim by `jobman details`.

#include "common/config.hpp"
#include "common/job.hpp"

#include <optional>
#include <string>
#include <vector>

namespace jobman::daemon::backend {

// `engine.binary engine.global_args... run engine.run_args... <forced flags> <env> image args...`
// Forced flags come after run_args so that they win where an engine takes the last value.
std::vector<std::string> container_argv(const Config& config, const Job& job);

// The GPU flags for `devices` on engine `kind` (the one place the engines differ here):
// docker `--gpus "device=0,2"`, podman CDI `--device nvidia.com/gpu=N` each, and with no
// devices `NVIDIA_VISIBLE_DEVICES=void` so an NVIDIA runtime hook exposes none.
std::vector<std::string> gpu_flags(EngineKind kind, const std::vector<std::string>& devices);

// The `--tmpfs` value for the job's /tmp: writable by the submitter `uid`:`gid` on `kind`.
std::string tmp_mount(EngineKind kind, std::uint32_t uid, std::uint32_t gid);

// Prefix of every engine command: binary and global args.
std::vector<std::string> engine_command(const EngineConfig& engine, std::initializer_list<std::string> subcommand);

// `rm --force` for `names`, each once. podman also gets `--ignore`: podman 4.3 given
// `rm --force` and a name that no longer exists removes none of the others and still
// exits 0 (a container can be named twice, by recovery and by its job's end, or be
// removed by an admin meanwhile). docker removes the others and exits non-zero.
std::vector<std::string> remove_command(const EngineConfig& engine, const std::vector<std::string>& names);

// Why `run_args` would weaken the sandbox jobman enforces (e.g. "--privileged"), or nothing.
std::optional<std::string> run_args_problem(const std::vector<std::string>& run_args);

} // namespace jobman::daemon::backend
