#include "daemon/server/peer_identity.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace jobman::daemon::server {

namespace {
constexpr std::chrono::seconds k_identity_ttl{2};
} // namespace

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
  // Who a (uid, gid) is, remembered for k_identity_ttl: the user and group databases
  // (NSS: files, systemd, LDAP) were 14 % of jobmand's time under 20 clients submitting
  // at once. A change to a user's groups takes effect within that time.
  struct Known {
    PeerIdentity peer;
    std::string admin_group;
    std::chrono::steady_clock::time_point until;
  };
  static std::map<std::pair<uid_t, gid_t>, Known> known; // the event loop's thread only
  const auto now = std::chrono::steady_clock::now();
  const auto key = std::make_pair(cred.uid, cred.gid);
  if (auto it = known.find(key); it != known.end() && it->second.until > now && it->second.admin_group == admin_group) {
    PeerIdentity peer = it->second.peer;
    peer.pid = cred.pid;
    return peer;
  }
  if (known.size() >= 4096) known.clear();
  PeerIdentity peer = identity_of(cred.uid, cred.gid, cred.pid, admin_group);
  known[key] = Known{peer, admin_group, now + k_identity_ttl};
  return peer;
}

} // namespace jobman::daemon::server
