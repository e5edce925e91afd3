// rule OPS-4: a console caller's role comes from the kernel's credentials for the socket — root,
// then the highest role one of its groups (primary or supplementary) is configured for.
#include "seegw/daemon/peer.hpp"

#include <gtest/gtest.h>

namespace seegw::daemon {
namespace {

TEST(PeerRoles, TheCallersGroupsDecide) {
  RoleGroups g{{100}, {200}, {300}};
  PeerCredentials root{1, 0, 0, {}, "root"};
  EXPECT_EQ(role_of(root, g), console::Role::admin);
  PeerCredentials p{1, 1000, 1000, {5, 300}, "alice"};
  EXPECT_EQ(role_of(p, g), console::Role::auditor);
  p.groups.push_back(200);
  EXPECT_EQ(role_of(p, g), console::Role::operator_);
  p.gid = 100;  // the primary group counts too
  EXPECT_EQ(role_of(p, g), console::Role::admin);
  PeerCredentials nobody{1, 65534, 65534, {}, "nobody"};
  EXPECT_EQ(role_of(nobody, g), console::Role::none);
}

}  // namespace
}  // namespace seegw::daemon
