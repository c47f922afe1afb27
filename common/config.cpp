#include "common/config.hpp"
#include "common/json_depth.hpp"

#include "common/duration.hpp"
#include "common/errors.hpp"
#include "common/names.hpp"
#include "common/notify.hpp"
#include "common/platform_env.hpp"
#include "common/printable.hpp"
#include "common/size.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace jobman {

using nlohmann::json;

std::string_view to_string(EngineKind kind) { return kind == EngineKind::Docker ? "docker" : "podman"; }
std::string_view to_string(BackendKind kind) { return kind == BackendKind::Slurm ? "slurm" : "local"; }

namespace {

// The longest duration any key takes: 100 years.
constexpr std::chrono::seconds k_max_duration = std::chrono::hours(24) * 36500;

// One JSON object of the config, read with errors that carry the key's full path.
class Section {
public:
  Section(const json& value, std::string path, std::string_view source) : m_value(value), m_path(std::move(path)), m_source(source) {
    if (!m_value.is_object()) fail("", "must be an object");
  }

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    std::string where = m_path.empty() ? std::string(key) : key.empty() ? m_path : m_path + "." + std::string(key);
    throw Error(ErrorCode::InvalidArgument, fmt::format("config {}: {}: {}", m_source, where.empty() ? "(top level)" : where, problem));
  }

  bool has(const char* key) const { return m_value.contains(key); }

  const json* get(const char* key) {
    m_known.insert(key);
    auto it = m_value.find(key);
    return it == m_value.end() ? nullptr : &*it;
  }

  void string(const char* key, std::string& out, bool allow_empty = false) {
    if (const json* v = get(key)) {
      if (!v->is_string()) fail(key, "must be a string");
      if (!allow_empty && v->get<std::string>().empty()) fail(key, "must not be empty");
      out = v->get<std::string>();
    }
  }

  void integer(const char* key, int& out, int min, int max) {
    if (const json* v = get(key)) {
      if (!v->is_number_integer()) fail(key, "must be an integer");
      auto n = v->get<long long>();
      if (n < min || n > max) fail(key, fmt::format("must be between {} and {}, not {}", min, max, n));
      out = static_cast<int>(n);
    }
  }

  void boolean(const char* key, bool& out) {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) fail(key, "must be true or false");
      out = v->get<bool>();
    }
  }

  void number(const char* key, double& out, double min, double max) {
    if (const json* v = get(key)) {
      if (!v->is_number()) fail(key, "must be a number");
      double n = v->get<double>();
      if (!(n >= min && n <= max)) fail(key, fmt::format("must be between {} and {}", min, max));
      out = n;
    }
  }

  // With `zero_allowed`, 0 (or "0") is taken too: it means "none".
  void size(const char* key, std::int64_t& out, std::int64_t min, bool zero_allowed = false) {
    if (const json* v = get(key)) {
      if (zero_allowed && ((v->is_number_integer() && v->get<long long>() == 0) || (v->is_string() && v->get<std::string>() == "0"))) {
        out = 0;
        return;
      }
      std::optional<std::int64_t> bytes;
      if (v->is_number_integer() && v->get<long long>() > 0) bytes = v->get<long long>();
      else if (v->is_string()) bytes = parse_size(v->get<std::string>());
      if (!bytes) fail(key, fmt::format("must be a size like \"512M\", \"2G\" or a number of bytes{}", zero_allowed ? " (0: none)" : ""));
      if (*bytes < min) fail(key, fmt::format("must be at least {}", format_size(min)));
      out = *bytes;
    }
  }

  const json& value() const { return m_value; }
  const std::string& path() const { return m_path; }

  void duration(const char* key, std::chrono::seconds& out, std::chrono::seconds min) {
    if (const json* v = get(key)) {
      std::optional<std::chrono::seconds> d;
      if (v->is_number_integer() && v->get<long long>() >= 0) d = std::chrono::seconds(v->get<long long>());
      else if (v->is_string()) d = parse_duration(v->get<std::string>());
      if (!d) fail(key, "must be a duration like \"30s\", \"10m\", \"2h\", \"1d\", \"HH:MM:SS\" or a number of seconds");
      if (*d < min) fail(key, fmt::format("must be at least {}", format_duration(min)));
      // jobmand's timers count nanoseconds: past 292 years the conversion overflows (UB).
      if (*d > k_max_duration) fail(key, fmt::format("must be at most {}", format_duration(k_max_duration)));
      out = *d;
    }
  }

  void string_list(const char* key, std::vector<std::string>& out, bool allow_empty_items = false) {
    if (const json* v = get(key)) {
      if (!v->is_array()) fail(key, "must be a list of strings");
      std::vector<std::string> items;
      for (const auto& item : *v) {
        if (!item.is_string()) fail(key, "must be a list of strings");
        if (!allow_empty_items && item.get<std::string>().empty()) fail(key, "must not contain empty strings");
        items.push_back(item.get<std::string>());
      }
      out = std::move(items);
    }
  }

  Section child(const char* key) {
    const json* v = get(key);
    static const json k_empty = json::object();
    return Section(v ? *v : k_empty, m_path.empty() ? key : m_path + "." + key, m_source);
  }

  // Every key must be one a getter asked for: a typo is an error, not a silent default.
  void finish() const {
    for (const auto& [key, _] : m_value.items())
      if (!m_known.contains(key)) fail(key, "unknown key (check the spelling; see jobman.json(5))");
  }

private:
  const json& m_value;
  std::string m_path;
  std::string_view m_source;
  std::set<std::string> m_known;
};

void check_no_nul(const std::vector<std::string>& items, Section& section, const char* key) {
  for (const auto& item : items)
    if (item.find('\0') != std::string::npos) section.fail(key, "must not contain NUL characters");
}

// Checks a mount template path: absolute, known placeholders only, nothing the engines'
// --mount syntax or a path walk could misread.
void check_template_path(Section& s, const char* key, const std::string& path, bool allow_source) {
  const bool from_placeholder = (allow_source && (path.rfind("{source}", 0) == 0 || path.rfind("{image_home}/", 0) == 0)) ||
                                path.rfind("{home}", 0) == 0;
  if (path.empty() || (path.front() != '/' && !from_placeholder))
    s.fail(key, allow_source ? "must be an absolute path (or start with {home}, {source} or {image_home}/)" : "must be an absolute path (or start with {home})");
  if (path.find_first_of(",\n\r") != std::string::npos) s.fail(key, "must not contain ',' or line breaks");
  for (std::size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
    auto close = path.find('}', open);
    std::string name = close == std::string::npos ? "" : path.substr(open + 1, close - open - 1);
    if (allow_source && name == "image_home" && open != 0) s.fail(key, fmt::format("'{}': {{image_home}} may only start a target", path));
    if (name != "user" && name != "uid" && name != "home" && !(allow_source && (name == "source" || name == "image_home")))
      s.fail(key, fmt::format("unknown placeholder in '{}'; use {{user}}, {{uid}}, {{home}}{}", path,
                              allow_source ? ", {source} or {image_home}" : ""));
  }
  if (path == "/" || path.find("/../") != std::string::npos || path.ends_with("/..") || path.find("/./") != std::string::npos)
    s.fail(key, fmt::format("'{}' must be a plain absolute path (no '.', '..' or bare '/')", path));
}

// Reads the list of objects at `key`, each as a Section named "key[i]" (so errors say
// "flavors[1].memory"), checking that every key of each was read.
template <typename ReadItem>
void for_each_item(Section& top, const char* key, std::string_view what, std::string_view source, ReadItem&& read) {
  const json* list = top.get(key);
  if (!list) return;
  if (!list->is_array()) top.fail(key, fmt::format("must be a list of {}", what));
  for (std::size_t i = 0; i < list->size(); ++i) {
    Section s((*list)[i], fmt::format("{}[{}]", key, i), source);
    read(s);
    s.finish();
  }
}

// Reads `env` of `parent` (the top level or a flavor): name -> "value" or {"value", "secret"}.
// Every name and value is checked (platform_env.hpp); errors name "env.NAME".
void read_env(Section& parent, std::vector<PlatformEnvVar>& out, std::string_view source) {
  const json* env = parent.get("env");
  if (!env) return;
  if (!env->is_object()) parent.fail("env", "must be an object of variable names to values (a string, or {\"value\": ..., \"secret\": true})");
  if (env->size() > k_max_platform_env) parent.fail("env", fmt::format("has {} variables; at most {}", env->size(), k_max_platform_env));
  const std::string prefix = parent.path().empty() ? "env" : parent.path() + ".env";
  for (const auto& [name, item] : env->items()) {
    // The name is the admin's text, perhaps hostile: escaped before it reaches an error line.
    const std::string key = escape_controls(name.substr(0, std::min<std::size_t>(name.size(), 200)));
    auto fail = [&](std::string_view problem) -> void {
      throw Error(ErrorCode::InvalidArgument, fmt::format("config {}: {}.{}: {}", source, prefix, key, problem));
    };
    if (auto problem = platform_env_name_problem(name)) fail(*problem);
    PlatformEnvVar var;
    var.name = name;
    if (item.is_string()) {
      var.value = item.get<std::string>();
    } else if (item.is_object()) {
      Section s(item, prefix + "." + key, source);
      if (!s.has("value")) s.fail("value", "is required");
      s.string("value", var.value, true);
      s.boolean("secret", var.secret);
      s.finish();
    } else {
      fail("must be a string or an object {\"value\": \"...\", \"secret\": true}");
    }
    if (auto problem = platform_env_value_problem(var.value)) fail(fmt::format("value {}", *problem));
    out.push_back(std::move(var));
  }
}

json env_to_json(const std::vector<PlatformEnvVar>& env) {
  json out = json::object();
  for (const auto& var : env) {
    if (var.secret) out[var.name] = {{"value", shown_value(var)}, {"secret", true}};
    else out[var.name] = var.value;
  }
  return out;
}

// The `notify` section (daemon/notify/notifier.hpp): the hook, as whom it runs (resolved
// now: a name or uid the passwd database knows, never root), its time and its states.
void read_notify(Section& top, NotifyConfig& notify, std::string_view source) {
  const json* value = top.get("notify");
  if (!value) return;
  Section s(*value, "notify", source);
  s.string_list("command", notify.command);
  if (notify.command.empty()) s.fail("command", "is required: the hook's argv, e.g. [\"/usr/lib/jobman/notify-mail\"]");
  check_no_nul(notify.command, s, "command");
  if (notify.command.size() > 64) s.fail("command", "has more than 64 words");
  for (const auto& word : notify.command)
    if (word.size() > 4096) s.fail("command", "has a word over 4096 bytes");
  const std::string& exe = notify.command.front();
  if (exe.front() != '/' || exe.find("/../") != std::string::npos || exe.ends_with("/..") || exe.ends_with('/'))
    s.fail("command", fmt::format("'{}' must be an absolute path to the hook (no PATH search)", escape_controls(exe.substr(0, 200))));
  if (const json* user = s.get("user")) {
    if (user->is_number_integer() && user->get<long long>() >= 0 && user->get<long long>() <= 0x7fffffff)
      notify.user = std::to_string(user->get<long long>());
    else if (user->is_string() && !user->get<std::string>().empty())
      notify.user = user->get<std::string>();
    else
      s.fail("user", "must be a user name or a uid");
  }
  if (notify.user.size() > 256 || notify.user.find('\0') != std::string::npos) s.fail("user", "must be a user name or a uid");
  passwd pw{};
  passwd* entry = nullptr;
  std::vector<char> buffer(16384);
  const bool numeric = notify.user.find_first_not_of("0123456789") == std::string::npos && notify.user.size() <= 10;
  const int rc = numeric ? ::getpwuid_r(static_cast<uid_t>(std::stoull(notify.user)), &pw, buffer.data(), buffer.size(), &entry)
                         : ::getpwnam_r(notify.user.c_str(), &pw, buffer.data(), buffer.size(), &entry);
  if (rc != 0 || !entry)
    s.fail("user", fmt::format("'{}' is not a user of this system (the hook runs as it: a name or uid from the passwd database, e.g. \"nobody\")",
                               escape_controls(notify.user)));
  if (entry->pw_uid == 0 || entry->pw_gid == 0)
    s.fail("user", fmt::format("'{}' is root or in group root; the hook must run as an unprivileged user such as \"nobody\"",
                               escape_controls(notify.user)));
  notify.uid = entry->pw_uid;
  notify.gid = entry->pw_gid;
  s.duration("timeout", notify.timeout, std::chrono::seconds(1));
  if (notify.timeout > std::chrono::hours(1)) s.fail("timeout", "must be at most 1h (a hook holds one of notify.max_running while it runs)");
  s.string_list("states", notify.states);
  if (notify.states.empty()) s.fail("states", "must name at least one end state (leave out the notify section to have no notifications)");
  for (std::size_t i = 0; i < notify.states.size(); ++i) {
    auto state = job_state_from_string(notify.states[i]);
    if (!state || !is_terminal(*state))
      s.fail("states", fmt::format("'{}' is not an end state; use SUCCEEDED, FAILED, CANCELLED, TIMEOUT, OOM_KILLED or LOST",
                                   escape_controls(notify.states[i].substr(0, 40))));
    for (std::size_t j = 0; j < i; ++j)
      if (notify.states[j] == notify.states[i]) s.fail("states", fmt::format("'{}' is listed twice", notify.states[i]));
  }
  s.integer("max_running", notify.max_running, 1, 64);
  s.finish();
}

} // namespace

std::vector<PlatformEnvVar> Config::env_for(std::string_view flavor) const {
  std::vector<PlatformEnvVar> vars = env;
  if (const Flavor* f = find_flavor(flavor))
    for (const auto& var : f->env) {
      auto same = std::find_if(vars.begin(), vars.end(), [&](const PlatformEnvVar& v) { return v.name == var.name; });
      if (same != vars.end()) *same = var;
      else vars.push_back(var);
    }
  std::sort(vars.begin(), vars.end(), [](const PlatformEnvVar& a, const PlatformEnvVar& b) { return a.name < b.name; });
  return vars;
}

const Flavor* Config::find_flavor(std::string_view name) const {
  for (const auto& flavor : flavors)
    if (flavor.name == name) return &flavor;
  return nullptr;
}

Config parse_config(std::string_view text, std::string_view source) {
  if (auto problem = json_depth_problem(text)) throw Error(ErrorCode::InvalidArgument, fmt::format("config {}: {}", source, *problem));
  json root = json::parse(text.begin(), text.end(), nullptr, false);
  if (root.is_discarded())
    throw Error(ErrorCode::InvalidArgument, fmt::format("config {}: not valid JSON", source));
  Config config;
  Section top(root, "", source);

  {
    Section s = top.child("socket");
    s.string("path", config.socket.path);
    if (config.socket.path.front() != '/') s.fail("path", "must be an absolute path");
    if (config.socket.path.size() >= 108) s.fail("path", "is too long for a Unix socket (107 bytes at most)");
    std::string mode;
    s.string("mode", mode);
    if (!mode.empty()) {
      unsigned long m = 0;
      bool octal = mode.size() <= 4 && mode.find_first_not_of("01234567") == std::string::npos;
      if (octal) m = std::stoul(mode, nullptr, 8);
      if (!octal || m > 0777) s.fail("mode", fmt::format("must be an octal permission like \"0666\", not \"{}\"", mode));
      config.socket.mode = static_cast<mode_t>(m);
    }
    s.string("group", config.socket.group, true);
    s.finish();
  }
  top.string("admin_group", config.admin_group, true);
  top.string("state_dir", config.state_dir);
  if (config.state_dir.front() != '/') top.fail("state_dir", "must be an absolute path");
  {
    Section s = top.child("engine");
    std::string kind = "podman";
    s.string("kind", kind);
    if (kind == "podman") config.engine.kind = EngineKind::Podman;
    else if (kind == "docker") config.engine.kind = EngineKind::Docker;
    else s.fail("kind", fmt::format("must be \"podman\" or \"docker\", not \"{}\"", kind));
    config.engine.binary = kind;
    s.string("binary", config.engine.binary);
    s.string_list("global_args", config.engine.global_args);
    s.string_list("run_args", config.engine.run_args);
    s.duration("command_timeout", config.engine.command_timeout, std::chrono::seconds(1));
    check_no_nul(config.engine.global_args, s, "global_args");
    check_no_nul(config.engine.run_args, s, "run_args");
    s.finish();
  }
  {
    Section s = top.child("backend");
    std::string kind = "local";
    s.string("kind", kind);
    if (kind == "local") config.backend.kind = BackendKind::Local;
    else if (kind == "slurm") config.backend.kind = BackendKind::Slurm;
    else s.fail("kind", fmt::format("must be \"local\" or \"slurm\", not \"{}\"", kind));
    SlurmConfig& slurm = config.backend.slurm;
    // Slurm's names: letters, digits and . _ - only (they reach sbatch as --partition=X).
    auto slurm_name = [&](const char* key, std::string& out) {
      s.string(key, out, true);
      if (out.size() > 64 || out.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos ||
          (!out.empty() && out.front() == '-'))
        s.fail(key, fmt::format("must be a Slurm name (letters, digits, '.', '_', '-'; at most 64), not \"{}\"", out));
    };
    slurm_name("partition", slurm.partition);
    slurm_name("account", slurm.account);
    slurm_name("qos", slurm.qos);
    for (auto [key, out] : {std::pair{"sbatch", &slurm.sbatch}, {"squeue", &slurm.squeue}, {"scancel", &slurm.scancel},
                            {"sacct", &slurm.sacct}, {"scontrol", &slurm.scontrol}}) {
      s.string(key, *out);
      if (out->find('\0') != std::string::npos) s.fail(key, "must not contain a NUL byte");
    }
    s.string_list("sacct_args", slurm.sacct_args);
    check_no_nul(slurm.sacct_args, s, "sacct_args");
    // A duration, or "250ms": at least 100 ms (each poll is an RPC to slurmctld).
    if (const json* v = s.get("poll_interval")) {
      std::optional<std::chrono::milliseconds> ms;
      if (v->is_string() && v->get<std::string>().size() > 2 && v->get<std::string>().ends_with("ms")) {
        const std::string digits = v->get<std::string>().substr(0, v->get<std::string>().size() - 2);
        if (digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos) ms = std::chrono::milliseconds(std::stoll(digits));
      } else {
        std::chrono::seconds seconds{0};
        s.duration("poll_interval", seconds, std::chrono::seconds(0));
        ms = seconds;
      }
      if (!ms) s.fail("poll_interval", "must be a duration such as \"1s\" or \"250ms\"");
      if (*ms < std::chrono::milliseconds(100)) s.fail("poll_interval", "must be at least 100ms");
      slurm.poll_interval = *ms;
    }
    s.duration("time_margin", slurm.time_margin, std::chrono::seconds(0));
    s.string("node_helper", slurm.node_helper, true);
    if (!slurm.node_helper.empty() && (slurm.node_helper.front() != '/' || slurm.node_helper.find('\0') != std::string::npos))
      s.fail("node_helper", fmt::format("must be an absolute path (the jobmand binary on the nodes), not \"{}\"", slurm.node_helper));
    if (config.backend.kind == BackendKind::Local) {
      for (const char* key : {"partition", "account", "qos", "sbatch", "squeue", "scancel", "sacct", "scontrol", "sacct_args", "poll_interval",
                              "time_margin", "node_helper"})
        if (s.has(key)) s.fail(key, "applies only to \"kind\": \"slurm\"");
    }
    s.finish();
  }
  {
    Section s = top.child("images");
    s.string_list("repositories", config.images.repositories);
    if (config.images.repositories.empty()) s.fail("repositories", "must name at least one repository prefix (e.g. \"localhost/\")");
    s.string_list("required_labels", config.images.required_labels);
    s.duration("refresh", config.images.refresh, std::chrono::seconds(0));
    s.string("default", config.images.default_image, true);
    const std::string& image = config.images.default_image;
    if (image.size() > 256 || image.find_first_of(" \t\r\n\\\"'") != std::string::npos || image.find('\0') != std::string::npos)
      s.fail("default", "must be an image reference as typed after -i (NAME, NAME:TAG or a full reference)");
    s.finish();
  }
  {
    Section s = top.child("limits");
    s.integer("max_running", config.limits.max_running, 1, 100000);
    s.integer("pids", config.limits.pids, 16, 1 << 22);
    s.duration("kill_grace", config.limits.kill_grace, std::chrono::seconds(0));
    s.duration("default_time", config.limits.default_time, std::chrono::seconds(1));
    s.integer("max_running_per_user", config.limits.max_running_per_user, 0, 100000);
    s.integer("max_queued_per_user", config.limits.max_queued_per_user, 1, 10000000);
    s.size("max_stored_bytes_per_user", config.limits.max_stored_bytes_per_user, 1LL << 20);
    s.size("min_free_disk", config.limits.min_free_disk, 1, true);
    s.size("max_log_bytes_per_user", config.limits.max_log_bytes_per_user, 1LL << 20);
    s.integer("max_active_per_user", config.limits.max_active_per_user, 0, 10000000);
    s.size("home_size", config.limits.home_size, 1LL << 20);
    s.integer("max_retries", config.limits.max_retries, 0, 100);
    s.duration("retry_delay", config.limits.retry_delay, std::chrono::seconds(1));
    s.integer("max_array_size", config.limits.max_array_size, 1, 100000);
    s.finish();
  }
  for_each_item(top, "flavors", "flavors", source, [&](Section& s) {
    Flavor flavor;
    s.string("name", flavor.name);
    if (flavor.name.empty()) s.fail("name", "is required");
    if (auto problem = job_name_problem(flavor.name)) s.fail("name", *problem);
    if (config.find_flavor(flavor.name)) s.fail("name", fmt::format("'{}' is defined twice", flavor.name));
    s.string("description", flavor.description, true);
    s.number("cpus", flavor.cpus, 0.01, 4096);
    s.size("memory", flavor.memory, 6LL << 20);
    s.size("shm", flavor.shm, 1LL << 20);
    s.integer("gpus", flavor.gpus, 0, 64);
    s.duration("max_time", flavor.max_time, std::chrono::seconds(1));
    s.integer("slots", flavor.slots, 0, 100000);
    read_env(s, flavor.env, source);
    config.flavors.push_back(std::move(flavor));
  });
  if (config.flavors.empty()) config.flavors.push_back(Flavor{"default", "1 CPU, 2 GiB", 1, 2LL << 30, 64LL << 20, 0, std::chrono::hours(24)});
  config.default_flavor = config.flavors.front().name;
  top.string("default_flavor", config.default_flavor);
  if (!config.find_flavor(config.default_flavor))
    top.fail("default_flavor", fmt::format("no flavor is named '{}'", config.default_flavor));
  if (const json* gpus = top.get("gpus")) {
    Section s(*gpus, "gpus", source);
    if (const json* devices = s.get("devices")) {
      if (devices->is_string() && devices->get<std::string>() == "auto") {
        config.gpus.autodetect = true;
      } else {
        s.string_list("devices", config.gpus.devices);
        for (std::size_t i = 0; i < config.gpus.devices.size(); ++i) {
          const auto& d = config.gpus.devices[i];
          if (d.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:.") != std::string::npos)
            s.fail("devices", fmt::format("'{}' is not a GPU index or UUID", d));
          for (std::size_t j = 0; j < i; ++j)
            if (config.gpus.devices[j] == d) s.fail("devices", fmt::format("'{}' is listed twice", d));
        }
      }
    }
    s.finish();
  }
  // On Slurm the nodes' GPUs count (gres.conf), not this machine's.
  if (!config.gpus.autodetect && config.backend.kind == BackendKind::Local)
    for (const auto& flavor : config.flavors)
      if (flavor.gpus > static_cast<int>(config.gpus.devices.size()))
        top.fail("flavors", fmt::format("flavor '{}' asks for {} GPUs but gpus.devices lists {}", flavor.name, flavor.gpus, config.gpus.devices.size()));
  for_each_item(top, "mounts", "mount templates", source, [&](Section& s) {
    MountTemplate mount;
    s.string("source", mount.source);
    if (mount.source.empty()) s.fail("source", "is required");
    check_template_path(s, "source", mount.source, false);
    s.string("target", mount.target);
    check_template_path(s, "target", mount.target, true);
    s.boolean("read_only", mount.read_only);
    s.boolean("optional", mount.optional);
    config.mounts.push_back(std::move(mount));
  });
  read_env(top, config.env, source);
  read_notify(top, config.notify, source);
  {
    Section s = top.child("retention");
    s.integer("days", config.retention.days, 1, 100000);
    s.size("max_log_bytes", config.retention.max_log_bytes, 64LL << 10, true);
    s.integer("accounting_days", config.retention.accounting_days, 1, 100000);
    s.finish();
  }
  {
    Section s = top.child("server");
    s.integer("max_connections", config.server.max_connections, 1, 65536);
    s.integer("max_connections_per_user", config.server.max_connections_per_user, 1, 65536);
    s.integer("admin_reserve", config.server.admin_reserve, 0, 65535);
    s.duration("idle_timeout", config.server.idle_timeout, std::chrono::seconds(1));
    s.duration("frame_timeout", config.server.frame_timeout, std::chrono::seconds(1));
    if (config.server.admin_reserve >= config.server.max_connections) {
      // The default (16) gives way to a small max_connections; a reserve the admin set may not.
      const bool given = root.contains("server") && root["server"].is_object() && root["server"].contains("admin_reserve");
      if (given)
        s.fail("admin_reserve", fmt::format("must be below max_connections ({}), or users could never connect", config.server.max_connections));
      config.server.admin_reserve = config.server.max_connections / 4;
    }
    s.finish();
  }
  top.finish();
  return config;
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::InvalidArgument, fmt::format("cannot read config file {}: {}", path, std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), path);
}

std::string config_to_json(const Config& c) {
  json out = {
    {"socket", {{"path", c.socket.path}, {"mode", fmt::format("{:04o}", c.socket.mode)}, {"group", c.socket.group}}},
    {"admin_group", c.admin_group},
    {"state_dir", c.state_dir},
    {"engine", {{"kind", to_string(c.engine.kind)}, {"binary", c.engine.binary}, {"global_args", c.engine.global_args}, {"run_args", c.engine.run_args},
                {"command_timeout", c.engine.command_timeout.count()}}},
    {"backend", {{"kind", to_string(c.backend.kind)}}},
    {"images", {{"repositories", c.images.repositories}, {"required_labels", c.images.required_labels}, {"refresh", c.images.refresh.count()},
                {"default", c.images.default_image}}},
    {"limits", {{"max_running", c.limits.max_running}, {"pids", c.limits.pids}, {"kill_grace", c.limits.kill_grace.count()}}},
    {"server",
     {{"max_connections", c.server.max_connections},
      {"max_connections_per_user", c.server.max_connections_per_user},
      {"admin_reserve", c.server.admin_reserve},
      {"idle_timeout", c.server.idle_timeout.count()},
      {"frame_timeout", c.server.frame_timeout.count()}}},
    {"default_flavor", c.default_flavor},
  };
  out["retention"] = {{"days", c.retention.days},
                      {"max_log_bytes", c.retention.max_log_bytes == 0 ? json(0) : json(format_size(c.retention.max_log_bytes))},
                      {"accounting_days", c.retention.accounting_days}};
  out["limits"]["default_time"] = c.limits.default_time.count();
  out["limits"]["max_running_per_user"] = c.limits.max_running_per_user;
  out["limits"]["max_queued_per_user"] = c.limits.max_queued_per_user;
  out["limits"]["max_stored_bytes_per_user"] = format_size(c.limits.max_stored_bytes_per_user);
  out["limits"]["min_free_disk"] = format_size(c.limits.min_free_disk);
  out["limits"]["max_log_bytes_per_user"] = format_size(c.limits.max_log_bytes_per_user);
  out["limits"]["max_active_per_user"] = c.limits.max_active_per_user;
  out["limits"]["home_size"] = format_size(c.limits.home_size);
  out["limits"]["max_retries"] = c.limits.max_retries;
  out["limits"]["retry_delay"] = c.limits.retry_delay.count();
  out["limits"]["max_array_size"] = c.limits.max_array_size;
  if (c.backend.kind == BackendKind::Slurm) {
    const SlurmConfig& sl = c.backend.slurm;
    out["backend"].update({{"partition", sl.partition}, {"account", sl.account}, {"qos", sl.qos}, {"sbatch", sl.sbatch}, {"squeue", sl.squeue},
                           {"scancel", sl.scancel}, {"sacct", sl.sacct}, {"scontrol", sl.scontrol}, {"sacct_args", sl.sacct_args},
                           {"poll_interval", fmt::format("{}ms", sl.poll_interval.count())}, {"time_margin", sl.time_margin.count()}, {"node_helper", sl.node_helper}});
  }
  out["flavors"] = json::array();
  for (const auto& f : c.flavors)
    out["flavors"].push_back({{"name", f.name}, {"description", f.description}, {"cpus", f.cpus}, {"memory", format_size(f.memory)},
                              {"shm", format_size(f.shm)}, {"gpus", f.gpus}, {"max_time", f.max_time.count()}, {"slots", f.slots},
                              {"env", env_to_json(f.env)}});
  out["gpus"] = {{"devices", c.gpus.autodetect ? json("auto") : json(c.gpus.devices)}};
  out["mounts"] = json::array();
  for (const auto& m : c.mounts)
    out["mounts"].push_back({{"source", m.source}, {"target", m.target}, {"read_only", m.read_only}, {"optional", m.optional}});
  out["env"] = env_to_json(c.env); // secrets as ***: --check-config prints this
  if (!c.notify.command.empty())
    out["notify"] = {{"command", c.notify.command}, {"user", c.notify.user}, {"uid", c.notify.uid}, {"timeout", c.notify.timeout.count()},
                     {"states", c.notify.states}, {"max_running", c.notify.max_running}};
  return out.dump(2);
}

} // namespace jobman
