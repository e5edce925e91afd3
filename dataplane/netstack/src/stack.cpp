// The link and network layers: ARP, IPv4, ICMP echo; the flow table; the event dispatch.
#include "seegw/netstack/stack.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <type_traits>

namespace seegw::netstack {

std::uint64_t Counters::dropped() const {
  return dropped_short + dropped_not_for_us + dropped_bad_ip_header + dropped_bad_ip_checksum +
         dropped_fragments + dropped_bad_tcp_header + dropped_bad_tcp_checksum +
         dropped_unknown_protocol + dropped_no_listener + dropped_syn_backlog +
         dropped_connection_limit + dropped_out_of_window + dropped_out_of_order_full +
         dropped_arp_unresolved;
}

Counters& Counters::operator+=(const Counters& other) {
  // Every member is a std::uint64_t counter: add them as an array rather than name each twice.
  constexpr std::size_t n = sizeof(Counters) / sizeof(std::uint64_t);
  static_assert(sizeof(Counters) == n * sizeof(std::uint64_t) &&
                std::is_trivially_copyable_v<Counters>);
  std::array<std::uint64_t, n> mine{}, theirs{};
  std::memcpy(mine.data(), this, sizeof mine);
  std::memcpy(theirs.data(), &other, sizeof theirs);
  for (std::size_t i = 0; i < n; ++i) mine[i] += theirs[i];
  std::memcpy(static_cast<void*>(this), mine.data(), sizeof mine);
  return *this;
}

Stack::Stack(StackConfig config, std::uint64_t isn_secret)
    : config_(config),
      secret_(isn_secret ? isn_secret : std::random_device{}() * 0x9e3779b97f4a7c15ull),
      next_ephemeral_(config.ephemeral_first) {}

Stack::~Stack() = default;

std::size_t Stack::buffered_bytes() const {
  std::size_t n = 0;
  for (const auto& [k, t] : flows_) {
    n += t->send_buffer_.size() + t->received_.size();
    for (const auto& [seq, bytes] : t->out_of_order_) n += bytes.size();
  }
  return n;
}

void Stack::input(std::span<const std::uint8_t> frame, Micros now, bool checksums_verified) {
  now_ = now;
  ++counters_.rx_frames;
  counters_.rx_bytes += frame.size();
  if (frame.size() < kEthHeader) {
    ++counters_.dropped_short;
    return;
  }
  const bool to_us = std::equal(config_.mac.begin(), config_.mac.end(), frame.begin());
  const bool broadcast = std::equal(kBroadcastMac.begin(), kBroadcastMac.end(), frame.begin());
  const std::uint16_t type = load16(&frame[12]);
  if (type == kEtherArp && (to_us || broadcast)) return input_arp(frame);
  if (type == kEtherIpv4 && to_us) return input_ipv4(frame, now, checksums_verified);
  if (type == kEtherIpv4 || type == kEtherArp)
    ++counters_.dropped_not_for_us;
  else
    ++counters_.dropped_unknown_protocol;
}

void Stack::learn_arp(std::span<const std::uint8_t> frame, Micros now) {
  now_ = now;
  if (frame.size() >= kEthHeader && load16(&frame[12]) == kEtherArp) input_arp(frame, false);
}

void Stack::input_arp(std::span<const std::uint8_t> frame, bool received_here) {
  // A copy from another lane (learn_arp) was counted there; here it only teaches.
  if (frame.size() < kEthHeader + 28) {
    if (received_here) ++counters_.dropped_short;
    return;
  }
  const std::uint8_t* a = &frame[kEthHeader];
  if (load16(a) != 1 || load16(a + 2) != kEtherIpv4 || a[4] != 6 || a[5] != 4) {
    if (received_here) ++counters_.dropped_bad_ip_header;
    return;
  }
  const std::uint16_t op = load16(a + 6);
  Mac sender_mac;
  std::copy(a + 8, a + 14, sender_mac.begin());
  const Ipv4 sender_ip = load32(a + 14), target_ip = load32(a + 24);
  const bool known = arp_.contains(sender_ip);
  if (target_ip == config_.ip || known) {
    arp_[sender_ip] = ArpEntry{sender_mac, now_ + config_.arp_timeout};
    arp_asked_.erase(sender_ip);
    if (auto p = arp_pending_.find(sender_ip); p != arp_pending_.end()) {
      for (auto& pending : p->second) {
        std::copy(sender_mac.begin(), sender_mac.end(), pending.frame.begin());
        counters_.tx_bytes += pending.frame.size();
        ++counters_.tx_frames;
        output_.push_back(std::move(pending.frame));
      }
      arp_pending_.erase(p);
    }
  } else {
    if (received_here) ++counters_.dropped_not_for_us;
    return;
  }
  if (received_here && op == 1 && target_ip == config_.ip) {
    send_arp(2, sender_mac, sender_ip);
    ++counters_.arp_replies_sent;
  }
}

void Stack::send_arp(std::uint16_t op, const Mac& target_mac, Ipv4 target_ip) {
  Frame f(kEthHeader + 28);
  const Mac& eth_dst = op == 1 ? kBroadcastMac : target_mac;
  std::copy(eth_dst.begin(), eth_dst.end(), f.begin());
  std::copy(config_.mac.begin(), config_.mac.end(), f.begin() + 6);
  store16(&f[12], kEtherArp);
  std::uint8_t* a = &f[kEthHeader];
  store16(a, 1);
  store16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  store16(a + 6, op);
  std::copy(config_.mac.begin(), config_.mac.end(), a + 8);
  store32(a + 14, config_.ip);
  if (op == 2) std::copy(target_mac.begin(), target_mac.end(), a + 18);
  store32(a + 24, target_ip);
  ++counters_.tx_frames;
  counters_.tx_bytes += f.size();
  output_.push_back(std::move(f));
}

void Stack::send_ip(Ipv4 dst, Frame frame) {
  const bool local = (dst & config_.netmask) == (config_.ip & config_.netmask);
  const Ipv4 hop = local ? dst : config_.gateway;
  if (hop == 0) {
    ++counters_.dropped_arp_unresolved;
    return;
  }
  if (auto it = arp_.find(hop); it != arp_.end() && it->second.expires > now_) {
    std::copy(it->second.mac.begin(), it->second.mac.end(), frame.begin());
    ++counters_.tx_frames;
    counters_.tx_bytes += frame.size();
    output_.push_back(std::move(frame));
    return;
  }
  auto& queue = arp_pending_[hop];
  if (queue.size() >= config_.arp_pending_frames) {
    ++counters_.dropped_arp_unresolved;
    return;
  }
  queue.push_back({std::move(frame), now_});
  auto asked = arp_asked_.find(hop);
  if (asked == arp_asked_.end() || now_ - asked->second >= 1'000'000) {
    arp_asked_[hop] = now_;
    send_arp(1, Mac{}, hop);
  }
}

void Stack::input_ipv4(std::span<const std::uint8_t> frame, Micros now, bool verified) {
  auto ip = frame.subspan(kEthHeader);
  if (ip.size() < kIpHeader || (ip[0] >> 4) != 4) {
    ++counters_.dropped_bad_ip_header;
    return;
  }
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
  const std::size_t total = load16(&ip[2]);
  if (ihl < kIpHeader || ihl > ip.size() || total < ihl || total > ip.size()) {
    ++counters_.dropped_bad_ip_header;
    return;
  }
  if (!verified && internet_checksum(ip.first(ihl)) != 0) {
    ++counters_.dropped_bad_ip_checksum;
    return;
  }
  if ((load16(&ip[6]) & 0x3fff) != 0) {  // MF or an offset: we do not reassemble
    ++counters_.dropped_fragments;
    return;
  }
  if (load32(&ip[16]) != config_.ip) {
    ++counters_.dropped_not_for_us;
    return;
  }
  ip = ip.first(total);  // Ethernet pads short frames
  if (ip[9] == kProtoIcmp) {
    Mac src;
    std::copy(frame.begin() + 6, frame.begin() + 12, src.begin());
    return input_icmp(ip, src);
  }
  if (ip[9] != kProtoTcp) {
    ++counters_.dropped_unknown_protocol;
    return;
  }
  Drop why = Drop::none;
  auto segment = parse_tcp(ip, why, verified);
  if (!segment) {
    if (why == Drop::bad_tcp_checksum)
      ++counters_.dropped_bad_tcp_checksum;
    else
      ++counters_.dropped_bad_tcp_header;
    return;
  }
  input_tcp(*segment, now);
}

void Stack::input_icmp(std::span<const std::uint8_t> ip, const Mac&) {
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
  auto icmp = ip.subspan(ihl);
  if (icmp.size() < 8 || internet_checksum(icmp) != 0) {
    ++counters_.dropped_bad_ip_checksum;
    return;
  }
  if (icmp[0] != 8 || icmp[1] != 0) return;  // only echo requests are answered
  Frame f(kEthHeader + kIpHeader + icmp.size());
  std::copy(config_.mac.begin(), config_.mac.end(), f.begin() + 6);
  store16(&f[12], kEtherIpv4);
  std::uint8_t* r = &f[kEthHeader];
  r[0] = 0x45;
  store16(r + 2, static_cast<std::uint16_t>(kIpHeader + icmp.size()));
  store16(r + 4, ++ip_id_);
  r[8] = 64;
  r[9] = kProtoIcmp;
  store32(r + 12, config_.ip);
  const Ipv4 peer = load32(&ip[12]);
  store32(r + 16, peer);
  store16(r + 10, internet_checksum({r, kIpHeader}));
  std::uint8_t* e = r + kIpHeader;
  std::copy(icmp.begin(), icmp.end(), e);
  e[0] = 0;  // echo reply
  store16(e + 2, 0);
  store16(e + 2, internet_checksum({e, icmp.size()}));
  ++counters_.icmp_echo_replies;
  send_ip(peer, std::move(f));
}

void Stack::poll(Micros now) {
  now_ = now;
  if (now < next_timer_scan_) return;
  next_timer_scan_ = now + kTimerTick;
  // Frames whose next hop never answered ARP are dropped after three seconds.
  for (auto it = arp_pending_.begin(); it != arp_pending_.end();) {
    auto& q = it->second;
    while (!q.empty() && now - q.front().since > 3'000'000) {
      q.pop_front();
      ++counters_.dropped_arp_unresolved;
    }
    if (q.empty()) {
      arp_asked_.erase(it->first);
      it = arp_pending_.erase(it);
      continue;
    }
    if (now - arp_asked_[it->first] >= 1'000'000) {
      arp_asked_[it->first] = now;
      send_arp(1, Mac{}, it->first);
    }
    ++it;
  }
  for (auto& [key, t] : flows_) {
    if (t->state_ == TcpState::time_wait && now >= t->time_wait_until_) {
      t->state_ = TcpState::closed;
      reap_due_ = true;
      mark(*t);
    } else if (t->retransmit_at_ != 0 && now >= t->retransmit_at_) {
      tcp_timeout(*t, now);
    }
  }
}

void Stack::mark(TcpSocket& t) {
  if (t.notify_) return;
  t.notify_ = true;
  marked_.push_back(&t);
}

void Stack::ack_later(TcpSocket& t) {
  t.ack_due_ = true;
  if (t.ack_listed_) return;
  t.ack_listed_ = true;
  ack_list_.push_back(&t);
}

void Stack::dispatch(Micros now) {
  now_ = now;
  for (TcpSocket* t : std::exchange(accepted_queue_, {})) {
    auto l = listeners_.find(t->listener_port_);
    if (t->state_ == TcpState::closed || l == listeners_.end()) {
      t->released_ = true;
      continue;
    }
    t->accepted_ = true;
    l->second.on_accept(*t);
  }
  reap_due_ |= !marked_.empty();  // whatever changed may have closed
  // Handlers may write (which sends at once) and mark more sockets: index, not iterators.
  for (std::size_t i = 0; i < marked_.size(); ++i) {
    TcpSocket* t = marked_[i];
    t->notify_ = false;
    if (t->handler_ && !t->released_ && t->accepted_) t->handler_();
  }
  marked_.clear();
  // One ACK per connection per burst, unless data already carried it.
  for (TcpSocket* t : std::exchange(ack_list_, {})) {
    t->ack_listed_ = false;
    if (t->ack_due_) tcp_output(*t, now, true);
  }
  if (reap_due_) reap();
}

void Stack::reap() {
  reap_due_ = false;
  for (auto it = flows_.begin(); it != flows_.end();) {
    TcpSocket& t = *it->second;
    const bool finished = t.state_ == TcpState::closed && (t.released_ || !t.accepted_);
    if (finished && !t.notify_ && !t.ack_listed_) {
      it = flows_.erase(it);
    } else {
      reap_due_ |= finished;  // still in a list: next time
      ++it;
    }
  }
}

Result<void> Stack::listen(std::uint16_t port, AcceptHandler on_accept) {
  if (listeners_.contains(port)) return fail(Errc::config, "port already has a listener");
  listeners_[port] = Listener{std::move(on_accept), 0};
  return {};
}

std::uint32_t Stack::initial_sequence(const FlowKey& k, Micros now) const {
  // RFC 6528: a keyed hash of the connection's identity plus a clock ticking every 4 µs.
  std::uint64_t x = secret_ ^ (std::uint64_t{k.remote_ip} << 32 |
                               std::uint64_t{k.remote_port} << 16 | k.local_port);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<std::uint32_t>(x) + static_cast<std::uint32_t>(now / 4);
}

Result<TcpSocket*> Stack::connect(Ipv4 ip, std::uint16_t port, Micros now) {
  now_ = now;
  if (flows_.size() >= config_.max_connections) {
    ++counters_.dropped_connection_limit;
    return fail(Errc::limit, "too many connections");
  }
  FlowKey k{ip, port, 0};
  for (int tries = 0; tries < 65536 - config_.ephemeral_first; ++tries) {
    k.local_port = next_ephemeral_;
    next_ephemeral_ = next_ephemeral_ == 65535 ? config_.ephemeral_first
                                               : static_cast<std::uint16_t>(next_ephemeral_ + 1);
    if (!flows_.contains(k) && !listeners_.contains(k.local_port) &&
        (!config_.owns_flow || config_.owns_flow(ip, port, k.local_port)))
      break;
    k.local_port = 0;
  }
  if (k.local_port == 0) return fail(Errc::limit, "no free local port");
  auto owned = std::make_unique<TcpSocket>();
  TcpSocket& t = *owned;
  t.stack_ = this;
  t.remote_ip_ = ip;
  t.remote_port_ = port;
  t.local_port_ = k.local_port;
  t.state_ = TcpState::syn_sent;
  t.iss_ = initial_sequence(k, now);
  t.snd_una_ = t.iss_;
  t.snd_nxt_ = t.iss_ + 1;
  t.snd_max_ = t.snd_nxt_;
  t.rto_ = config_.rto_initial;
  t.rcv_scale_ = config_.window_scale;  // offered; kept only if the peer offers too
  t.mss_ = static_cast<std::uint16_t>(config_.mtu - 40);
  flows_[k] = std::move(owned);
  tcp_send(t, tcp_flag::syn, t.iss_, {}, true);
  t.rtt_probe_ = {{t.snd_nxt_, now}};
  t.retransmit_at_ = now + t.rto_;
  return &t;
}

}  // namespace seegw::netstack
