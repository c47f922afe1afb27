#include "daemon/server/peer_identity.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace jobman::daemon::server {

PeerIdentity identity_of(uid_t uid, gid_t gid, pid_t pid, const std::string& admin_group) {
  PeerIdentity peer{uid, gid, pid, fmt::format("uid{}", uid), "", {gid}, uid == 0};
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found) {
    peer.user = pw.pw_name;
    peer.home = pw.pw_dir;
    peer.known = true;
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (::getgrouplist(pw.pw_name, gid, groups.data(), &count) < 0) {
      groups.resize(static_cast<std::size_t>(count));
      ::getgrouplist(pw.pw_name, gid, groups.data(), &count);
    }
    groups.resize(static_cast<std::size_t>(std::max(count, 0)));
    peer.groups = groups;
  }
  if (!admin_group.empty()) {
    group gr{};
    group* g = nullptr;
    if (::getgrnam_r(admin_group.c_str(), &gr, buffer.data(), buffer.size(), &g) == 0 && g)
      peer.admin = peer.admin || std::find(peer.groups.begin(), peer.groups.end(), g->gr_gid) != peer.groups.end();
  }
  return peer;
}

Result<PeerIdentity> peer_identity(int fd, const std::string& admin_group) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return ErrorInfo{ErrorCode::Internal, fmt::format("cannot read peer credentials: {}", std::strerror(errno))};
  return identity_of(cred.uid, cred.gid, cred.pid, admin_group);
}

} // namespace jobman::daemon::server
