// Who is on the other end of the control socket: the kernel's word (SO_PEERCRED and
// SO_PEERGROUPS, taken at connect time), never anything the client says about itself.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/console/commands.hpp"
#include "seegw/daemon/control_config.hpp"

namespace seegw::daemon {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string user;           // the account name, or "uid N"
};

Result<PeerCredentials> peer_credentials(int fd);

// root is admin; otherwise the highest role one of the caller's groups (primary or
// supplementary) is configured for; none when no group is.
console::Role role_of(const PeerCredentials& peer, const RoleGroups& roles);

}  // namespace seegw::daemon
