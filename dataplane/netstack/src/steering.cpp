#include "seegw/netstack/steering.hpp"

namespace seegw::netstack {

unsigned FlowSteering::lane_of(Ipv4 remote_ip, std::uint16_t remote_port,
                               std::uint16_t local_port) const {
  if (lanes_ == 1) return 0;
  // A 64-bit finaliser (MurmurHash3's fmix64) over the connection's key: every bit of the
  // addresses and ports moves the result, so sequential client ports spread evenly.
  std::uint64_t x =
      (std::uint64_t{remote_ip} << 32 | std::uint64_t{remote_port} << 16 | local_port) ^ secret_;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<unsigned>(x % lanes_);
}

FlowSteering::Decision FlowSteering::classify(std::span<const std::uint8_t> frame,
                                              unsigned arrived_on) const {
  if (frame.size() < kEthHeader) return {Kind::other, arrived_on};
  const std::uint16_t type = load16(&frame[12]);
  if (type == kEtherArp) return {Kind::arp, arrived_on};
  if (type != kEtherIpv4 || frame.size() < kEthHeader + kIpHeader) return {Kind::other, arrived_on};
  const std::uint8_t* ip = &frame[kEthHeader];
  const std::size_t header = std::size_t{ip[0] & 0x0fu} * 4;
  const bool fragment = (load16(ip + 6) & 0x3fff) != 0;  // MF or an offset: no ports to read
  if ((ip[0] >> 4) != 4 || header < kIpHeader || ip[9] != kProtoTcp || fragment ||
      frame.size() < kEthHeader + header + 4)
    return {Kind::other, arrived_on};
  const std::uint8_t* tcp = ip + header;
  return {Kind::tcp, lane_of(load32(ip + 12), load16(tcp), load16(tcp + 2))};
}

}  // namespace seegw::netstack
