#include "seegw/netstack/wire.hpp"

#include <fmt/format.h>

#include <charconv>

namespace seegw::netstack {

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial) {
  std::uint64_t sum = initial;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += load16(&bytes[i]);
  if (i < bytes.size()) sum += std::uint32_t{bytes[i]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint32_t pseudo_header_sum(Ipv4 src, Ipv4 dst, std::uint8_t protocol, std::uint16_t length) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + length;
}

std::string ip_text(Ipv4 ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

std::optional<Ipv4> parse_ip(std::string_view text) {
  Ipv4 out = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned part = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), part);
    if (ec != std::errc() || part > 255 || p == text.data()) return std::nullopt;
    out = out << 8 | part;
    text.remove_prefix(static_cast<std::size_t>(p - text.data()));
    if (i < 3) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  if (!text.empty()) return std::nullopt;
  return out;
}

std::string mac_text(const Mac& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

std::optional<Mac> parse_mac(std::string_view text) {
  Mac m{};
  for (std::size_t i = 0; i < 6; ++i) {
    if (text.size() < 2) return std::nullopt;
    auto [p, ec] = std::from_chars(text.data(), text.data() + 2, m[i], 16);
    if (ec != std::errc() || p != text.data() + 2) return std::nullopt;
    text.remove_prefix(2);
    if (i < 5) {
      if (text.empty() || text[0] != ':') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  if (!text.empty()) return std::nullopt;
  return m;
}

Frame build_tcp_frame(const Mac& src_mac, const Mac& dst_mac, const Segment& s, std::uint8_t ttl,
                      std::uint16_t ip_id, bool offload) {
  const std::size_t options = (s.mss ? 4 : 0) + (s.window_scale ? 4 : 0);
  const std::size_t tcp_len = kTcpHeader + options + s.payload.size();
  Frame f(kEthHeader + kIpHeader + tcp_len);
  std::uint8_t* e = f.data();
  std::copy(dst_mac.begin(), dst_mac.end(), e);
  std::copy(src_mac.begin(), src_mac.end(), e + 6);
  store16(e + 12, kEtherIpv4);
  std::uint8_t* ip = e + kEthHeader;
  ip[0] = 0x45;
  store16(ip + 2, static_cast<std::uint16_t>(kIpHeader + tcp_len));
  store16(ip + 4, ip_id);
  store16(ip + 6, 0x4000);  // DF: we never fragment
  ip[8] = ttl;
  ip[9] = kProtoTcp;
  store32(ip + 12, s.src_ip);
  store32(ip + 16, s.dst_ip);
  if (!offload) store16(ip + 10, internet_checksum({ip, kIpHeader}));
  std::uint8_t* t = ip + kIpHeader;
  store16(t, s.src_port);
  store16(t + 2, s.dst_port);
  store32(t + 4, s.seq);
  store32(t + 8, s.ack);
  t[12] = static_cast<std::uint8_t>(((kTcpHeader + options) / 4) << 4);
  t[13] = s.flags;
  store16(t + 14, s.window);
  std::uint8_t* o = t + kTcpHeader;
  if (s.mss) {
    o[0] = 2;
    o[1] = 4;
    store16(o + 2, *s.mss);
    o += 4;
  }
  if (s.window_scale) {
    o[0] = 1;  // NOP keeps the header a multiple of four
    o[1] = 3;
    o[2] = 3;
    o[3] = *s.window_scale;
    o += 4;
  }
  std::copy(s.payload.begin(), s.payload.end(), o);
  const std::uint32_t pseudo =
      pseudo_header_sum(s.src_ip, s.dst_ip, kProtoTcp, static_cast<std::uint16_t>(tcp_len));
  if (offload) {
    std::uint32_t folded = pseudo;
    while (folded >> 16) folded = (folded & 0xffff) + (folded >> 16);
    store16(t + 16, static_cast<std::uint16_t>(folded));  // not complemented: the port finishes it
  } else {
    store16(t + 16, internet_checksum({t, tcp_len}, pseudo));
  }
  return f;
}

std::optional<Segment> parse_tcp(std::span<const std::uint8_t> ip, Drop& why, bool verified) {
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
  auto t = ip.subspan(ihl);
  if (t.size() < kTcpHeader) {
    why = Drop::bad_tcp_header;
    return std::nullopt;
  }
  const std::size_t offset = static_cast<std::size_t>(t[12] >> 4) * 4;
  if (offset < kTcpHeader || offset > t.size()) {
    why = Drop::bad_tcp_header;
    return std::nullopt;
  }
  Segment s;
  s.src_ip = load32(&ip[12]);
  s.dst_ip = load32(&ip[16]);
  if (!verified &&
      internet_checksum(t, pseudo_header_sum(s.src_ip, s.dst_ip, kProtoTcp,
                                             static_cast<std::uint16_t>(t.size()))) != 0) {
    why = Drop::bad_tcp_checksum;
    return std::nullopt;
  }
  s.src_port = load16(&t[0]);
  s.dst_port = load16(&t[2]);
  s.seq = load32(&t[4]);
  s.ack = load32(&t[8]);
  s.flags = t[13] & 0x3f;
  s.window = load16(&t[14]);
  // Options: each kind/length checked against what is left; garbage ends the header.
  for (std::size_t i = kTcpHeader; i < offset;) {
    const std::uint8_t kind = t[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= offset || t[i + 1] < 2 || i + t[i + 1] > offset) {
      why = Drop::bad_tcp_header;
      return std::nullopt;
    }
    const std::uint8_t len = t[i + 1];
    if (kind == 2 && len == 4 && s.has(tcp_flag::syn)) s.mss = load16(&t[i + 2]);
    if (kind == 3 && len == 3 && s.has(tcp_flag::syn))
      s.window_scale = std::min<std::uint8_t>(t[i + 2], 14);
    i += len;
  }
  s.payload = t.subspan(offset);
  return s;
}

}  // namespace seegw::netstack
