// The DPDK backend on a real DPDK port without a NIC or the kernel: DPDK's own ring PMD
// (net_ring, memory only) under an EAL without hugepages. A port that does not exist is a clear
// error, never a crash; the ring port starts with one lane per queue pair and counts its traffic.
// The EAL wants root here (it locks memory and probes devices): skipped otherwise.
#include "seegw/dpdk/poll_mode.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace seegw::dpdk {
namespace {

std::string prefix() { return "seegw-unit-" + std::to_string(::getpid()); }

// The EAL's runtime directory goes with the process.
void remove_runtime_directory() {
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix(), ec);
}

config::PollModeSettings ring_port(std::uint16_t port) {
  std::atexit(remove_runtime_directory);
  config::PollModeSettings s;
  s.enabled = true;
  s.eal_args = {"--no-huge",
                "-m",
                "256",
                "--no-pci",
                "--no-shconf",
                "--file-prefix=" + prefix(),
                "-l",
                "0",
                "--vdev=net_ring0",
                "--log-level=eal:error"};
  s.port = port;
  s.address = "198.18.0.2/24";
  s.mbufs = 2047;
  return s;
}

// The EAL starts once per process; ctest runs each test in a process of its own.
Result<std::unique_ptr<PollModeBackend>> start_or_skip(std::uint16_t port, bool& skip) {
  skip = ::geteuid() != 0;
  if (skip) return fail(Errc::config, "the EAL needs root here");
  auto backend = PollModeBackend::start(ring_port(port));
  skip = !backend && backend.error().message.find("already running") != std::string::npos;
  return backend;
}

TEST(PollModeBackend, ARingPortStartsWithOneLanePerQueuePair) {
  bool skip = false;
  auto backend = start_or_skip(0, skip);
  if (skip) GTEST_SKIP() << "needs root and a process of its own";
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->lanes(), 1u);
  EXPECT_FALSE((*backend)->statistics().empty());
}

TEST(PollModeBackend, APortThatDoesNotExistIsAClearError) {
  bool skip = false;
  auto missing = start_or_skip(7, skip);
  if (skip) GTEST_SKIP() << "needs root and a process of its own";
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find('7'), std::string::npos) << missing.error().message;
}

}  // namespace
}  // namespace seegw::dpdk
