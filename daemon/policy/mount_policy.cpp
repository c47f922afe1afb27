#include "daemon/policy/mount_policy.hpp"

#include <cerrno>
#include <optional>
#include <utility>
#include <cstring>
#include <climits>
#include <cstdlib>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jobman::daemon::policy {

namespace {

// The part of template `source` a user cannot influence ends with the first component
// holding a placeholder: "/home/{user}/datasets" -> "/home/{user}".
std::string template_root(const std::string& source) {
  auto brace = source.find('{');
  if (brace == std::string::npos) return source;
  auto slash = source.find('/', brace);
  return slash == std::string::npos ? source : source.substr(0, slash);
}

std::optional<std::string> real_path(const std::string& path) {
  char buffer[PATH_MAX];
  if (!::realpath(path.c_str(), buffer)) return std::nullopt;
  return std::string(buffer);
}

bool is_within(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && (root == "/" || path[root.size()] == '/'));
}

} // namespace

Submitter submitter_of(const Job& job) {
  Submitter s{job.uid, job.gid, job.user, "", {job.gid}};
  s.groups.insert(s.groups.end(), job.spec.groups.begin(), job.spec.groups.end());
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(job.uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found) s.home = pw.pw_dir;
  return s;
}

bool access_as(const std::string& path, const Submitter& submitter, int mode) {
  std::vector<gid_t> groups(submitter.groups.begin(), submitter.groups.end());
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // Child: only async-signal-safe calls. Order matters: groups and gid before uid.
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(submitter.gid) != 0 || ::setuid(submitter.uid) != 0) ::_exit(2);
    ::_exit(::access(path.c_str(), mode) == 0 ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string expand_template(const std::string& text, const Submitter& submitter, const std::string& source) {
  // One pass: what a placeholder expands to is never expanded again (a user named "{uid}").
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::optional<std::string> value;
    std::size_t length = 0;
    for (const auto& [name, replacement] : {std::pair<std::string, std::string>{"{user}", submitter.user},
                                            {"{uid}", std::to_string(submitter.uid)},
                                            {"{home}", submitter.home},
                                            {"{source}", source}}) {
      if (text.compare(i, name.size(), name) == 0 && !(name == "{source}" && source.empty())) {
        value = replacement;
        length = name.size();
        break;
      }
    }
    if (value) {
      out += *value;
      i += length;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// Whether `path` can be handed to the engine's --mount syntax unchanged.
bool is_plain_path(const std::string& path) {
  return !path.empty() && path.front() == '/' && path.find_first_of(",\n\r") == std::string::npos && path.find("/../") == std::string::npos;
}

Result<std::vector<Mount>> resolve_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter,
                                          const AccessCheck& can_access) {
  std::vector<Mount> mounts;
  for (const auto& t : templates) {
    const std::string source = expand_template(t.source, submitter);
    const std::string target = expand_template(t.target, submitter, source);
    if (!is_plain_path(source) || !is_plain_path(target))
      return ErrorInfo{ErrorCode::InvalidArgument,
                       fmt::format("mount source '{}' (target '{}') is not a plain path: no ',', '..' or line breaks; ask the platform admin", source, target)};
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) {
      if (t.optional) continue;
      return ErrorInfo{ErrorCode::InvalidArgument,
                       fmt::format("mount source {} does not exist ({}); create it or ask the platform admin", source, std::strerror(errno))};
    }
    const std::string root = expand_template(template_root(t.source), submitter);
    auto real_source = real_path(source);
    auto real_root = real_path(root);
    if (!real_source || !real_root || !is_within(*real_source, *real_root))
      return ErrorInfo{ErrorCode::PermissionDenied,
                       fmt::format("mount source {} resolves to {}, outside {}: symlinks may not lead out of it", source,
                                   real_source.value_or("?"), root)};
    // The engine gets the resolved path: it must be as plain as the one checked, or a
    // symlink to "x,type=volume,..." would add options to --mount.
    if (!is_plain_path(*real_source))
      return ErrorInfo{ErrorCode::PermissionDenied, fmt::format("mount source {} resolves to '{}', which is not a plain path", source, *real_source)};
    const int mode = (S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK) | (t.read_only ? 0 : W_OK);
    if (!can_access(*real_source, submitter, mode))
      return ErrorInfo{ErrorCode::PermissionDenied,
                       fmt::format("you ({}) cannot {} {}; jobs only get what you can access yourself", submitter.user,
                                   t.read_only ? "read" : "read and write", source)};
    mounts.push_back({*real_source, target, t.read_only});
  }
  return mounts;
}

} // namespace jobman::daemon::policy
