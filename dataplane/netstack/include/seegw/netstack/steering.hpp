// Which lane owns a TCP connection when a port has several queues. A lane is one poll loop with
// its own queue pair, its own stack and flow table: nothing is shared between lanes, so every
// frame of a connection must reach the one lane that holds it. The port's RSS spreads received
// frames over the queues by a hash of its own — a NIC's Toeplitz hash, the kernel's flow hash
// behind an AF_PACKET fanout (which also rolls frames over to another queue when one is full) —
// that the lanes cannot always compute. So ownership is decided here, by one hash every lane
// agrees on: a lane that receives a frame it does not own hands it to the owner, and an active
// open picks a local port its own lane owns. With a NIC whose hash matches this one frames
// rarely change lanes; with any other port they still arrive, one hand-off later.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "seegw/netstack/wire.hpp"

namespace seegw::netstack {

// The Toeplitz hash of Microsoft's RSS specification, which NICs compute over a received frame's
// addresses and ports; `key` holds at least input.size() + 4 bytes.
std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> input);

class FlowSteering {
 public:
  // Ownership by a hash of our own, for ports whose spread the lanes cannot compute; `secret`
  // keeps a peer from choosing ports that pile every connection on one lane.
  FlowSteering(unsigned lanes, std::uint64_t secret) : lanes_(lanes ? lanes : 1), secret_(secret) {}
  // Ownership as the NIC's RSS decides it: the Toeplitz hash with the port's key over
  // (remote address, our address, remote port, our port) — the frame's source then destination
  // — and the port's redirection table from hash to queue. Frames then stay where they land.
  FlowSteering(std::vector<std::uint8_t> rss_key, std::vector<std::uint16_t> redirection,
               Ipv4 local_ip);
  bool follows_rss() const { return !redirection_.empty(); }

  unsigned lanes() const { return lanes_; }
  unsigned lane_of(Ipv4 remote_ip, std::uint16_t remote_port, std::uint16_t local_port) const;

  enum class Kind { tcp, arp, other };
  struct Decision {
    Kind kind;
    unsigned lane;  // for tcp: the owner; otherwise the lane that received it keeps it
  };
  // Reads only what it must of a received frame (Ethernet type, IPv4 header, TCP ports) and
  // never trusts a length it has not checked; what it cannot place stays where it arrived,
  // where the stack drops and counts it.
  Decision classify(std::span<const std::uint8_t> frame, unsigned arrived_on) const;

 private:
  unsigned lanes_;
  std::uint64_t secret_ = 0;
  std::vector<std::uint8_t> rss_key_;
  std::vector<std::uint16_t> redirection_;
  Ipv4 local_ip_ = 0;
};

}  // namespace seegw::netstack
