// Lanes of a multi-queue port (steering.hpp): one owner per connection that every lane computes
// alike, connections spread evenly, frames placed from their headers alone (and what cannot be
// placed kept where it arrived), active opens only on ports their own lane owns, and ARP learnt
// from another lane's frame without a second answer.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <vector>

#include "peer_frames.hpp"
#include "seegw/netstack/stack.hpp"
#include "seegw/netstack/steering.hpp"

namespace seegw::netstack {
namespace {

constexpr Ipv4 kUs = 0xc6120002;    // 198.18.0.2
constexpr Ipv4 kPeer = 0xc6120001;  // 198.18.0.1
constexpr Mac kPeerMac{0x02, 0, 0, 0, 0, 0x01};
const Mac kOurMac = StackConfig{}.mac;

Frame tcp_frame(std::uint16_t src_port, std::uint16_t dst_port) {
  Segment s;
  s.src_ip = kPeer;
  s.dst_ip = kUs;
  s.src_port = src_port;
  s.dst_port = dst_port;
  s.flags = tcp_flag::syn;
  s.window = 1000;
  return build_tcp_frame(kPeerMac, kOurMac, s);
}

Frame arp_frame(std::uint16_t op, const Mac& sender_mac, Ipv4 sender, Ipv4 target) {
  return test::arp_frame(op, sender_mac, sender, target, kOurMac);
}

TEST(FlowSteering, EveryLaneAgreesAndConnectionsSpreadEvenly) {
  const FlowSteering a(4, 1234), b(4, 1234), other_secret(4, 99);
  std::map<unsigned, int> per_lane;
  int moved_by_secret = 0;
  for (std::uint16_t port = 40000; port < 50000; ++port) {
    const unsigned lane = a.lane_of(kPeer, port, 25);
    ASSERT_LT(lane, 4u);
    ASSERT_EQ(lane, b.lane_of(kPeer, port, 25));
    ++per_lane[lane];
    moved_by_secret += lane != other_secret.lane_of(kPeer, port, 25);
  }
  for (auto [lane, n] : per_lane) {
    EXPECT_GT(n, 2000) << "lane " << lane;  // 2,500 each if even
    EXPECT_LT(n, 3000) << "lane " << lane;
  }
  EXPECT_GT(moved_by_secret, 5000) << "the secret decides the spread, not the port numbers alone";
  EXPECT_EQ(FlowSteering(1, 7).lane_of(kPeer, 40000, 25), 0u);
}

TEST(FlowSteering, FramesArePlacedFromTheirHeaders) {
  const FlowSteering steering(3, 5);
  for (std::uint16_t port = 40000; port < 40100; ++port) {
    auto d = steering.classify(tcp_frame(port, 25), 2);
    EXPECT_EQ(d.kind, FlowSteering::Kind::tcp);
    EXPECT_EQ(d.lane, steering.lane_of(kPeer, port, 25));
  }
  auto arp = steering.classify(arp_frame(1, kPeerMac, kPeer, kUs), 1);
  EXPECT_EQ(arp.kind, FlowSteering::Kind::arp);
  EXPECT_EQ(arp.lane, 1u);

  // What cannot be placed stays on the lane it arrived on (its stack drops and counts it).
  Frame fragment = tcp_frame(40000, 25);
  store16(&fragment[kEthHeader + 6], 0x2000);  // more fragments
  Frame truncated = tcp_frame(40000, 25);
  truncated.resize(kEthHeader + kIpHeader + 2);  // the ports cut off
  Frame bad_ihl = tcp_frame(40000, 25);
  bad_ihl[kEthHeader] = 0x4f;  // a 60-byte IP header in a frame too short for it
  bad_ihl.resize(kEthHeader + 60);
  Frame ipv6 = tcp_frame(40000, 25);
  store16(&ipv6[12], 0x86dd);
  for (const Frame* f : {&fragment, &truncated, &bad_ihl, &ipv6}) {
    auto d = steering.classify(*f, 2);
    EXPECT_EQ(d.kind, FlowSteering::Kind::other);
    EXPECT_EQ(d.lane, 2u);
  }
  EXPECT_EQ(steering.classify(Frame(10, 0), 0).kind, FlowSteering::Kind::other);
}

TEST(FlowSteering, ActiveOpensTakeOnlyPortsTheirLaneOwns) {
  const FlowSteering steering(2, 77);
  for (unsigned lane = 0; lane < 2; ++lane) {
    StackConfig c;
    c.ip = kUs;
    c.owns_flow = [&steering, lane](Ipv4 ip, std::uint16_t port, std::uint16_t local) {
      return steering.lane_of(ip, port, local) == lane;
    };
    Stack stack(c, 1);
    stack.input(arp_frame(1, kPeerMac, kPeer, kUs), 0);  // the peer's MAC is known
    for (int i = 0; i < 100; ++i) {
      auto socket = stack.connect(kPeer, 25, 0);
      ASSERT_TRUE(socket) << socket.error().message;
      EXPECT_EQ(steering.lane_of(kPeer, 25, (*socket)->local_port()), lane);
    }
  }
}

TEST(FlowSteering, AnArpFrameFromAnotherLaneTeachesButIsNotAnswered) {
  StackConfig c;
  c.ip = kUs;
  Stack lane(c, 1);
  // An active open waits for the peer's MAC ...
  ASSERT_TRUE(lane.connect(kPeer, 25, 0));
  auto asked = lane.take_output();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(load16(&asked[0][12]), kEtherArp);
  // ... another lane received the answer and hands a copy over: the SYN leaves, nothing else.
  lane.learn_arp(arp_frame(2, kPeerMac, kPeer, kUs), 1);
  auto out = lane.take_output();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(load16(&out[0][12]), kEtherIpv4);
  EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), out[0].begin()));
  // A request copied over is learnt from, but only the lane that received it answers.
  const Mac other{0x02, 0, 0, 0, 0, 0x09};
  lane.learn_arp(arp_frame(1, other, kPeer + 5, kUs), 2);
  EXPECT_TRUE(lane.take_output().empty());
  EXPECT_EQ(lane.counters().arp_replies_sent, 0u);
  EXPECT_EQ(lane.counters().dropped(), 0u);
}

// The verification suite of Microsoft's RSS specification: its key, and the IPv4/TCP hashes it
// lists for these (source, destination) pairs.
const std::vector<std::uint8_t> kRssKey{0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                                        0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                                        0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                                        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

struct RssVector {
  const char *source, *destination;
  std::uint16_t source_port, destination_port;
  std::uint32_t hash;
};
constexpr RssVector kRssVectors[] = {
    {"66.9.149.187", "161.142.100.80", 2794, 1766, 0x51ccc178},
    {"199.92.111.2", "65.69.140.83", 14230, 4739, 0xc626b0ea},
    {"24.19.198.95", "12.22.207.184", 12898, 38024, 0x5c2b394a},
    {"38.27.205.30", "209.142.163.6", 48228, 2217, 0xafc7327f},
    {"153.39.163.191", "202.188.127.2", 44251, 1303, 0x10e828a2},
};

TEST(FlowSteering, ToeplitzHashMatchesTheRssSpecification) {
  for (const auto& v : kRssVectors) {
    std::array<std::uint8_t, 12> input{};
    store32(&input[0], *parse_ip(v.source));
    store32(&input[4], *parse_ip(v.destination));
    store16(&input[8], v.source_port);
    store16(&input[10], v.destination_port);
    EXPECT_EQ(toeplitz_hash(kRssKey, input), v.hash) << v.source << " -> " << v.destination;
  }
}

TEST(FlowSteering, FollowingTheNicsRssTheOwnerIsTheQueueTheFrameLandsOn) {
  // A 128-entry redirection table over 4 queues, as a NIC's default; we are the destination.
  std::vector<std::uint16_t> reta(128);
  for (std::size_t i = 0; i < reta.size(); ++i) reta[i] = static_cast<std::uint16_t>(i % 4);
  for (const auto& v : kRssVectors) {
    const FlowSteering steering(kRssKey, reta, *parse_ip(v.destination));
    EXPECT_TRUE(steering.follows_rss());
    EXPECT_EQ(steering.lanes(), 4u);
    EXPECT_EQ(steering.lane_of(*parse_ip(v.source), v.source_port, v.destination_port),
              reta[v.hash % reta.size()]);
  }
}

TEST(FlowSteering, CountersOfLanesAddUp) {
  Counters a, b;
  a.rx_frames = 3;
  a.tcp_duplicates = 1;
  b.rx_frames = 4;
  b.dropped_arp_unresolved = 2;
  b.tcp_duplicates = 5;
  a += b;
  EXPECT_EQ(a.rx_frames, 7u);
  EXPECT_EQ(a.tcp_duplicates, 6u);
  EXPECT_EQ(a.dropped_arp_unresolved, 2u);
}

}  // namespace
}  // namespace seegw::netstack
