#include "daemon/policy/mount_policy.hpp"

#include "common/duration.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <optional>
#include <pwd.h>
#include <utility>

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

bool is_within(std::string_view path, std::string_view root) {
  return path == root || (path.size() > root.size() && path.substr(0, root.size()) == root && (root == "/" || path[root.size()] == '/'));
}

std::string with_image_home(const std::string& target, const std::string& image_home) {
  constexpr std::string_view k_placeholder = "{image_home}";
  if (target.rfind(k_placeholder, 0) != 0) return target;
  std::string home = image_home == "/" ? std::string{} : image_home;
  return home + target.substr(k_placeholder.size());
}

// Whether `path` can be handed to the engine's --mount syntax unchanged.
bool is_plain_path(const std::string& path) {
  return !path.empty() && path.front() == '/' && path.find_first_of(",\n\r") == std::string::npos && path.find("/../") == std::string::npos;
}

namespace {

// One template, expanded for a submitter: what to open, and what to call it.
struct Wanted {
  MountTemplate t;
  std::string source;
  std::string target;
  std::string root;
};

struct Prepared {
  Submitter submitter;
  std::vector<Wanted> wanted;
  std::vector<mounts::SourceRequest> requests;
};

// Expands every template for `submitter`: nothing opened yet.
Result<Prepared> prepare(const std::vector<MountTemplate>& templates, const Submitter& submitter) {
  Prepared p{submitter, {}, {}};
  for (const auto& t : templates) {
    Wanted w{t, expand_template(t.source, submitter), "", expand_template(template_root(t.source), submitter)};
    w.target = expand_template(t.target, submitter, w.source);
    if (!is_plain_path(w.source) || !is_plain_path(with_image_home(w.target, "/i")))
      return ErrorInfo{ErrorCode::InvalidArgument, fmt::format("mount source '{}' (target '{}') is not a plain path: no ',', '..' or "
                                                               "line breaks; ask the platform admin",
                                                               w.source, w.target)};
    p.requests.push_back({w.root, w.source, !t.read_only});
    p.wanted.push_back(std::move(w));
  }
  return p;
}

// Judges what the submitter's child opened for `p`.
Result<std::vector<OpenedMount>> judge(const Prepared& p, Result<std::vector<mounts::OpenedSource>> opened) {
  const Submitter& submitter = p.submitter;
  const auto& wanted = p.wanted;
  if (!opened) return opened.error();
  if (opened->size() != wanted.size()) return ErrorInfo{ErrorCode::Internal, "the mount check answered for the wrong number of mounts"};
  std::vector<OpenedMount> result;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const Wanted& w = wanted[i];
    mounts::OpenedSource& o = (*opened)[i];
    const bool missing = o.error == ENOENT && o.step != mounts::OpenStep::Access;
    if (missing && w.t.optional) continue;
    if (missing)
      return ErrorInfo{ErrorCode::InvalidArgument,
                       fmt::format("mount source {} does not exist; create it or ask the platform admin", w.source)};
    const std::string verb = w.t.read_only ? "read" : "read and write";
    if (o.step == mounts::OpenStep::Access)
      return ErrorInfo{ErrorCode::PermissionDenied, fmt::format("you ({}) cannot {} {}; jobs only get what you can access yourself",
                                                                submitter.user, verb, w.source)};
    if (o.error == EACCES || o.error == EPERM)
      return ErrorInfo{ErrorCode::PermissionDenied, fmt::format("you ({}) cannot reach {}; jobs only get what you can access yourself",
                                                                submitter.user, w.source)};
    if (o.error == ELOOP || o.error == EXDEV)
      return ErrorInfo{ErrorCode::PermissionDenied,
                       fmt::format("mount source {} goes through a link jobman does not follow (a loop or /proc/.../fd)", w.source)};
    if (o.error == ETIMEDOUT)
      return ErrorInfo{ErrorCode::Unavailable,
                       fmt::format("mount source {} did not answer within {} (a hung network or FUSE file system); try again once it "
                                   "answers",
                                   w.source, format_duration(std::chrono::duration_cast<std::chrono::seconds>(mounts::k_open_timeout)))};
    if (o.error == ECANCELED)
      return ErrorInfo{ErrorCode::Unavailable,
                       fmt::format("mount source {}: the check ended before it answered (its process was killed); try again", w.source)};
    if (o.error != 0)
      return ErrorInfo{ErrorCode::InvalidArgument, fmt::format("mount source {}: {}", w.source, std::strerror(o.error))};
    // Where the descriptors really are, as the kernel names them now: the user could only
    // open what they may see, and only what lies inside the root is mounted.
    const std::string real_source = mounts::path_of(o.fd.get());
    const std::string real_root = mounts::path_of(o.root.get());
    // The root the user opened must be the admin's root itself, where its path leads: a
    // root the user detached meanwhile (a lazy unmount of their own FUSE mount) reads as
    // "/", and everything would be "inside" it. The root is the admin's part of the path
    // (the user cannot change where it leads); the child resolved it, as the user, since
    // doing it here could hang the daemon in the user's FUSE server.
    if (o.root_path.empty() || real_root != o.root_path)
      return ErrorInfo{ErrorCode::PermissionDenied,
                       fmt::format("mount source {}: {} changed while it was checked; try again", w.source, w.root)};
    if (real_source.empty() || real_root.empty() || !is_within(real_source, real_root))
      return ErrorInfo{ErrorCode::PermissionDenied,
                       fmt::format("mount source {} leads outside {}: symlinks may not lead out of it", w.source, w.root)};
    // The engine is given a path to this (a staging path at start): it must be plain, or a
    // directory named "x,type=volume,..." would add options to --mount.
    if (!is_plain_path(real_source))
      return ErrorInfo{ErrorCode::PermissionDenied, fmt::format("mount source {} resolves to something that is not a plain path (a ',' or a line break in a name)", w.source)};
    result.push_back({Mount{real_source, w.target, w.t.read_only, {}}, std::move(o.fd), o.is_directory, w.root});
  }
  return result;
}


} // namespace

Result<std::vector<OpenedMount>> open_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter,
                                             const SourceOpener& open) {
  auto prepared = prepare(templates, submitter);
  if (!prepared) return prepared.error();
  return judge(*prepared, open(prepared->requests, mounts::Opener{submitter.uid, submitter.gid, submitter.groups}));
}

boost::asio::awaitable<Result<std::vector<OpenedMount>>> open_mounts_async(std::vector<MountTemplate> templates, Submitter submitter) {
  auto prepared = prepare(templates, submitter);
  if (!prepared) co_return prepared.error();
  // Arguments as named objects moved in: GCC 12 destroys a temporary made inside a co_await
  // expression and passed by value to a coroutine twice.
  std::vector<mounts::SourceRequest> requests = prepared->requests;
  mounts::Opener who{submitter.uid, submitter.gid, submitter.groups};
  auto opened = co_await mounts::open_sources_async(std::move(requests), std::move(who));
  co_return judge(*prepared, std::move(opened));
}

boost::asio::awaitable<Result<std::vector<OpenedMount>>> reopen_mounts_async(std::vector<PinnedSource> sources, Submitter submitter) {
  Prepared p{submitter, {}, {}};
  for (auto& source : sources) {
    if (!is_plain_path(source.source) || !is_plain_path(source.root) || !is_plain_path(source.target))
      co_return ErrorInfo{ErrorCode::InvalidArgument, fmt::format("mount source '{}' (root '{}', target '{}') is not a plain path", source.source,
                                                                  source.root, source.target)};
    MountTemplate t{source.source, source.target, source.read_only, false};
    p.requests.push_back({source.root, source.source, !source.read_only});
    p.wanted.push_back(Wanted{std::move(t), source.source, source.target, source.root});
  }
  std::vector<mounts::SourceRequest> requests = p.requests; // named, then moved in (GCC 12)
  mounts::Opener who{submitter.uid, submitter.gid, submitter.groups};
  auto opened = co_await mounts::open_sources_async(std::move(requests), std::move(who));
  co_return judge(p, std::move(opened));
}

namespace {
Result<std::vector<Mount>> without_descriptors(Result<std::vector<OpenedMount>> opened) {
  if (!opened) return opened.error();
  std::vector<Mount> mounts;
  for (auto& m : *opened) mounts.push_back(std::move(m.mount));
  return mounts;
}
} // namespace

Result<std::vector<Mount>> resolve_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter, const SourceOpener& open) {
  return without_descriptors(open_mounts(templates, submitter, open));
}

boost::asio::awaitable<Result<std::vector<Mount>>> resolve_mounts_async(std::vector<MountTemplate> templates, Submitter submitter) {
  auto opened = co_await open_mounts_async(std::move(templates), std::move(submitter));
  co_return without_descriptors(std::move(opened));
}

} // namespace jobman::daemon::policy
