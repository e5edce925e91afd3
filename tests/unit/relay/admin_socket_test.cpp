// The data plane's admin socket: who may use it is the kernel's word (SO_PEERCRED). Another user
// reaches it only when [admin] users names them (seegw-control under a user of its own).
#include "seegw/relay/admin_socket.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test_dir.hpp"
#include "seegw/common/unix_socket.hpp"

namespace seegw::relay {
namespace {

// Asks the socket for `status` as user `uid` (a child process that drops to it); returns the
// reply, or "" when it could not connect.
std::string status_as(const std::filesystem::path& socket, uid_t uid) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(3);
    auto reply = unix_request(socket, "status", std::chrono::seconds(5));
    const std::string out = reply ? *reply : "";
    (void)!::write(pipe_fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(pipe_fds[0]);
  ::waitpid(child, nullptr, 0);
  return out;
}

class AdminSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::getuid() != 0) GTEST_SKIP() << "needs root to ask as another user";
    const passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    other_ = nobody->pw_uid;
    // The other user must be able to reach the socket's folder; the file mode is the test.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::all);
  }
  std::unique_ptr<AdminSocket> open(std::vector<uid_t> also) {
    auto s = AdminSocket::open(
        dir_.path() / "admin.sock", [](const std::string& cmd) { return "ok " + cmd; }, also);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }
  test::TestDir dir_{"admin-socket"};
  uid_t other_ = 0;
};

TEST_F(AdminSocketTest, AnotherUserIsKeptOutUnlessNamed) {
  {
    auto socket = open({});
    EXPECT_EQ(status_as(dir_.path() / "admin.sock", other_), "");
    EXPECT_EQ(status_as(dir_.path() / "admin.sock", 0), "ok status\n");
  }
  auto socket = open({other_});
  EXPECT_EQ(status_as(dir_.path() / "admin.sock", other_), "ok status\n");
}

TEST_F(AdminSocketTest, ANamedUserDoesNotOpenTheDoorForOthers) {
  auto socket = open({other_ + 1});
  EXPECT_EQ(status_as(dir_.path() / "admin.sock", other_), "error: permission denied\n");
}

}  // namespace
}  // namespace seegw::relay
