#pragma once
// Turning the admin's mount templates into the host directories a user's job gets.
// Users never name host paths; they only get what the templates give them, checked with
// their own uid and groups.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"

#include <functional>
#include <string>
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

// Whether `submitter` may access `path` with `mode` (R_OK, W_OK, X_OK, as access(2)).
using AccessCheck = std::function<bool(const std::string& path, const Submitter& submitter, int mode)>;

// The real check: a forked child takes the submitter's uid, gid and groups and calls
// access(2), so permissions, ACLs and root-squashed NFS answer as they would for them.
bool access_as(const std::string& path, const Submitter& submitter, int mode);

// "{user}", "{uid}", "{home}" (and "{source}" in targets) replaced.
std::string expand_template(const std::string& text, const Submitter& submitter, const std::string& source = {});

// Expands and checks every template: the source must exist (unless optional), resolve
// inside the template's root (the path up to its first placeholder's component: a user's
// symlink cannot lead elsewhere), and be readable (and writable for read-write mounts)
// by the submitter. The engine gets the resolved path.
Result<std::vector<Mount>> resolve_mounts(const std::vector<MountTemplate>& templates, const Submitter& submitter,
                                          const AccessCheck& can_access = access_as);

} // namespace jobman::daemon::policy
