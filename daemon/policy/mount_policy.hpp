#pragma once
// Turning the admin's mount templates into the host directories a user's job gets.
// Users never name host paths; they only get what the templates give them, checked with
// their own uid and groups.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/file_descriptor.hpp"
#include "common/job.hpp"
#include "daemon/mounts/source_opener.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace jobman::daemon::policy {

struct Submitter {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::string home;
  std::vector<std::uint32_t> groups; // supplementary and primary
};

// The submitter of `job` as the system knows them now (home from the passwd database).
Submitter submitter_of(const Job& job);

// Opens mount sources as the submitter (mounts::open_sources; tests may substitute).
using SourceOpener =
  std::function<Result<std::vector<mounts::OpenedSource>>(const std::vector<mounts::SourceRequest>&, const mounts::Opener&)>;

// "{user}", "{uid}", "{home}" (and "{source}" in targets) replaced.
std::string expand_template(const std::string& text, const Submitter& submitter, const std::string& source = {});

// Whether `path` is `root` or below it (both absolute, plain).
bool is_within(std::string_view path, std::string_view root);

// `target` with a leading "{image_home}" (only a template's own text can hold it there)
// replaced by `image_home`; "" (no home) stands for the root: "{image_home}/x" -> "/x".
std::string with_image_home(const std::string& target, const std::string& image_home);

// A mount whose source the submitter opened: `fd` is what gets mounted (O_PATH).
struct OpenedMount {
  Mount mount; // source: where `fd` really is, as the kernel names it
  FileDescriptor fd;
  bool is_directory = false;
  std::string root; // the template's root, expanded for the submitter, that `mount.source` lies within
};

// Expands every template and opens its source as the submitter (`open`): the source must
// exist (unless optional), be reachable, readable (and writable for read-write templates)
// by the submitter, and lie inside the template's root (the path up to its first
// placeholder's component), wherever its symlinks lead. Errors say only what the
// submitter could have found out themselves.
Result<std::vector<OpenedMount>> open_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter,
                                             const SourceOpener& open = mounts::open_sources);

// A mount to open again where the job runs (a Slurm node, daemon/mounts/node_plan.hpp):
// the directory jobmand's own check at start found, and the root it must still lie within.
struct PinnedSource {
  std::string root;
  std::string source;
  std::string target;
  bool read_only = true;
};

// Opens each of `sources` as the submitter, with open_mounts' checks (none is optional: a
// source gone since jobmand's check is an error).
boost::asio::awaitable<Result<std::vector<OpenedMount>>> reopen_mounts_async(std::vector<PinnedSource> sources, Submitter submitter);

// open_mounts for the daemon: the submitter's child awaited on the event loop
// (mounts::open_sources_async), never blocking it.
boost::asio::awaitable<Result<std::vector<OpenedMount>>> open_mounts_async(std::vector<MountTemplate> templates, Submitter submitter);

// open_mounts, for checking: the mounts, their descriptors closed.
Result<std::vector<Mount>> resolve_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter,
                                          const SourceOpener& open = mounts::open_sources);
boost::asio::awaitable<Result<std::vector<Mount>>> resolve_mounts_async(std::vector<MountTemplate> templates, Submitter submitter);

} // namespace jobman::daemon::policy
