#include "daemon/backend/cgroup_usage.hpp"

#include "common/file_descriptor.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <limits>
#include <map>
#include <unistd.h>

namespace jobman::daemon::backend {

namespace {

constexpr std::size_t k_max_cgroup_file = 64 << 10;

// The first line of `rest` (without its newline), which then starts after it.
std::string_view next_line(std::string_view& rest) {
  const std::size_t end = rest.find('\n');
  const std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return line;
}

bool is_hex_id(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A cgroup path as the kernel writes it: absolute, no empty, "." or ".." component.
bool is_clean_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path == "/") return true;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// `path` up to and including its first component that holds `id`; nothing if none does.
std::optional<std::string> up_to_container(std::string_view path, std::string_view id) {
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start).find(id) != std::string_view::npos) return std::string(path.substr(0, end));
    start = end + 1;
  }
  return std::nullopt;
}

bool has_controller(std::string_view list, std::string_view name) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    if (list.substr(start, end - start) == name) return true;
    start = end + 1;
  }
  return false;
}

// A controller list as a v1 hierarchy's directory name: lowercase letters, digits, '_' and ','.
bool is_controller_list(std::string_view list) {
  return !list.empty() && std::all_of(list.begin(), list.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ','; });
}

std::optional<std::string> read_small_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > k_max_cgroup_file) return std::nullopt;
  }
  return text;
}

// A non-negative decimal of at most 18 digits (below 10^18: sums of two stay in int64).
std::optional<std::int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// A file holding one number and a newline (memory.peak, cpuacct.usage).
std::optional<std::int64_t> read_number(const std::string& path) {
  auto text = read_small_file(path);
  if (!text) return std::nullopt;
  std::string_view view(*text);
  if (!view.empty() && view.back() == '\n') view.remove_suffix(1);
  return parse_count(view);
}

// A file of "key value" lines (cpuacct.stat, cpu.stat); nothing if a line is not one.
std::optional<std::map<std::string, std::int64_t, std::less<>>> read_keyed(const std::string& path) {
  auto text = read_small_file(path);
  if (!text) return std::nullopt;
  std::map<std::string, std::int64_t, std::less<>> values;
  std::string_view rest(*text);
  while (!rest.empty()) {
    const std::string_view line = next_line(rest);
    if (line.empty()) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto value = parse_count(line.substr(space + 1));
    if (!value) return std::nullopt;
    values.emplace(std::string(line.substr(0, space)), *value);
  }
  return values;
}

std::optional<std::int64_t> lookup(const std::map<std::string, std::int64_t, std::less<>>& values, std::string_view key) {
  auto it = values.find(key);
  return it == values.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
}

// Clock ticks as ms, without overflowing for counts near 10^18 (at most int64's largest).
std::int64_t ticks_to_ms(std::int64_t ticks, std::int64_t per_second) {
  const __int128 ms = static_cast<__int128>(ticks) * 1000 / per_second;
  return ms > std::numeric_limits<std::int64_t>::max() ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(ms);
}

std::optional<std::int64_t> larger(std::optional<std::int64_t> a, std::optional<std::int64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

} // namespace

std::optional<CgroupDirs> container_cgroup(std::string_view proc_cgroup, std::string_view container_id, const std::string& cgroup_root) {
  if (!is_hex_id(container_id)) return std::nullopt;
  std::optional<std::string> v1_memory, v1_cpu, v2;
  std::string_view rest = proc_cgroup;
  while (!rest.empty()) {
    const std::string_view line = next_line(rest);
    if (line.empty()) continue;
    // hierarchy-id:controller-list:path (the path may itself hold ':')
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos || !parse_count(line.substr(0, first))) return std::nullopt;
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string_view path = line.substr(second + 1);
    if (!is_clean_path(path)) return std::nullopt;
    if (controllers.rfind("name=", 0) == 0) continue; // named hierarchies (name=systemd) count nothing
    auto dir = up_to_container(path, container_id);
    if (controllers.empty()) {
      if (dir) v2 = cgroup_root + *dir;
      continue;
    }
    if (!is_controller_list(controllers)) return std::nullopt;
    if (!dir) continue;
    if (has_controller(controllers, "memory")) v1_memory = cgroup_root + "/" + std::string(controllers) + *dir;
    if (has_controller(controllers, "cpuacct")) v1_cpu = cgroup_root + "/" + std::string(controllers) + *dir;
  }
  // A hybrid system (v1 controllers, an empty v2 hierarchy at cgroup_root/unified) counts
  // in v1; a v2 system has the "0::" line only.
  if (v1_memory && v1_cpu) return CgroupDirs{1, *v1_memory, *v1_cpu};
  if (v1_memory || v1_cpu) return std::nullopt;
  if (v2) return CgroupDirs{2, *v2, *v2};
  return std::nullopt;
}

std::optional<std::string> read_proc_cgroup(int pid, const std::string& proc_root) {
  if (pid <= 0) return std::nullopt;
  return read_small_file(proc_root + "/" + std::to_string(pid) + "/cgroup");
}

std::optional<Usage> read_usage(const CgroupDirs& dirs, const std::optional<Usage>& previous) {
  Usage usage;
  if (dirs.version == 1) {
    auto peak = read_number(dirs.memory + "/memory.max_usage_in_bytes");
    auto total = read_number(dirs.cpu + "/cpuacct.usage");
    auto split = read_keyed(dirs.cpu + "/cpuacct.stat");
    if (!peak || !total || !split) return std::nullopt;
    const long ticks = ::sysconf(_SC_CLK_TCK);
    const std::int64_t per_second = ticks > 0 ? ticks : 100;
    usage.peak_memory = *peak;
    usage.cpu_ms = *total / 1000000;
    if (auto user = lookup(*split, "user")) usage.cpu_user_ms = ticks_to_ms(*user, per_second);
    if (auto system = lookup(*split, "system")) usage.cpu_system_ms = ticks_to_ms(*system, per_second);
    // Hierarchical (its child cgroups too) where the kernel has them.
    if (auto stat = read_keyed(dirs.memory + "/memory.stat")) {
      auto rss = lookup(*stat, "total_rss"), shmem = lookup(*stat, "total_shmem");
      if (!rss) rss = lookup(*stat, "rss");
      if (!shmem) shmem = lookup(*stat, "shmem");
      if (rss && shmem) usage.peak_resident = *rss + *shmem;
    }
    usage.source = "cgroup v1";
  } else if (dirs.version == 2) {
    auto stat = read_keyed(dirs.cpu + "/cpu.stat");
    if (!stat) return std::nullopt;
    auto peak = read_number(dirs.memory + "/memory.peak");
    if (!peak) peak = read_number(dirs.memory + "/memory.current");
    if (!peak) return std::nullopt;
    usage.peak_memory = *peak;
    if (auto memory = read_keyed(dirs.memory + "/memory.stat")) {
      auto anon = lookup(*memory, "anon"), shmem = lookup(*memory, "shmem");
      if (anon && shmem) usage.peak_resident = *anon + *shmem;
    }
    if (auto total = lookup(*stat, "usage_usec")) usage.cpu_ms = *total / 1000;
    if (auto user = lookup(*stat, "user_usec")) usage.cpu_user_ms = *user / 1000;
    if (auto system = lookup(*stat, "system_usec")) usage.cpu_system_ms = *system / 1000;
    usage.source = "cgroup v2";
  } else {
    return std::nullopt;
  }
  if (previous) {
    usage.peak_memory = larger(usage.peak_memory, previous->peak_memory);
    usage.peak_resident = larger(usage.peak_resident, previous->peak_resident);
    usage.cpu_ms = larger(usage.cpu_ms, previous->cpu_ms);
    usage.cpu_user_ms = larger(usage.cpu_user_ms, previous->cpu_user_ms);
    usage.cpu_system_ms = larger(usage.cpu_system_ms, previous->cpu_system_ms);
  }
  return usage;
}

std::string usage_lines(const Usage& usage) {
  std::string out;
  auto add = [&out](const char* key, const std::optional<std::int64_t>& value) {
    if (value) out += std::string(key) + "=" + std::to_string(*value) + "\n";
  };
  add("peak_memory", usage.peak_memory);
  add("peak_resident", usage.peak_resident);
  add("cpu_ms", usage.cpu_ms);
  add("cpu_user_ms", usage.cpu_user_ms);
  add("cpu_system_ms", usage.cpu_system_ms);
  out += "usage_source=" + usage.source + "\n";
  return out;
}

bool read_usage_line(std::string_view key, std::string_view value, Usage& usage) {
  if (key == "usage_source") {
    if (value != "cgroup v1" && value != "cgroup v2") return false;
    usage.source = std::string(value);
    return true;
  }
  std::optional<std::int64_t>* field = key == "peak_memory"     ? &usage.peak_memory
                                       : key == "peak_resident" ? &usage.peak_resident
                                       : key == "cpu_ms"        ? &usage.cpu_ms
                                       : key == "cpu_user_ms"   ? &usage.cpu_user_ms
                                       : key == "cpu_system_ms" ? &usage.cpu_system_ms
                                                                : nullptr;
  if (!field) return false;
  auto number = parse_count(value);
  if (!number) return false;
  *field = number;
  return true;
}

} // namespace jobman::daemon::backend
