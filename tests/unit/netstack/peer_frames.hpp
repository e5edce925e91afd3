// Frames as a peer on the wire would send them, built here byte by byte and not by the stack
// under test (a test must not use the stack to make the stack's input).
#pragma once

#include <algorithm>
#include <cstdint>

#include "seegw/netstack/wire.hpp"

namespace seegw::netstack::test {

// An ARP request (op 1, broadcast) or reply (op 2, to `reply_to`) from `sender_mac`/`sender`.
inline Frame arp_frame(std::uint16_t op, const Mac& sender_mac, Ipv4 sender, Ipv4 target,
                       const Mac& reply_to) {
  Frame f(kEthHeader + 28);
  const Mac& dst = op == 1 ? kBroadcastMac : reply_to;
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(sender_mac.begin(), sender_mac.end(), f.begin() + 6);
  store16(&f[12], kEtherArp);
  std::uint8_t* a = &f[kEthHeader];
  store16(a, 1);
  store16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  store16(a + 6, op);
  std::copy(sender_mac.begin(), sender_mac.end(), a + 8);
  store32(a + 14, sender);
  store32(a + 24, target);
  return f;
}

}  // namespace seegw::netstack::test
