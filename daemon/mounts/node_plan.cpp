#include "daemon/mounts/node_plan.hpp"

#include "common/file_descriptor.hpp"
#include "common/json_depth.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace jobman::daemon::mounts {

namespace {
constexpr int k_plan_version = 1;
constexpr std::size_t k_max_entries = 64;
constexpr std::size_t k_max_plan_bytes = 1 << 20;

// An absolute path the engine's --mount syntax and the kernel take as it is.
bool plain_absolute(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.size() > 4096) return false;
  if (path.find_first_of(std::string_view(",\n\r\0", 4)) != std::string::npos) return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part(path.data() + start, end - start);
    if (part == "..") return false;
    start = end + 1;
  }
  return true;
}

// The index in `name` after `prefix` ("3", "home3"), if that is all there is.
std::optional<std::size_t> index_after(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  std::size_t index = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
  if (ec != std::errc{} || end != name.data() + name.size() || name.empty() || index >= k_max_entries) return std::nullopt;
  return index;
}
} // namespace

std::string node_staging_dir(std::string_view container) { return fmt::format("{}/{}", k_node_staging_root, container); }

bool is_node_dir_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.' || name.front() == '-') return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == std::string_view::npos;
}

std::optional<NodePlan> node_plan(const Job& job, const std::function<std::string(std::size_t, const std::string&)>& tar_of) {
  const std::string dir = node_staging_dir(job.container);
  NodePlan plan{dir, job.user, job.uid, job.gid, {job.gid}, {}, {}};
  plan.groups.insert(plan.groups.end(), job.spec.groups.begin(), job.spec.groups.end()); // as policy::submitter_of
  for (const Mount& m : job.spec.mounts) {
    if (!m.source.starts_with(dir + "/")) continue;
    const std::string_view name = std::string_view(m.source).substr(dir.size() + 1);
    if (m.image_copy) {
      if (auto index = index_after(name, "home"))
        plan.homes.push_back({*index, m.copy_tar.empty() ? std::string{} : tar_of(*index, m.copy_tar), m.copy_size});
    } else if (auto index = index_after(name, "")) {
      plan.mounts.push_back({*index, m.root, m.origin, m.target, m.read_only});
    }
  }
  if (plan.mounts.empty() && plan.homes.empty()) return std::nullopt;
  return plan;
}

std::string plan_to_text(const NodePlan& plan) {
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& m : plan.mounts)
    mounts.push_back({{"index", m.index}, {"root", m.root}, {"path", m.path}, {"target", m.target}, {"read_only", m.read_only}});
  nlohmann::json homes = nlohmann::json::array();
  for (const auto& h : plan.homes) homes.push_back({{"index", h.index}, {"tar", h.tar}, {"size", h.size}});
  nlohmann::json out{{"version", k_plan_version}, {"dir", plan.dir},     {"user", plan.user},     {"uid", plan.uid},
                     {"gid", plan.gid},           {"groups", plan.groups}, {"mounts", mounts}, {"homes", homes}};
  return out.dump() + "\n";
}

Result<NodePlan> parse_plan(std::string_view text) {
  auto bad = [](const std::string& why) { return ErrorInfo{ErrorCode::InvalidArgument, "bad staging plan: " + why}; };
  if (text.size() > k_max_plan_bytes) return bad("larger than 1 MiB");
  if (auto deep = json_depth_problem(text, 8)) return bad(*deep);
  nlohmann::json in = nlohmann::json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return bad("not a JSON object");
  try {
    if (!in.contains("version") || !in["version"].is_number_integer() || in["version"].get<int>() != k_plan_version)
      return bad(fmt::format("not version {}", k_plan_version));
    NodePlan plan;
    auto string_of = [&](const nlohmann::json& object, const char* key) -> std::optional<std::string> {
      if (!object.contains(key) || !object[key].is_string()) return std::nullopt;
      return object[key].get<std::string>();
    };
    auto id_of = [&](const nlohmann::json& value) -> std::optional<std::uint32_t> {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() > 0xfffffffeU) return std::nullopt;
      return static_cast<std::uint32_t>(value.get<std::uint64_t>());
    };
    auto dir = string_of(in, "dir");
    const std::string prefix = std::string(k_node_staging_root) + "/";
    if (!dir || !dir->starts_with(prefix) || !is_node_dir_name(std::string_view(*dir).substr(prefix.size())))
      return bad(fmt::format("its directory must be {}<a container name>", prefix));
    plan.dir = *dir;
    auto user = string_of(in, "user");
    if (!user || user->empty() || user->size() > 256 || user->find('\0') != std::string::npos) return bad("no user");
    plan.user = *user;
    auto uid = in.contains("uid") ? id_of(in["uid"]) : std::nullopt;
    auto gid = in.contains("gid") ? id_of(in["gid"]) : std::nullopt;
    // (Root's own jobs are opened as root, as jobmand's check did.)
    if (!uid || !gid) return bad("no user id");
    plan.uid = *uid;
    plan.gid = *gid;
    if (!in.contains("groups") || !in["groups"].is_array() || in["groups"].size() > 1024) return bad("no groups");
    for (const auto& g : in["groups"]) {
      auto id = id_of(g);
      if (!id) return bad("a group that is not a number");
      plan.groups.push_back(*id);
    }
    std::set<std::size_t> mount_indexes, home_indexes;
    auto index_of = [&](const nlohmann::json& entry, std::set<std::size_t>& seen) -> std::optional<std::size_t> {
      if (!entry.contains("index") || !entry["index"].is_number_unsigned()) return std::nullopt;
      const auto index = entry["index"].get<std::uint64_t>();
      if (index >= k_max_entries || !seen.insert(index).second) return std::nullopt;
      return static_cast<std::size_t>(index);
    };
    if (!in.contains("mounts") || !in["mounts"].is_array() || in["mounts"].size() > k_max_entries) return bad("no list of mounts");
    for (const auto& m : in["mounts"]) {
      if (!m.is_object()) return bad("a mount that is not an object");
      NodeMount mount;
      auto index = index_of(m, mount_indexes);
      auto root = string_of(m, "root"), path = string_of(m, "path"), target = string_of(m, "target");
      if (!index) return bad("a mount without a distinct index below 64");
      if (!root || !path || !target || !plain_absolute(*root) || !plain_absolute(*path) || !plain_absolute(*target))
        return bad(fmt::format("mount {}: its root, path and target must be plain absolute paths", *index));
      if (!m.contains("read_only") || !m["read_only"].is_boolean()) return bad(fmt::format("mount {}: no read_only", *index));
      plan.mounts.push_back({*index, *root, *path, *target, m["read_only"].get<bool>()});
    }
    if (!in.contains("homes") || !in["homes"].is_array() || in["homes"].size() > k_max_entries) return bad("no list of homes");
    for (const auto& h : in["homes"]) {
      if (!h.is_object()) return bad("a home that is not an object");
      auto index = index_of(h, home_indexes);
      auto tar = string_of(h, "tar");
      if (!index) return bad("a home without a distinct index below 64");
      if (!tar || (!tar->empty() && !plain_absolute(*tar))) return bad(fmt::format("home {}: its tar must be a plain absolute path", *index));
      if (!h.contains("size") || !h["size"].is_number_integer() || h["size"].get<std::int64_t>() <= 0)
        return bad(fmt::format("home {}: its size must be a positive number of bytes", *index));
      plan.homes.push_back({*index, *tar, h["size"].get<std::int64_t>()});
    }
    // Mounts pinned at <dir>/0, <dir>/1, ... in order: the engine's command line names them so.
    for (std::size_t i = 0; i < plan.mounts.size(); ++i)
      if (plan.mounts[i].index != i) return bad("mounts not numbered 0, 1, ... in order");
    return plan;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

Result<std::string> read_plan_file(const std::string& path) {
  auto bad = [&](const std::string& why) { return ErrorInfo{ErrorCode::PermissionDenied, fmt::format("staging plan {}: {}", path, why)}; };
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return bad(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return bad(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return bad("not a regular file");
  if (st.st_uid != ::geteuid()) return bad(fmt::format("owned by uid {}, not by {}", st.st_uid, ::geteuid()));
  if ((st.st_mode & 022) != 0) return bad("writable by group or others");
  if (static_cast<std::uint64_t>(st.st_size) > k_max_plan_bytes) return bad("larger than 1 MiB");
  std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return bad(std::strerror(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done > k_max_plan_bytes) return bad("larger than 1 MiB");
  text.resize(done);
  return text;
}

} // namespace jobman::daemon::mounts
