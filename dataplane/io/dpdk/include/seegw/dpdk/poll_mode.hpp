// The poll-mode data plane: a DPDK port (a NIC, or in tests a TAP or AF_PACKET vdev) driven from
// one I/O loop's thread, run to completion — rx burst, the sans-IO IPv4/TCP stack
// (dataplane/netstack), the SMTP sessions above it, tx burst — with nothing in the loop that
// blocks: spool writes and crypto already run on the TBB pool and come back through the loop's
// lock-free post queue. It is a NetworkBackend: the relay's sessions see it as transports.
// DPDK's headers stay in the .cpp (they bring their own compiler flags).
#pragma once

#include <memory>
#include <string>

#include "seegw/common/error.hpp"
#include "seegw/config/config.hpp"
#include "seegw/io/transport.hpp"
#include "seegw/netstack/stack.hpp"

namespace seegw::dpdk {

class PollModeBackend : public io::NetworkBackend {
 public:
  // Initialises the EAL (once per process) from settings.eal_args, the packet pool inside its
  // memory, and the port; the stack takes settings.address.
  static Result<std::unique_ptr<PollModeBackend>> start(const config::PollModeSettings& settings);
  ~PollModeBackend() override;

  // The loop's thread becomes the port's poll-mode thread (registered with the EAL).
  void attach(io::EventLoop& loop);

  Result<void> listen(std::uint16_t port, Accept on_accept) override;
  Result<std::unique_ptr<io::Transport>> connect(const std::string& host, std::uint16_t port,
                                                 io::FdHandler* handler) override;

  // Stack, port and fault counters, one "name: value" per line (thread-safe snapshot).
  std::string statistics() const;

  struct Impl;

 private:
  PollModeBackend() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seegw::dpdk
