// libFuzzer target: raw Ethernet frames into the poll-mode data plane's IPv4/TCP stack, with a
// listener that echoes, and time moving so timers fire. The input is split into frames at a
// length prefix; frames that look like TCP to us get a valid checksum half the time so the
// state machine, not only the parser, sees hostile segments. Every frame is also placed by the
// lanes' steering (which reads headers a peer controls), and ARP frames are taught to a second
// lane's stack as a multi-queue port would.
#include <cstddef>
#include <cstdint>

#include <cstdlib>

#include "seegw/netstack/stack.hpp"
#include "seegw/netstack/steering.hpp"

using namespace seegw::netstack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  StackConfig c;
  c.ip = 0xc6120002;
  c.receive_buffer = 4096;
  c.send_buffer = 4096;
  c.syn_backlog = 8;
  c.max_connections = 32;
  Stack stack(c, 1);
  Stack other_lane(c, 2);
  const FlowSteering steering(3, 7);
  (void)stack.listen(25, [](TcpSocket& s) {
    s.set_handler([&s] {
      std::string got;
      while (s.read(got, 512) > 0) {
      }
      if (!got.empty()) s.write(got);
      if (s.eof()) s.shutdown_write();
    });
  });
  Micros now = 1'000'000;
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t len =
        std::min<std::size_t>((data[at] << 8 | data[at + 1]) % 1600, size - at - 2);
    Frame f(data + at + 2, data + at + 2 + len);
    at += 2 + len;
    if (f.size() >= kEthHeader + kIpHeader + kTcpHeader && (len & 1)) {
      // Make it ours and well-formed at the IP layer, so TCP gets to see it.
      std::copy(c.mac.begin(), c.mac.end(), f.begin());
      store16(&f[12], kEtherIpv4);
      std::uint8_t* ip = &f[kEthHeader];
      ip[0] = 0x45;
      store16(ip + 2, static_cast<std::uint16_t>(f.size() - kEthHeader));
      store16(ip + 6, 0);
      ip[9] = kProtoTcp;
      store32(ip + 16, c.ip);
      store16(ip + 10, 0);
      store16(ip + 10, internet_checksum({ip, kIpHeader}));
      std::uint8_t* t = ip + kIpHeader;
      const auto tcp_len = static_cast<std::uint16_t>(f.size() - kEthHeader - kIpHeader);
      store16(t + 2, 25);
      store16(t + 16, 0);
      store16(t + 16, internet_checksum({t, tcp_len}, pseudo_header_sum(load32(ip + 12), c.ip,
                                                                        kProtoTcp, tcp_len)));
    }
    const auto placed = steering.classify(f, 1);
    if (placed.lane >= steering.lanes()) std::abort();
    if (placed.kind == FlowSteering::Kind::arp) other_lane.learn_arp(f, now);
    stack.input(f, now);
    now += 1 + (len % 7) * 100'000;
    stack.poll(now);
    stack.dispatch(now);
    (void)stack.take_output();
    (void)other_lane.take_output();
  }
  for (int i = 0; i < 8; ++i) {
    now += 30'000'000;
    stack.poll(now);
    stack.dispatch(now);
    (void)stack.take_output();
  }
  return 0;
}
