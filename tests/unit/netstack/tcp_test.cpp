// The poll-mode data plane's TCP/IP stack driven by scripted segments, as a peer would send them:
// RFC 9293 handshakes and closes (simultaneous close, retransmitted SYN, TIME-WAIT), RFC 5961
// validation (out-of-window segments, RST and SYN challenge ACKs), RFC 6298 retransmission, fast
// retransmit, out-of-order reassembly, zero-window probes, limits, and malformed frames dropped
// and counted.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "peer_frames.hpp"
#include "seegw/netstack/faults.hpp"
#include "seegw/netstack/stack.hpp"

namespace seegw::netstack {
namespace {

using namespace tcp_flag;

constexpr Ipv4 kUs = 0xc6120002;    // 198.18.0.2
constexpr Ipv4 kPeer = 0xc6120001;  // 198.18.0.1
constexpr Mac kPeerMac{0x02, 0, 0, 0, 0, 0x01};
constexpr std::uint16_t kPort = 25, kPeerPort = 40000;
const Mac kOurMac = StackConfig{}.mac;

// After a test edits a frame on purpose: both checksums right again, so only the edit is wrong.
void fix_checksums(Frame& f) {
  std::uint8_t* ip = &f[kEthHeader];
  store16(ip + 10, 0);
  store16(ip + 10, internet_checksum({ip, kIpHeader}));
  const std::uint16_t len = static_cast<std::uint16_t>(load16(ip + 2) - kIpHeader);
  std::uint8_t* t = ip + kIpHeader;
  store16(t + 16, 0);
  store16(t + 16, internet_checksum({t, len}, pseudo_header_sum(load32(ip + 12), load32(ip + 16),
                                                                kProtoTcp, len)));
}

struct Out {
  std::uint8_t flags;
  std::uint32_t seq, ack;
  std::uint16_t window;
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> ws;
  std::string payload;
  std::uint16_t dst_port;
};

class TcpTest : public ::testing::Test {
 protected:
  StackConfig config() {
    StackConfig c;
    c.ip = kUs;
    c.syn_backlog = 4;
    c.receive_buffer = 8192;
    c.window_scale = 2;
    return c;
  }
  void SetUp() override {
    stack_ = std::make_unique<Stack>(config(), 42);
    // The peer asks who we are: we learn its MAC and answer.
    stack_->input(arp(1, kPeer, kUs), now_);
    auto out = stack_->take_output();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(load16(&out[0][12]), kEtherArp);
    EXPECT_EQ(load16(&out[0][kEthHeader + 6]), 2);  // a reply
  }

  Frame arp(std::uint16_t op, Ipv4 sender, Ipv4 target) {
    return test::arp_frame(op, kPeerMac, sender, target, kOurMac);
  }

  Frame seg(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack_no, std::string payload = "",
            std::uint16_t window = 65535, std::uint16_t src_port = kPeerPort) {
    Segment s;
    s.src_ip = kPeer;
    s.dst_ip = kUs;
    s.src_port = src_port;
    s.dst_port = kPort;
    s.seq = seq;
    s.ack = ack_no;
    s.flags = flags;
    s.window = window;
    if (flags & syn) {
      s.mss = 1000;
      s.window_scale = 1;
    }
    s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
    return build_tcp_frame(kPeerMac, kOurMac, s);
  }

  // Feeds frames, lets handlers run, returns the TCP segments the stack sent.
  std::vector<Out> feed(const std::vector<Frame>& frames) {
    for (const auto& f : frames) stack_->input(f, now_);
    stack_->dispatch(now_);
    return sent();
  }
  std::vector<Out> sent() {
    std::vector<Out> out;
    for (const auto& f : stack_->take_output()) {
      if (load16(&f[12]) != kEtherIpv4) continue;
      EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), f.begin()));
      std::span<const std::uint8_t> ip(f.data() + kEthHeader, f.size() - kEthHeader);
      Drop why;
      auto s = parse_tcp(ip, why);
      EXPECT_TRUE(s.has_value()) << "we sent a bad segment";
      if (!s) continue;
      out.push_back({s->flags, s->seq, s->ack, s->window, s->mss, s->window_scale,
                     std::string(s->payload.begin(), s->payload.end()), s->dst_port});
    }
    return out;
  }
  std::vector<Out> advance(Micros by) {
    now_ += by;
    stack_->poll(now_);
    stack_->dispatch(now_);
    return sent();
  }

  // A passive open up to ESTABLISHED; the server socket echoes nothing, it collects.
  void establish() {
    ASSERT_TRUE(stack_
                    ->listen(kPort,
                             [this](TcpSocket& s) {
                               socket_ = &s;
                               s.set_handler([this] {
                                 std::string chunk;
                                 while (socket_->read(chunk, 4096) > 0) {
                                 }
                                 received_ += chunk;
                               });
                             })
                    .has_value());
    auto synack = feed({seg(syn, peer_iss_, 0, "", 65535)});
    ASSERT_EQ(synack.size(), 1u);
    EXPECT_EQ(synack[0].flags, syn | ack);
    EXPECT_EQ(synack[0].ack, peer_iss_ + 1);
    EXPECT_EQ(synack[0].mss, 1460);
    EXPECT_EQ(synack[0].ws, 2);
    iss_ = synack[0].seq;
    auto none = feed({seg(ack, peer_iss_ + 1, iss_ + 1, "", 1000)});
    EXPECT_TRUE(none.empty());
    ASSERT_NE(socket_, nullptr);
    EXPECT_EQ(socket_->state(), TcpState::established);
    peer_next_ = peer_iss_ + 1;
    our_next_ = iss_ + 1;
  }

  Micros now_ = 1'000'000;
  std::unique_ptr<Stack> stack_;
  TcpSocket* socket_ = nullptr;
  std::string received_;
  std::uint32_t peer_iss_ = 1000, iss_ = 0, peer_next_ = 0, our_next_ = 0;
};

TEST_F(TcpTest, PassiveOpenDataAndOrderlyClose) {
  establish();
  auto a = feed({seg(ack | psh, peer_next_, our_next_, "EHLO x\r\n", 1000)});
  EXPECT_EQ(received_, "EHLO x\r\n");
  ASSERT_EQ(a.size(), 1u);  // one ACK for the burst
  EXPECT_EQ(a[0].ack, peer_next_ + 8);
  EXPECT_EQ(a[0].window, (8192 >> 2));  // scaled by our shift of 2, all of it free again
  peer_next_ += 8;
  EXPECT_EQ(socket_->write("250 ok\r\n"), 8u);
  auto d = sent();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].payload, "250 ok\r\n");
  EXPECT_EQ(d[0].seq, our_next_);
  our_next_ += 8;
  // The peer acknowledges and closes; we close; our FIN is acknowledged: CLOSED, reaped.
  feed({seg(ack | fin, peer_next_, our_next_, "", 1000)});
  EXPECT_EQ(socket_->state(), TcpState::close_wait);
  EXPECT_TRUE(socket_->eof());
  socket_->shutdown_write();
  auto fin_out = sent();
  ASSERT_EQ(fin_out.size(), 1u);
  EXPECT_EQ(fin_out[0].flags, fin | ack);
  EXPECT_EQ(fin_out[0].ack, peer_next_ + 1);
  EXPECT_EQ(socket_->state(), TcpState::last_ack);
  socket_->release();
  feed({seg(ack, peer_next_ + 1, our_next_ + 1, "", 1000)});
  EXPECT_EQ(stack_->connections(), 0u);
}

TEST_F(TcpTest, RetransmittedSynGetsTheSameSynAck) {
  ASSERT_TRUE(stack_->listen(kPort, [](TcpSocket&) {}).has_value());
  auto first = feed({seg(syn, 5000, 0)});
  auto again = feed({seg(syn, 5000, 0)});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].flags, syn | ack);
  EXPECT_EQ(again[0].seq, first[0].seq);
  EXPECT_EQ(stack_->connections(), 1u);
  // And our own SYN-ACK is retransmitted on its timer (RFC 6298: initial RTO 1 s).
  auto timer = advance(1'000'001);
  ASSERT_EQ(timer.size(), 1u);
  EXPECT_EQ(timer[0].flags, syn | ack);
}

TEST_F(TcpTest, SimultaneousCloseGoesThroughClosingToTimeWait) {
  establish();
  socket_->shutdown_write();
  auto our_fin = sent();
  ASSERT_EQ(our_fin.size(), 1u);
  EXPECT_EQ(socket_->state(), TcpState::fin_wait_1);
  // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
  feed({seg(fin | ack, peer_next_, our_next_, "", 1000)});
  EXPECT_EQ(socket_->state(), TcpState::closing);
  feed({seg(ack, peer_next_ + 1, our_next_ + 1, "", 1000)});
  EXPECT_EQ(socket_->state(), TcpState::time_wait);
  socket_->release();
  advance(59'000'000);
  EXPECT_EQ(stack_->connections(), 1u);  // 2 MSL not over
  advance(2'000'000);
  EXPECT_EQ(stack_->connections(), 0u);
}

TEST_F(TcpTest, OutOfWindowSegmentsAreAcknowledgedNotAccepted) {
  establish();
  auto far = feed({seg(ack, peer_next_ + 100000, our_next_, "junk", 1000)});
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(far[0].flags, ack);
  EXPECT_EQ(far[0].ack, peer_next_);
  EXPECT_TRUE(received_.empty());
  EXPECT_EQ(stack_->counters().dropped_out_of_window, 1u);
  // An old duplicate is acknowledged too (the peer lost our ACK).
  auto old = feed({seg(ack, peer_next_ - 10, our_next_, "0123456789", 1000)});
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].ack, peer_next_);
}

TEST_F(TcpTest, ResetsAreValidatedWithChallengeAcks) {
  establish();
  // In the window but not exact: a blind attacker's guess gets a challenge ACK, nothing else.
  auto challenged = feed({seg(rst, peer_next_ + 10, 0)});
  ASSERT_EQ(challenged.size(), 1u);
  EXPECT_EQ(challenged[0].flags, ack);
  EXPECT_EQ(socket_->state(), TcpState::established);
  // Outside the window: ignored silently.
  EXPECT_TRUE(feed({seg(rst, peer_next_ + 50000, 0)}).empty());
  // A SYN on the connection: challenge ACK too.
  auto syn_challenge = feed({seg(syn, peer_next_, 0)});
  ASSERT_EQ(syn_challenge.size(), 1u);
  EXPECT_EQ(syn_challenge[0].flags, ack);
  EXPECT_EQ(stack_->counters().tcp_challenge_acks, 2u);
  // The exact sequence number resets.
  feed({seg(rst, peer_next_, 0)});
  EXPECT_TRUE(socket_->failed());
  EXPECT_EQ(socket_->error(), "connection reset by peer");
}

TEST_F(TcpTest, OutOfOrderSegmentsAreHeldThenDeliveredInOrder) {
  establish();
  auto dup = feed({seg(ack, peer_next_ + 5, our_next_, "WORLD", 1000)});
  ASSERT_EQ(dup.size(), 1u);  // an immediate duplicate ACK
  EXPECT_EQ(dup[0].ack, peer_next_);
  EXPECT_TRUE(received_.empty());
  auto both = feed({seg(ack, peer_next_, our_next_, "HELLO", 1000)});
  EXPECT_EQ(received_, "HELLOWORLD");
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].ack, peer_next_ + 10);
}

TEST_F(TcpTest, UnacknowledgedDataIsRetransmittedWithBackoff) {
  establish();  // the handshake measured an RTT of 0: RTO = the 200 ms floor (RFC 6298 (2.4))
  socket_->write("DATA");
  auto first = sent();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(advance(150'000).empty());
  auto again = advance(100'000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, first[0].seq);
  EXPECT_EQ(again[0].payload, "DATA");
  EXPECT_TRUE(advance(350'000).empty());  // doubled: 400 ms
  EXPECT_EQ(advance(100'000).size(), 1u);
  EXPECT_EQ(stack_->counters().tcp_retransmits, 2u);
  feed({seg(ack, peer_next_, our_next_ + 4, "", 1000)});
  EXPECT_TRUE(advance(10'000'000).empty());
}

TEST_F(TcpTest, AConnectionThatNeverHearsBackFails) {
  establish();
  socket_->write("DATA");
  for (int i = 0; i < 20 && !socket_->failed(); ++i) advance(60'000'000);
  EXPECT_TRUE(socket_->failed());
  EXPECT_EQ(stack_->counters().tcp_timeouts, 1u);
}

TEST_F(TcpTest, ThreeDuplicateAcksTriggerFastRetransmit) {
  establish();
  // A window big enough for several segments of the peer's MSS (1000).
  feed({seg(ack, peer_next_, our_next_, "", 8000)});
  std::string data(4000, 'x');
  socket_->write(data);
  auto burst = sent();
  ASSERT_GE(burst.size(), 3u);
  std::vector<Out> after;
  for (int i = 0; i < 3; ++i) after = feed({seg(ack, peer_next_, our_next_, "", 8000)});
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after[0].seq, our_next_);
  EXPECT_EQ(after[0].payload.size(), 1000u);
  ASSERT_EQ(stack_->counters().tcp_fast_retransmits, 1u);
  // feed() collected what the third duplicate provoked: the first segment again, at once.
  EXPECT_EQ(stack_->counters().tcp_retransmits, 0u);  // no timer involved
}

TEST_F(TcpTest, ZeroWindowIsProbed) {
  establish();
  feed({seg(ack, peer_next_, our_next_, "", 0)});  // the peer's window closes
  EXPECT_EQ(socket_->write("waiting"), 7u);
  EXPECT_TRUE(sent().empty());
  auto probe = advance(1'100'000);
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].payload.size(), 1u);
  EXPECT_EQ(stack_->counters().tcp_window_probes, 1u);
  // The window opens in the probe's ACK: the rest follows.
  auto rest = feed({seg(ack, peer_next_, our_next_ + 1, "", 1000)});
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest[0].payload, "aiting");
}

TEST_F(TcpTest, ActiveOpenAndRefusal) {
  std::string got;
  auto sock = stack_->connect(kPeer, 2525, now_);
  ASSERT_TRUE(sock.has_value());
  auto syn_out = sent();
  ASSERT_EQ(syn_out.size(), 1u);
  EXPECT_EQ(syn_out[0].flags, syn);
  EXPECT_EQ(syn_out[0].ws, 2);
  Segment s;
  s.src_ip = kPeer;
  s.dst_ip = kUs;
  s.src_port = 2525;
  s.dst_port = (*sock)->local_port();
  s.seq = 777;
  s.ack = syn_out[0].seq + 1;
  s.flags = syn | ack;
  s.window = 5000;
  s.mss = 1200;
  auto ack_out = feed({build_tcp_frame(kPeerMac, kOurMac, s)});
  EXPECT_TRUE((*sock)->connected());
  ASSERT_EQ(ack_out.size(), 1u);
  EXPECT_EQ(ack_out[0].flags, ack);
  EXPECT_EQ(ack_out[0].ack, 778u);
  // No window scale from the peer: ours is off too.
  EXPECT_EQ(ack_out[0].window, 8192u);

  auto refused = stack_->connect(kPeer, 2526, now_);
  auto syn2 = sent();
  s.dst_port = (*refused)->local_port();
  s.src_port = 2526;
  s.flags = rst | ack;
  s.seq = 0;
  s.ack = syn2[0].seq + 1;
  s.mss.reset();
  feed({build_tcp_frame(kPeerMac, kOurMac, s)});
  EXPECT_TRUE((*refused)->failed());
  EXPECT_EQ((*refused)->error(), "connection refused");
}

TEST_F(TcpTest, SynFloodFillsTheBacklogNotMemory) {
  ASSERT_TRUE(stack_->listen(kPort, [](TcpSocket&) {}).has_value());
  std::vector<Frame> flood;
  for (std::uint16_t p = 1; p <= 50; ++p) flood.push_back(seg(syn, 1, 0, "", 1000, p));
  auto answers = feed(flood);
  EXPECT_EQ(answers.size(), 4u);  // the backlog
  EXPECT_EQ(stack_->counters().dropped_syn_backlog, 46u);
  EXPECT_EQ(stack_->connections(), 4u);
  // Unanswered half-open connections time out and free the backlog.
  for (int i = 0; i < 8; ++i) advance(70'000'000);
  EXPECT_EQ(stack_->connections(), 0u);
}

TEST_F(TcpTest, NoListenerMeansReset) {
  auto r = feed({seg(syn, 9, 0)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].flags, rst | ack);
  EXPECT_EQ(r[0].ack, 10u);
  EXPECT_EQ(stack_->counters().dropped_no_listener, 1u);
}

TEST_F(TcpTest, MalformedFramesAreDroppedAndCounted) {
  establish();
  const auto before = stack_->counters().dropped();
  Frame good = seg(ack, peer_next_, our_next_, "x", 1000);
  Frame bad_tcp_sum = good;
  bad_tcp_sum.back() ^= 0xff;
  Frame bad_ip_sum = good;
  bad_ip_sum[kEthHeader + 8] ^= 1;  // TTL changed, checksum not
  Frame bad_length = good;
  store16(&bad_length[kEthHeader + 2], 9000);
  Frame fragment = good;
  store16(&fragment[kEthHeader + 6], 0x2000);  // MF
  store16(&fragment[kEthHeader + 10], 0);
  store16(&fragment[kEthHeader + 10], internet_checksum({&fragment[kEthHeader], kIpHeader}));
  Frame bad_offset = good;
  bad_offset[kEthHeader + kIpHeader + 12] = 0xf0;  // data offset past the segment
  fix_checksums(bad_offset);
  Frame bad_option = seg(syn, 1, 0);
  bad_option[kEthHeader + kIpHeader + 20] = 2;   // MSS option...
  bad_option[kEthHeader + kIpHeader + 21] = 40;  // ...longer than the header
  fix_checksums(bad_option);
  Frame tiny(10, 0);
  Frame not_ours = good;
  store32(&not_ours[kEthHeader + 16], 0x08080808);
  fix_checksums(not_ours);
  auto out =
      feed({bad_tcp_sum, bad_ip_sum, bad_length, fragment, bad_offset, bad_option, tiny, not_ours});
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(received_.empty());
  const auto& c = stack_->counters();
  EXPECT_EQ(c.dropped() - before, 8u);
  EXPECT_EQ(c.dropped_bad_tcp_checksum, 1u);
  EXPECT_EQ(c.dropped_bad_ip_checksum, 1u);
  EXPECT_EQ(c.dropped_bad_tcp_header, 2u);  // the data offset, the option length
  EXPECT_EQ(c.dropped_fragments, 1u);
  EXPECT_EQ(c.dropped_short, 1u);
  EXPECT_EQ(c.dropped_not_for_us, 1u);
  EXPECT_EQ(c.dropped_bad_ip_header, 1u);  // the length
  EXPECT_EQ(socket_->state(), TcpState::established);
}

TEST_F(TcpTest, IcmpEchoIsAnswered) {
  Frame f(kEthHeader + kIpHeader + 12);
  std::copy(kOurMac.begin(), kOurMac.end(), f.begin());
  std::copy(kPeerMac.begin(), kPeerMac.end(), f.begin() + 6);
  store16(&f[12], kEtherIpv4);
  std::uint8_t* ip = &f[kEthHeader];
  ip[0] = 0x45;
  store16(ip + 2, kIpHeader + 12);
  ip[8] = 64;
  ip[9] = kProtoIcmp;
  store32(ip + 12, kPeer);
  store32(ip + 16, kUs);
  store16(ip + 10, internet_checksum({ip, kIpHeader}));
  std::uint8_t* icmp = ip + kIpHeader;
  icmp[0] = 8;
  store16(icmp + 4, 0x1234);
  std::copy_n("ping", 4, icmp + 8);
  store16(icmp + 2, internet_checksum({icmp, 12}));
  stack_->input(f, now_);
  auto out = stack_->take_output();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][kEthHeader + kIpHeader], 0);  // echo reply
  EXPECT_EQ(internet_checksum({&out[0][kEthHeader + kIpHeader], 12}), 0);
  EXPECT_EQ(stack_->counters().icmp_echo_replies, 1u);
}

}  // namespace
}  // namespace seegw::netstack

namespace seegw::netstack {
namespace {

TEST(ChecksumOffload, FramesLeaveTheSumsToThePortAndTrustItsVerdict) {
  Segment s;
  s.src_ip = kUs;
  s.dst_ip = kPeer;
  s.src_port = 25;
  s.dst_port = 40000;
  s.flags = tcp_flag::ack;
  const std::string data = "250 ok\r\n";
  s.payload = {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()};
  Frame soft = build_tcp_frame(kOurMac, kPeerMac, s);
  Frame offloaded = build_tcp_frame(kOurMac, kPeerMac, s, 64, 0, true);
  EXPECT_EQ(load16(&offloaded[kEthHeader + 10]), 0);  // the port fills the IPv4 sum
  // What the port will do: sum the segment, whose checksum field holds the pseudo-header sum.
  std::uint8_t* t = &offloaded[kEthHeader + kIpHeader];
  const std::size_t len = offloaded.size() - kEthHeader - kIpHeader;
  store16(t + 16, internet_checksum({t, len}));
  EXPECT_EQ(load16(t + 16), load16(&soft[kEthHeader + kIpHeader + 16]));

  // A frame the port verified is not summed again (its checksum field is not looked at).
  StackConfig c;
  c.ip = kUs;
  Stack stack(c, 1);
  ASSERT_TRUE(stack.listen(25, [](TcpSocket&) {}).has_value());
  Segment syn;
  syn.src_ip = kPeer;
  syn.dst_ip = kUs;
  syn.src_port = 40000;
  syn.dst_port = 25;
  syn.flags = tcp_flag::syn;
  syn.seq = 1;
  Frame f = build_tcp_frame(kPeerMac, kOurMac, syn, 64, 0, true);  // sums not final
  stack.input(f, 1000);
  EXPECT_EQ(stack.counters().dropped_bad_ip_checksum, 1u);  // unverified: refused
  stack.input(f, 1000, true);
  EXPECT_EQ(stack.connections(), 1u);  // verified by the port: taken
}

}  // namespace
}  // namespace seegw::netstack

namespace seegw::netstack {
namespace {

TEST(FaultInjection, RatesAreRoughlyWhatWasAskedAndRepeatable) {
  auto run = [](std::uint64_t seed) {
    FaultInjector f({0.02, 0.01, 0.02, 0, seed});
    std::size_t out = 0;
    std::vector<std::uint8_t> order;
    for (int burst = 0; burst < 1000; ++burst) {
      std::vector<Frame> frames;
      for (std::uint8_t i = 0; i < 10; ++i) frames.push_back(Frame{i});
      f.apply(frames, burst);
      out += frames.size();
      for (auto& fr : frames) order.push_back(fr[0]);
    }
    return std::tuple{out, order, f.dropped(), f.duplicated(), f.reordered()};
  };
  auto [out, order, dropped, duplicated, reordered] = run(7);
  EXPECT_NEAR(static_cast<double>(dropped), 200, 60);  // 2 % of 10,000
  EXPECT_NEAR(static_cast<double>(duplicated), 100, 45);
  EXPECT_NEAR(static_cast<double>(reordered), 200, 60);
  EXPECT_EQ(out, 10000 - dropped + duplicated);  // every frame goes out (or is dropped) at once
  EXPECT_EQ(std::get<1>(run(7)), order);         // the same seed, the same run
  EXPECT_NE(std::get<1>(run(8)), order);
}

TEST(FaultInjection, DelayHoldsFramesUntilTheirTime) {
  FaultInjector f({0, 0, 0, 1000, 1});
  std::vector<Frame> frames{Frame{1}, Frame{2}};
  f.apply(frames, 0);
  EXPECT_TRUE(frames.empty());
  f.apply(frames, 999);
  EXPECT_TRUE(frames.empty());
  f.apply(frames, 1000);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0][0], 1);
}

}  // namespace
}  // namespace seegw::netstack
