#include "seegw/daemon/peer.hpp"

#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>

namespace seegw::daemon {

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail_errno("SO_PEERCRED");
  PeerCredentials p{cred.pid, cred.uid, cred.gid, {}, {}};
  std::vector<gid_t> groups(64);
  socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) {
    if (errno != ERANGE) return fail_errno("SO_PEERGROUPS");
    groups.resize(glen / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0)
      return fail_errno("SO_PEERGROUPS");
  }
  groups.resize(glen / sizeof(gid_t));
  p.groups = std::move(groups);
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &found) == 0 && found)
    p.user = found->pw_name;
  else
    p.user = "uid " + std::to_string(cred.uid);
  return p;
}

console::Role role_of(const PeerCredentials& peer, const RoleGroups& roles) {
  if (peer.uid == 0) return console::Role::admin;
  auto member = [&](const std::vector<gid_t>& of) {
    for (gid_t g : of)
      if (g == peer.gid ||
          std::find(peer.groups.begin(), peer.groups.end(), g) != peer.groups.end())
        return true;
    return false;
  };
  if (member(roles.admin)) return console::Role::admin;
  if (member(roles.operators)) return console::Role::operator_;
  if (member(roles.auditors)) return console::Role::auditor;
  return console::Role::none;
}

}  // namespace seegw::daemon
