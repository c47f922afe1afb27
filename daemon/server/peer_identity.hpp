#pragma once
// Who is on the other end of a connection: from SO_PEERCRED and the system's user and
// group databases, never from anything the client sends.

#include "common/errors.hpp"

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace jobman::daemon::server {

struct PeerIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string user;          // login name, or "uid<N>" when the uid has no passwd entry
  std::string home;          // home directory ("" without a passwd entry)
  std::vector<gid_t> groups; // primary and supplementary
  bool admin = false;        // root, or member of admin_group
  bool known = false;        // the uid has a passwd entry
};

// Reads the credentials of the peer of connected Unix socket `fd`.
Result<PeerIdentity> peer_identity(int fd, const std::string& admin_group);
// Identity of `uid`/`gid` as the system knows it (used by peer_identity and by tests).
PeerIdentity identity_of(uid_t uid, gid_t gid, pid_t pid, const std::string& admin_group);

} // namespace jobman::daemon::server
