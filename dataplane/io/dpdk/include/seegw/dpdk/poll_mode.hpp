// The poll-mode data plane: a DPDK port (a NIC, or in tests a TAP or AF_PACKET vdev) with one
// queue pair per lane; each lane is one I/O loop's thread running its queue to completion — rx
// burst, its own sans-IO IPv4/TCP stack (dataplane/netstack) and flow table, the SMTP sessions
// above it, tx burst — with nothing in the loop that blocks: spool writes and crypto already run
// on the TBB pool and come back through the loop's lock-free post queue. The port's RSS spreads
// connections over the queues; a frame that reaches a lane not owning its connection is handed
// to the owner through a ring (netstack/steering.hpp). Each lane is a NetworkBackend: the
// relay's sessions see it as transports. DPDK's headers stay in the .cpp (they bring their own
// compiler flags).
#pragma once

#include <memory>
#include <string>

#include "seegw/common/error.hpp"
#include "seegw/config/config.hpp"
#include "seegw/io/transport.hpp"

namespace seegw::dpdk {

class PollModeBackend : public io::NetworkPlane {
 public:
  // Initialises the EAL (once per process) from settings.eal_args, the packet pool inside its
  // memory, the port with settings.queues queue pairs, and one stack per lane on
  // settings.address.
  static Result<std::unique_ptr<PollModeBackend>> start(const config::PollModeSettings& settings);
  ~PollModeBackend() override;

  std::size_t lanes() const override;
  io::NetworkBackend& lane(std::size_t i) override;
  // The loop's thread becomes lane i's poll-mode thread (registered with the EAL).
  void attach(std::size_t i, io::EventLoop& loop) override;
  // Port, stack and fault counters added up over the lanes, then one line per lane.
  std::string statistics() const override;

  struct Port;
  struct Lane;

 private:
  PollModeBackend() = default;
  std::unique_ptr<Port> port_;
};

}  // namespace seegw::dpdk
