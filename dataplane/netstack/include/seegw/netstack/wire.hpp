// The bytes on the wire: Ethernet II, ARP, IPv4, ICMP echo and TCP headers, read and written in
// network byte order, and the Internet checksum. Parsing never trusts a length it has not
// checked against the frame (a hostile peer controls every byte here).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace seegw::netstack {

using Mac = std::array<std::uint8_t, 6>;
using Ipv4 = std::uint32_t;  // host byte order
using Frame = std::vector<std::uint8_t>;

constexpr Mac kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806;
constexpr std::uint8_t kProtoIcmp = 1, kProtoTcp = 6;
constexpr std::size_t kEthHeader = 14, kIpHeader = 20, kTcpHeader = 20;

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t load32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
inline void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void store32(std::uint8_t* p, std::uint32_t v) {
  store16(p, static_cast<std::uint16_t>(v >> 16));
  store16(p + 2, static_cast<std::uint16_t>(v));
}

// RFC 1071 one's-complement sum, folded; `initial` carries a pseudo-header's sum.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial = 0);
std::uint32_t pseudo_header_sum(Ipv4 src, Ipv4 dst, std::uint8_t protocol, std::uint16_t length);

std::string ip_text(Ipv4 ip);
std::optional<Ipv4> parse_ip(std::string_view text);
std::string mac_text(const Mac& mac);
std::optional<Mac> parse_mac(std::string_view text);

namespace tcp_flag {
constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10, urg = 0x20;
}

// A TCP segment as the state machine sees it (after the IP layer checked everything).
struct Segment {
  Ipv4 src_ip = 0, dst_ip = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::optional<std::uint16_t> mss;          // option 2, SYN only
  std::optional<std::uint8_t> window_scale;  // option 3, SYN only
  std::span<const std::uint8_t> payload;
  bool has(std::uint8_t f) const { return (flags & f) != 0; }
  // Sequence space the segment occupies: data, plus one each for SYN and FIN.
  std::uint32_t length() const {
    return static_cast<std::uint32_t>(payload.size()) + (has(tcp_flag::syn) ? 1 : 0) +
           (has(tcp_flag::fin) ? 1 : 0);
  }
};

// Builds Ethernet + IPv4 + TCP (checksums filled) for a segment.
// With `offload`, the port computes the checksums: the IPv4 header checksum is left 0 and the TCP
// field holds the pseudo-header sum, as NICs (and DPDK's TX checksum offload) expect.
Frame build_tcp_frame(const Mac& src_mac, const Mac& dst_mac, const Segment& s,
                      std::uint8_t ttl = 64, std::uint16_t ip_id = 0, bool offload = false);

// Why parse_tcp refused a segment, for the counters.
enum class Drop { none, bad_tcp_header, bad_tcp_checksum };

// Parses the TCP part of an IPv4 packet (`ip` starts at the IP header and is exactly the IP
// datagram). Checks the data offset, the options' lengths and the checksum.
// `verified`: the port already checked the checksum (RX offload), so it is not summed again.
std::optional<Segment> parse_tcp(std::span<const std::uint8_t> ip, Drop& why,
                                 bool verified = false);

// Sequence-number comparisons modulo 2^32 (RFC 9293 §3.4).
inline bool seq_lt(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) < 0;
}
inline bool seq_le(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) <= 0;
}
inline bool seq_gt(std::uint32_t a, std::uint32_t b) { return seq_lt(b, a); }
inline bool seq_ge(std::uint32_t a, std::uint32_t b) { return seq_le(b, a); }

}  // namespace seegw::netstack
