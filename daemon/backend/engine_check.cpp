#include "daemon/backend/engine_check.hpp"

#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_error.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::backend {

using nlohmann::json;

bool EngineReport::ok() const {
  return std::none_of(problems.begin(), problems.end(), [](const EngineProblem& p) { return p.fatal; });
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string package_for(const std::string& name) {
  const std::string base = std::filesystem::path(name).filename().string();
  static const std::vector<std::pair<std::string, std::string>> k_packages{
    {"podman", "podman"}, {"docker", "docker.io"}, {"dockerd", "docker.io"}, {"runc", "runc"},   {"crun", "crun"},
    {"conmon", "conmon"}, {"catatonit", "catatonit"}, {"docker-init", "tini"}, {"tini", "tini"}, {"tini-static", "tini"},
  };
  for (const auto& [program, package] : k_packages)
    if (base == program) return package;
  return "";
}

namespace {
constexpr std::chrono::seconds k_info_timeout{30};

std::string install_hint(const std::string& program) {
  const std::string package = package_for(program);
  return package.empty() ? "" : fmt::format("; install the package {} (apt-get install {})", package, package);
}

// The value of `--flag X` or `--flag=X` in `args` (the last one), or "".
std::string flag_value(const std::vector<std::string>& args, const std::string& flag) {
  std::string value;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) value = args[i + 1];
    else if (args[i].rfind(flag + "=", 0) == 0) value = args[i].substr(flag.size() + 1);
  }
  return value;
}

// `name` if it is a path, else where PATH finds it, else "".
std::string find_program(const std::string& name, const ExecutableProbe& executable) {
  if (name.find('/') != std::string::npos) return executable(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && executable(dir + "/" + name)) return dir + "/" + name;
  return "";
}

std::string string_at(const json& j, std::initializer_list<const char*> keys) {
  const json* at = &j;
  for (const char* key : keys) {
    if (!at->is_object() || !at->contains(key)) return "";
    at = &(*at)[key];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

void judge_podman(const EngineConfig& engine, const json& info, const std::vector<std::string>& containers_conf,
                  const ExecutableProbe& executable, EngineReport& report) {
  const std::string runtime = string_at(info, {"host", "ociRuntime", "name"});
  const std::string runtime_path = string_at(info, {"host", "ociRuntime", "path"});
  if (runtime_path.empty() || !executable(runtime_path))
    report.problems.push_back({true, fmt::format("podman's OCI runtime {} ({}) is missing{}", runtime.empty() ? "?" : runtime,
                                                 runtime_path.empty() ? "no path in 'podman info'" : runtime_path, install_hint(runtime))});
  const std::string conmon = string_at(info, {"host", "conmon", "path"});
  if (!conmon.empty() && !executable(conmon))
    report.problems.push_back({true, fmt::format("podman's conmon {} is missing{}", conmon, install_hint("conmon"))});
  const std::string init = podman_init_path(engine.run_args, containers_conf);
  if (!executable(init))
    report.problems.push_back({true, fmt::format("podman's --init binary {} is missing (every job runs with --init){}", init,
                                                 install_hint(init.find("catatonit") != std::string::npos ? "catatonit" : init))});
  report.summary = fmt::format("podman {}, runtime {} ({}), init {}", string_at(info, {"version", "Version"}), runtime, runtime_path, init);
}

void judge_docker(const EngineConfig& engine, const json& info, const ExecutableProbe& executable, EngineReport& report) {
  std::string runtime = flag_value(engine.run_args, "--runtime");
  const bool chosen = !runtime.empty();
  if (runtime.empty()) runtime = string_at(info, {"DefaultRuntime"});
  const json runtimes = info.value("Runtimes", json::object());
  if (chosen && !(runtimes.is_object() && runtimes.contains(runtime))) {
    std::string known;
    for (const auto& [name, _] : runtimes.items()) known += (known.empty() ? "" : ", ") + name;
    report.problems.push_back(
      {true, fmt::format("docker has no runtime '{}' (engine.run_args --runtime); dockerd knows: {}", runtime, known.empty() ? "none" : known)});
  } else if (runtimes.is_object() && runtimes.contains(runtime)) {
    const std::string path = string_at(runtimes[runtime], {"path"});
    // dockerd resolves a bare name in its own PATH, which is usually jobmand's: a warning only.
    if (!path.empty() && find_program(path, executable).empty())
      report.problems.push_back({path.find('/') != std::string::npos, fmt::format("docker's runtime {} ({}) is not installed{}", runtime, path, install_hint(path))});
  }
  const std::string init = string_at(info, {"InitBinary"});
  const std::string init_commit = string_at(info, {"InitCommit", "ID"});
  // dockerd runs `<init> --version` for each `info`: "N/A" when it cannot (Debian's tini
  // prints no commit, so an empty ID is a working init).
  if (init_commit == "N/A")
    report.problems.push_back({true, fmt::format("dockerd cannot run its --init binary '{}' (every job runs with --init; 'docker info' "
                                                 "says N/A for its version){}",
                                                 init.empty() ? "docker-init" : init, install_hint("docker-init"))});
  report.summary = fmt::format("docker {}, runtime {}, init {}", string_at(info, {"ServerVersion"}), runtime, init.empty() ? "docker-init" : init);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
} // namespace

std::string podman_init_path(const std::vector<std::string>& run_args, const std::vector<std::string>& containers_conf) {
  if (std::string path = flag_value(run_args, "--init-path"); !path.empty()) return path;
  std::string path = "/usr/libexec/podman/catatonit";
  for (const auto& text : containers_conf) {
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line.compare(start, 9, "init_path") != 0) continue;
      auto eq = line.find('=', start + 9);
      if (eq == std::string::npos || line.find_first_not_of(" \t", start + 9) != eq) continue;
      auto open = line.find('"', eq);
      auto close = open == std::string::npos ? open : line.find('"', open + 1);
      if (close != std::string::npos) path = line.substr(open + 1, close - open - 1);
    }
  }
  return path;
}

std::vector<std::string> read_containers_conf() {
  if (const char* override_path = std::getenv("CONTAINERS_CONF"); override_path && *override_path) return {read_file(override_path)};
  std::vector<std::string> texts{read_file("/usr/share/containers/containers.conf"), read_file("/etc/containers/containers.conf")};
  std::error_code ec;
  std::vector<std::string> dropins;
  for (const auto& entry : std::filesystem::directory_iterator("/etc/containers/containers.conf.d", ec))
    if (entry.path().extension() == ".conf") dropins.push_back(entry.path().string());
  std::sort(dropins.begin(), dropins.end());
  for (const auto& path : dropins) texts.push_back(read_file(path));
  return texts;
}

EngineReport judge_engine(const EngineConfig& engine, const Result<engine::Captured>& info, const std::vector<std::string>& containers_conf,
                          const ExecutableProbe& executable) {
  EngineReport report;
  const std::string binary = engine.binary;
  if (!info) {
    report.problems.push_back({true, fmt::format("the engine binary '{}' cannot be run: {}{}", binary, info.error().message, install_hint(binary))});
    return report;
  }
  if (!info->status.success()) {
    std::string said = engine_error_line(info->err).value_or(printable_message(info->err, k_max_engine_message));
    // e.g. podman: `default OCI runtime "crun" not found`: name the runtime's package.
    std::string hint;
    for (const char* program : {"runc", "crun", "conmon"})
      if (said.find(fmt::format("\"{}\"", program)) != std::string::npos) hint = install_hint(program);
    report.problems.push_back({true, fmt::format("'{} info' failed ({}): {}{}", binary, info->status.describe(), said, hint)});
    return report;
  }
  json parsed = json::parse(info->out, nullptr, false);
  if (!parsed.is_object()) {
    report.problems.push_back({true, fmt::format("'{} info' did not print a JSON object; is engine.kind ({}) right?", binary, to_string(engine.kind))});
    return report;
  }
  if (engine.kind == EngineKind::Podman) judge_podman(engine, parsed, containers_conf, executable, report);
  else judge_docker(engine, parsed, executable, report);
  return report;
}

boost::asio::awaitable<EngineReport> check_engine(EngineConfig engine, engine::CommandRunner& runner) {
  std::vector<std::string> argv = engine.kind == EngineKind::Podman ? engine_command(engine, {"info", "--format", "json"})
                                                                     : engine_command(engine, {"info", "--format", "{{json .}}"});
  // A hung engine (dockerd not answering) must not hold jobmand's start forever.
  auto info = co_await runner.capture(std::move(argv), k_info_timeout, 4 << 20);
  co_return judge_engine(engine, info, engine.kind == EngineKind::Podman ? read_containers_conf() : std::vector<std::string>{},
                         is_executable_file);
}

} // namespace jobman::daemon::backend
