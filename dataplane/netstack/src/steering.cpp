#include "seegw/netstack/steering.hpp"

#include <algorithm>
#include <array>

namespace seegw::netstack {

std::uint32_t toeplitz_hash(std::span<const std::uint8_t> key,
                            std::span<const std::uint8_t> input) {
  // For every set bit of the input, the 32 key bits starting at that bit's position.
  std::uint32_t hash = 0;
  std::uint32_t window = load32(key.data());
  std::size_t next_key_bit = 32;
  for (std::uint8_t byte : input) {
    for (int bit = 7; bit >= 0; --bit, ++next_key_bit) {
      if (byte >> bit & 1) hash ^= window;
      const std::size_t k = next_key_bit / 8;
      const unsigned incoming = k < key.size() ? key[k] >> (7 - next_key_bit % 8) & 1u : 0u;
      window = window << 1 | incoming;
    }
  }
  return hash;
}

FlowSteering::FlowSteering(std::vector<std::uint8_t> rss_key,
                           std::vector<std::uint16_t> redirection, Ipv4 local_ip)
    : lanes_(1),
      rss_key_(std::move(rss_key)),
      redirection_(std::move(redirection)),
      local_ip_(local_ip) {
  for (std::uint16_t q : redirection_) lanes_ = std::max(lanes_, unsigned{q} + 1);
  if (rss_key_.size() < 16) redirection_.clear();  // 12 bytes of input need 16 of key
}

unsigned FlowSteering::lane_of(Ipv4 remote_ip, std::uint16_t remote_port,
                               std::uint16_t local_port) const {
  if (!redirection_.empty()) {
    std::array<std::uint8_t, 12> input{};
    store32(&input[0], remote_ip);
    store32(&input[4], local_ip_);
    store16(&input[8], remote_port);
    store16(&input[10], local_port);
    return redirection_[toeplitz_hash(rss_key_, input) % redirection_.size()];
  }
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
