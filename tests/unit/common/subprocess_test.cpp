// run_program: a real child process each time (coreutils), never a shell.
#include "seegw/common/subprocess.hpp"

#include <gtest/gtest.h>

namespace seegw {
namespace {

using namespace std::chrono_literals;

TEST(RunProgram, CollectsOutputAndExitStatus) {
  auto r = run_program({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_status, 3);
  EXPECT_NE(r->output.find("out\n"), std::string::npos);
  EXPECT_NE(r->output.find("err\n"), std::string::npos);
}

TEST(RunProgram, ArgumentsAreNotAShellLine) {
  auto r = run_program({"/bin/echo", "a; rm -rf /", "$HOME"}, 10s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_EQ(r->output, "a; rm -rf / $HOME\n");
}

TEST(RunProgram, AProgramPastItsDeadlineIsKilledAndSaidSo) {
  const auto start = std::chrono::steady_clock::now();
  auto r = run_program({"/bin/sleep", "30"}, 300ms);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("did not finish"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunProgram, AMissingProgramIsAnErrorNotACrash) {
  auto r = run_program({"/nonexistent/rauc", "install", "x"}, 10s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/rauc"), std::string::npos);
}

TEST(RunProgram, OutputIsBounded) {
  auto r = run_program({"/usr/bin/head", "-c", "100000", "/dev/zero"}, 10s, 1000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->output.size(), 1000u);
  EXPECT_EQ(r->exit_status, 0);
}

}  // namespace
}  // namespace seegw
