// seegw-control's console: every command the console offers has exactly one handler, and every
// handler answers a command the console offers (the daemon refuses to start otherwise).
#include <gtest/gtest.h>

#include <set>

#include "seegw/console/commands.hpp"
#include "seegw/daemon/controller.hpp"

namespace seegw::daemon {
namespace {

TEST(CommandTable, EveryCommandHasItsHandlerAndNoHandlerIsLeftOver) {
  EXPECT_EQ(Controller::command_table_mismatch(), "");
  std::set<std::string> offered;
  for (const auto& spec : console::commands()) offered.insert(spec.name());
  std::set<std::string> handled;
  for (const auto& [name, handler] : Controller::handlers()) {
    handled.insert(name);
    EXPECT_NE(handler, nullptr) << name;
  }
  EXPECT_EQ(offered, handled);
}

}  // namespace
}  // namespace seegw::daemon
