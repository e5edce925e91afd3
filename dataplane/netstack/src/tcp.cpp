// TCP (RFC 9293) with RFC 6298 timers, RFC 5681 congestion control, RFC 6582-style recovery,
// RFC 7323 window scaling and RFC 5961 validation. Sequence numbers compare modulo 2^32.
#include <algorithm>

#include "seegw/netstack/stack.hpp"

namespace seegw::netstack {

using namespace tcp_flag;

namespace {

bool synchronized(TcpState s) {
  return s != TcpState::closed && s != TcpState::listen && s != TcpState::syn_sent &&
         s != TcpState::syn_received;
}

}  // namespace

// ---- the user's side ----

bool TcpSocket::connected() const {
  return state_ == TcpState::established || state_ == TcpState::fin_wait_1 ||
         state_ == TcpState::fin_wait_2 || state_ == TcpState::close_wait ||
         state_ == TcpState::closing || state_ == TcpState::last_ack;
}

std::size_t TcpSocket::write(std::string_view bytes) {
  if ((state_ != TcpState::established && state_ != TcpState::close_wait) || fin_queued_) return 0;
  const std::size_t cap = stack_->config_.send_buffer;
  const std::size_t n =
      std::min(bytes.size(), cap > send_buffer_.size() ? cap - send_buffer_.size() : 0);
  send_buffer_.append(bytes.substr(0, n));
  stack_->tcp_output(*this, stack_->now_);
  return n;
}

std::size_t TcpSocket::send_room() const {
  const std::size_t cap = stack_->config_.send_buffer;
  return connected() && !fin_queued_ && cap > send_buffer_.size() ? cap - send_buffer_.size() : 0;
}

std::size_t TcpSocket::read(std::string& out, std::size_t max) {
  const std::size_t n = std::min(max, received_.size());
  const std::size_t at = out.size();
  out.resize(at + n);
  return read(out.data() + at, n);
}

std::size_t TcpSocket::read(char* out, std::size_t max) {
  const std::size_t n = std::min(max, received_.size());
  received_.copy(out, n);
  received_.erase(0, n);
  // A window that opened by a useful amount is announced now (the peer may be waiting on it).
  const std::uint32_t window =
      static_cast<std::uint32_t>(stack_->config_.receive_buffer - received_.size());
  if (n > 0 && synchronized(state_) &&
      window - std::min(window, last_window_) >=
          std::min<std::uint32_t>(2u * mss_,
                                  static_cast<std::uint32_t>(stack_->config_.receive_buffer / 2)))
    stack_->ack_later(*this);
  return n;
}

void TcpSocket::shutdown_write() {
  if (fin_queued_ || state_ == TcpState::closed) return;
  if (state_ == TcpState::syn_sent) {
    state_ = TcpState::closed;
    stack_->mark(*this);
    return;
  }
  fin_queued_ = true;
  if (state_ == TcpState::established || state_ == TcpState::syn_received)
    state_ = TcpState::fin_wait_1;
  else if (state_ == TcpState::close_wait)
    state_ = TcpState::last_ack;
  stack_->tcp_output(*this, stack_->now_);
}

void TcpSocket::release() {
  released_ = true;
  stack_->reap_due_ = true;
  handler_ = nullptr;
  // Unread data means the application gave up on the conversation: reset (RFC 9293 3.10.4).
  if (!received_.empty() && state_ != TcpState::closed && state_ != TcpState::time_wait)
    return abort();
  shutdown_write();
}

void TcpSocket::abort() {
  if (state_ != TcpState::closed && state_ != TcpState::syn_sent && state_ != TcpState::time_wait) {
    stack_->tcp_send(*this, rst | ack, snd_nxt_, {});
    ++stack_->counters_.tcp_resets_sent;
  }
  if (error_.empty()) error_ = "aborted";
  stack_->tcp_closed(*this);
}

// ---- segments out ----

std::uint16_t Stack::advertised_window(const TcpSocket& t) const {
  const std::size_t free_bytes =
      config_.receive_buffer > t.received_.size() ? config_.receive_buffer - t.received_.size() : 0;
  return static_cast<std::uint16_t>(std::min<std::size_t>(free_bytes >> t.rcv_scale_, 65535));
}

void Stack::tcp_send(TcpSocket& t, std::uint8_t flags, std::uint32_t seq, std::string_view payload,
                     bool syn_options) {
  Segment s;
  s.src_ip = config_.ip;
  s.dst_ip = t.remote_ip_;
  s.src_port = t.local_port_;
  s.dst_port = t.remote_port_;
  s.seq = seq;
  s.flags = flags;
  if (flags & ack) {
    s.ack = t.rcv_nxt_;
    t.ack_due_ = false;
  }
  if (flags & syn) {
    // The window in a SYN is never scaled (RFC 7323 §2.2).
    s.window = static_cast<std::uint16_t>(std::min<std::size_t>(config_.receive_buffer, 65535));
  } else {
    s.window = advertised_window(t);
  }
  t.last_window_ = static_cast<std::uint32_t>(s.window) << ((flags & syn) ? 0 : t.rcv_scale_);
  if (syn_options) {
    s.mss = static_cast<std::uint16_t>(config_.mtu - 40);
    if (t.state_ == TcpState::syn_sent || t.scaling_) s.window_scale = config_.window_scale;
  }
  s.payload = {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
  Mac unresolved{};
  send_ip(t.remote_ip_,
          build_tcp_frame(config_.mac, unresolved, s, 64, ++ip_id_, config_.tx_checksum_offload));
}

void Stack::tcp_reset_reply(const Segment& s) {
  // RFC 9293 3.10.7.1: answer a segment for no connection with a reset it will accept.
  Segment r;
  r.src_ip = config_.ip;
  r.dst_ip = s.src_ip;
  r.src_port = s.dst_port;
  r.dst_port = s.src_port;
  if (s.has(ack)) {
    r.seq = s.ack;
    r.flags = rst;
  } else {
    r.seq = 0;
    r.ack = s.seq + s.length();
    r.flags = rst | ack;
  }
  ++counters_.tcp_resets_sent;
  Mac unresolved{};
  send_ip(s.src_ip,
          build_tcp_frame(config_.mac, unresolved, r, 64, ++ip_id_, config_.tx_checksum_offload));
}

void Stack::tcp_output(TcpSocket& t, Micros now, bool bare_ack) {
  if (!synchronized(t.state_) || t.state_ == TcpState::time_wait) {
    if (bare_ack && t.ack_due_ && t.state_ == TcpState::time_wait) tcp_send(t, ack, t.snd_nxt_, {});
    return;
  }
  bool sent = false;
  const std::uint32_t window = std::min(t.snd_wnd_, t.cwnd_);
  while (true) {
    const std::uint32_t flight = t.snd_nxt_ - t.snd_una_;
    const std::size_t offset = t.fin_sent_ && t.snd_nxt_ == t.snd_max_
                                   ? t.send_buffer_.size()
                                   : std::min<std::size_t>(flight, t.send_buffer_.size());
    const std::size_t avail = t.send_buffer_.size() - offset;
    const std::size_t usable = window > flight ? window - flight : 0;
    const std::size_t len = std::min({avail, static_cast<std::size_t>(t.mss_), usable});
    if (len == 0) {
      // Everything written is out: the FIN follows (it needs no window).
      const bool fin_pending =
          t.fin_queued_ && avail == 0 && (!t.fin_sent_ || seq_lt(t.snd_nxt_, t.fin_seq_ + 1));
      if (fin_pending && (t.snd_nxt_ - t.snd_una_) == t.send_buffer_.size()) {
        t.fin_seq_ = t.snd_nxt_;
        tcp_send(t, fin | ack, t.snd_nxt_, {});
        t.fin_sent_ = true;
        ++t.snd_nxt_;
        if (seq_gt(t.snd_nxt_, t.snd_max_)) t.snd_max_ = t.snd_nxt_;
        sent = true;
      }
      break;
    }
    const bool last = offset + len == t.send_buffer_.size();
    tcp_send(t, ack | (last ? psh : 0), t.snd_nxt_,
             std::string_view(t.send_buffer_).substr(offset, len));
    const bool new_data = t.snd_nxt_ == t.snd_max_;
    t.snd_nxt_ += static_cast<std::uint32_t>(len);
    if (seq_gt(t.snd_nxt_, t.snd_max_)) t.snd_max_ = t.snd_nxt_;
    if (new_data && !t.rtt_probe_) t.rtt_probe_ = {{t.snd_nxt_, now}};
    sent = true;
  }
  if (sent && t.retransmit_at_ == 0) t.retransmit_at_ = now + t.rto_;
  // Zero window with data waiting and nothing in flight: the timer sends probes (persist).
  if (t.snd_wnd_ == 0 && t.send_buffer_.size() > (t.snd_nxt_ - t.snd_una_) &&
      t.snd_una_ == t.snd_max_ && t.retransmit_at_ == 0)
    t.retransmit_at_ = now + t.rto_;
  if (bare_ack && t.ack_due_) tcp_send(t, ack, t.snd_nxt_, {});
}

void Stack::tcp_retransmit_first(TcpSocket& t) {
  const std::size_t len = std::min<std::size_t>(t.mss_, t.send_buffer_.size());
  if (len > 0)
    tcp_send(t, ack, t.snd_una_, std::string_view(t.send_buffer_).substr(0, len));
  else if (t.fin_sent_)
    tcp_send(t, fin | ack, t.fin_seq_, {});
}

// ---- timers ----

void Stack::tcp_rtt_sample(TcpSocket& t, Micros r) {
  if (!t.rtt_measured_) {
    t.rtt_measured_ = true;
    t.srtt_ = r;
    t.rttvar_ = r / 2;
  } else {
    const Micros delta = t.srtt_ > r ? t.srtt_ - r : r - t.srtt_;
    t.rttvar_ = (3 * t.rttvar_ + delta) / 4;
    t.srtt_ = (7 * t.srtt_ + r) / 8;
  }
  t.rto_ =
      std::clamp(t.srtt_ + std::max<Micros>(1000, 4 * t.rttvar_), config_.rto_min, config_.rto_max);
}

void Stack::tcp_timeout(TcpSocket& t, Micros now) {
  t.retransmit_at_ = 0;
  t.rtt_probe_.reset();  // Karn: no samples from retransmitted segments
  t.rto_ = std::min(t.rto_ * 2, config_.rto_max);
  if (t.state_ == TcpState::syn_sent || t.state_ == TcpState::syn_received) {
    if (++t.retransmissions_ > config_.max_retransmissions / 2)
      return tcp_fail(
          t, t.state_ == TcpState::syn_sent ? "connection timed out" : "handshake timed out");
    ++counters_.tcp_retransmits;
    if (t.state_ == TcpState::syn_sent)
      tcp_send(t, syn, t.iss_, {}, true);
    else
      tcp_send(t, syn | ack, t.iss_, {}, true);
    t.retransmit_at_ = now + t.rto_;
    return;
  }
  const std::uint32_t flight = t.snd_max_ - t.snd_una_;
  if (flight == 0 && t.snd_wnd_ == 0 && !t.send_buffer_.empty()) {
    // Persist: one byte past the closed window; the peer's ACK carries its window.
    ++counters_.tcp_window_probes;
    tcp_send(t, ack, t.snd_una_, std::string_view(t.send_buffer_).substr(0, 1));
    t.snd_nxt_ = t.snd_max_ = t.snd_una_ + 1;
    t.retransmit_at_ = now + t.rto_;
    return;
  }
  if (flight == 0) return;
  if (++t.retransmissions_ > config_.max_retransmissions) {
    ++counters_.tcp_timeouts;
    return tcp_fail(t, "connection timed out (no acknowledgement)");
  }
  ++counters_.tcp_retransmits;
  // RFC 5681 (4): one segment, then slow start again from what was acknowledged.
  t.ssthresh_ = std::max<std::uint32_t>(flight / 2, 2u * t.mss_);
  t.cwnd_ = t.mss_;
  t.dupacks_ = 0;
  t.snd_nxt_ = t.snd_una_;
  if (t.fin_sent_ && seq_le(t.snd_una_, t.fin_seq_)) t.fin_sent_ = false;
  tcp_output(t, now);
  if (t.retransmit_at_ == 0) t.retransmit_at_ = now + t.rto_;
}

void Stack::tcp_fail(TcpSocket& t, std::string why) {
  if (t.error_.empty()) t.error_ = std::move(why);
  t.send_buffer_.clear();
  tcp_closed(t);
}

void Stack::tcp_closed(TcpSocket& t) {
  if (!t.accepted_ && t.state_ == TcpState::syn_received) {
    auto l = listeners_.find(t.listener_port_);
    if (l != listeners_.end() && l->second.half_open > 0) --l->second.half_open;
  }
  t.state_ = TcpState::closed;
  t.retransmit_at_ = 0;
  t.out_of_order_.clear();
  mark(t);
}

void Stack::tcp_enter_time_wait(TcpSocket& t, Micros now) {
  t.state_ = TcpState::time_wait;
  t.time_wait_until_ = now + config_.time_wait;
  t.retransmit_at_ = 0;
  t.send_buffer_.clear();
  mark(t);
}

// ---- segments in ----

void Stack::input_tcp(const Segment& s, Micros now) {
  const FlowKey key{s.src_ip, s.src_port, s.dst_port};
  auto it = flows_.find(key);
  if (it != flows_.end() && it->second->state_ == TcpState::time_wait && s.has(syn) &&
      !s.has(rst) && seq_gt(s.seq, it->second->rcv_nxt_) && listeners_.contains(s.dst_port) &&
      !it->second->notify_ && !it->second->ack_listed_) {
    // A new incarnation of a connection in TIME-WAIT (RFC 9293 3.10.7.4, RFC 6191).
    it->second->released_ = true;
    flows_.erase(it);
    it = flows_.end();
  }
  if (it == flows_.end()) {
    if (auto l = listeners_.find(s.dst_port); l != listeners_.end())
      return tcp_listen_input(s, l->second, now);
    ++counters_.dropped_no_listener;
    if (!s.has(rst)) tcp_reset_reply(s);
    return;
  }
  TcpSocket& t = *it->second;
  if (t.state_ == TcpState::syn_sent) return tcp_syn_sent_input(t, s, now);
  if (t.state_ == TcpState::closed) {
    if (!s.has(rst)) tcp_reset_reply(s);
    return;
  }
  tcp_established_input(t, s, now);
}

void Stack::tcp_listen_input(const Segment& s, Listener& l, Micros now) {
  if (s.has(rst)) return;
  if (s.has(ack)) return tcp_reset_reply(s);
  if (!s.has(syn) || s.has(fin)) return;
  if (flows_.size() >= config_.max_connections) {
    ++counters_.dropped_connection_limit;
    return;
  }
  if (l.half_open >= config_.syn_backlog) {
    // A SYN flood fills the backlog, never memory: the peer retransmits if it is real.
    ++counters_.dropped_syn_backlog;
    return;
  }
  const FlowKey key{s.src_ip, s.src_port, s.dst_port};
  auto owned = std::make_unique<TcpSocket>();
  TcpSocket& t = *owned;
  t.stack_ = this;
  t.remote_ip_ = s.src_ip;
  t.remote_port_ = s.src_port;
  t.local_port_ = s.dst_port;
  t.listener_port_ = s.dst_port;
  t.accepted_ = false;
  t.state_ = TcpState::syn_received;
  t.irs_ = s.seq;
  t.rcv_nxt_ = s.seq + 1;
  t.iss_ = initial_sequence(key, now);
  t.snd_una_ = t.iss_;
  t.snd_nxt_ = t.snd_max_ = t.iss_ + 1;
  t.scaling_ = s.window_scale.has_value();
  t.snd_scale_ = t.scaling_ ? *s.window_scale : 0;
  t.rcv_scale_ = t.scaling_ ? config_.window_scale : 0;
  t.snd_wnd_ = s.window;
  t.snd_wl1_ = s.seq;
  t.mss_ =
      std::min<std::uint16_t>(s.mss.value_or(536), static_cast<std::uint16_t>(config_.mtu - 40));
  t.cwnd_ = std::min<std::uint32_t>(10u * t.mss_, std::max<std::uint32_t>(2u * t.mss_, 14600));
  t.rto_ = config_.rto_initial;
  ++l.half_open;
  flows_[key] = std::move(owned);
  tcp_send(t, syn | ack, t.iss_, {}, true);
  t.rtt_probe_ = {{t.snd_nxt_, now}};
  t.retransmit_at_ = now + t.rto_;
}

void Stack::tcp_syn_sent_input(TcpSocket& t, const Segment& s, Micros now) {
  if (s.has(ack) && (seq_le(s.ack, t.iss_) || seq_gt(s.ack, t.snd_max_))) {
    if (!s.has(rst)) tcp_reset_reply(s);
    return;
  }
  if (s.has(rst)) {
    if (s.has(ack)) {
      ++counters_.tcp_resets_received;
      tcp_fail(t, "connection refused");
    }
    return;
  }
  if (!s.has(syn)) return;
  t.irs_ = s.seq;
  t.rcv_nxt_ = s.seq + 1;
  t.scaling_ = s.window_scale.has_value();
  t.snd_scale_ = t.scaling_ ? *s.window_scale : 0;
  if (!t.scaling_) t.rcv_scale_ = 0;
  t.mss_ =
      std::min<std::uint16_t>(s.mss.value_or(536), static_cast<std::uint16_t>(config_.mtu - 40));
  t.cwnd_ = std::min<std::uint32_t>(10u * t.mss_, std::max<std::uint32_t>(2u * t.mss_, 14600));
  t.snd_wnd_ = s.window;
  t.snd_wl1_ = s.seq;
  t.snd_wl2_ = s.ack;
  if (s.has(ack)) {
    t.snd_una_ = s.ack;
    if (t.rtt_probe_ && t.retransmissions_ == 0) tcp_rtt_sample(t, now - t.rtt_probe_->second);
    t.rtt_probe_.reset();
    t.retransmit_at_ = 0;
    t.retransmissions_ = 0;
    t.state_ = TcpState::established;
    ++counters_.tcp_connected;
    tcp_send(t, ack, t.snd_nxt_, {});
    mark(t);
    return;
  }
  // Simultaneous open (RFC 9293 3.5, figure 7).
  t.state_ = TcpState::syn_received;
  tcp_send(t, syn | ack, t.iss_, {}, true);
}

void Stack::tcp_established_input(TcpSocket& t, const Segment& s, Micros now) {
  // 1. Is the segment in the receive window? (RFC 9293 3.10.7.4)
  const std::uint32_t wnd = static_cast<std::uint32_t>(
      config_.receive_buffer > t.received_.size() ? config_.receive_buffer - t.received_.size()
                                                  : 0);
  const std::uint32_t len = s.length();
  auto in_window = [&](std::uint32_t seq) {
    return seq_le(t.rcv_nxt_, seq) && seq_lt(seq, t.rcv_nxt_ + wnd);
  };
  bool acceptable;
  if (len == 0)
    acceptable = wnd == 0 ? s.seq == t.rcv_nxt_ : in_window(s.seq);
  else
    acceptable = wnd > 0 && (in_window(s.seq) || in_window(s.seq + len - 1));
  if (!acceptable) {
    if (s.has(rst)) return;  // RFC 5961 3.2: outside the window, a reset is ignored
    if (t.state_ == TcpState::syn_received && s.has(syn) && s.seq == t.irs_) {
      tcp_send(t, syn | ack, t.iss_, {}, true);  // our SYN-ACK was lost: the peer tries again
      return;
    }
    if (seq_lt(s.seq, t.rcv_nxt_))
      ++counters_.tcp_duplicates;
    else
      ++counters_.dropped_out_of_window;
    if (t.state_ == TcpState::time_wait && s.has(fin)) t.time_wait_until_ = now + config_.time_wait;
    tcp_send(t, ack, t.snd_nxt_, {});
    return;
  }
  // 2. RST: only an exact match resets; anything else in the window gets a challenge ACK.
  if (s.has(rst)) {
    if (s.seq == t.rcv_nxt_) {
      ++counters_.tcp_resets_received;
      tcp_fail(t, "connection reset by peer");
    } else {
      ++counters_.tcp_challenge_acks;
      tcp_send(t, ack, t.snd_nxt_, {});
    }
    return;
  }
  // 3. A SYN on a synchronized connection: challenge ACK (RFC 5961 4.2).
  if (s.has(syn)) {
    ++counters_.tcp_challenge_acks;
    tcp_send(t, ack, t.snd_nxt_, {});
    return;
  }
  // 4. ACK.
  if (!s.has(ack)) return;
  if (!tcp_ack_input(t, s, now)) return;
  // 5. Data and FIN.
  if (t.state_ == TcpState::established || t.state_ == TcpState::fin_wait_1 ||
      t.state_ == TcpState::fin_wait_2) {
    tcp_data_input(t, s, now);
  } else if (len > 0) {
    // After the peer's FIN nothing more can come; a retransmitted FIN is acknowledged again.
    if (t.state_ == TcpState::time_wait) t.time_wait_until_ = now + config_.time_wait;
    ack_later(t);
  }
  if (synchronized(t.state_)) tcp_output(t, now);
}

bool Stack::tcp_ack_input(TcpSocket& t, const Segment& s, Micros now) {
  if (t.state_ == TcpState::syn_received) {
    if (!(seq_lt(t.snd_una_, s.ack) && seq_le(s.ack, t.snd_max_))) {
      tcp_reset_reply(s);
      return false;
    }
    t.state_ = TcpState::established;
    if (t.rtt_probe_ && t.retransmissions_ == 0) tcp_rtt_sample(t, now - t.rtt_probe_->second);
    t.rtt_probe_.reset();
    t.snd_una_ = s.ack;
    t.snd_wnd_ = static_cast<std::uint32_t>(s.window) << t.snd_scale_;
    t.snd_wl1_ = s.seq;
    t.snd_wl2_ = s.ack;
    t.retransmit_at_ = 0;
    t.retransmissions_ = 0;
    if (auto l = listeners_.find(t.listener_port_);
        l != listeners_.end() && l->second.half_open > 0)
      --l->second.half_open;
    ++counters_.tcp_accepted;
    accepted_queue_.push_back(&t);
    mark(t);
  }
  if (seq_gt(s.ack, t.snd_max_)) {
    tcp_send(t, ack, t.snd_nxt_, {});  // it acknowledges what we never sent
    return false;
  }
  const std::uint32_t new_window = static_cast<std::uint32_t>(s.window) << t.snd_scale_;
  if (seq_gt(s.ack, t.snd_una_)) {
    const std::uint32_t acked = s.ack - t.snd_una_;
    const bool fin_acked = t.fin_sent_ && seq_gt(s.ack, t.fin_seq_);
    t.send_buffer_.erase(0,
                         std::min<std::size_t>(acked - (fin_acked ? 1 : 0), t.send_buffer_.size()));
    t.snd_una_ = s.ack;
    if (seq_lt(t.snd_nxt_, t.snd_una_)) t.snd_nxt_ = t.snd_una_;
    if (t.rtt_probe_ && seq_ge(s.ack, t.rtt_probe_->first)) {
      tcp_rtt_sample(t, now - t.rtt_probe_->second);
      t.rtt_probe_.reset();
    }
    t.retransmissions_ = 0;
    if (t.dupacks_ >= 3) {
      if (seq_ge(s.ack, t.recover_)) {
        t.cwnd_ = t.ssthresh_;  // full acknowledgement: recovery ends
        t.dupacks_ = 0;
      } else {
        tcp_retransmit_first(t);  // partial acknowledgement: the next hole (RFC 6582)
        ++counters_.tcp_fast_retransmits;
        t.cwnd_ = t.cwnd_ > acked ? t.cwnd_ - acked + t.mss_ : t.mss_;
      }
    } else {
      t.dupacks_ = 0;
      if (t.cwnd_ < t.ssthresh_)
        t.cwnd_ += std::min<std::uint32_t>(acked, t.mss_);
      else
        t.cwnd_ += std::max<std::uint32_t>(
            1, static_cast<std::uint32_t>(std::uint64_t{t.mss_} * t.mss_ / t.cwnd_));
    }
    t.retransmit_at_ = t.snd_una_ == t.snd_max_ ? 0 : now + t.rto_;
    mark(t);  // room to write
    if (fin_acked) {
      if (t.state_ == TcpState::fin_wait_1) {
        t.state_ = TcpState::fin_wait_2;
      } else if (t.state_ == TcpState::closing) {
        tcp_enter_time_wait(t, now);
      } else if (t.state_ == TcpState::last_ack) {
        tcp_closed(t);
        return false;
      }
    }
  } else if (s.ack == t.snd_una_ && s.payload.empty() && !s.has(fin) && t.snd_una_ != t.snd_max_ &&
             new_window == t.snd_wnd_) {
    // A duplicate ACK: after three, the segment is taken as lost (RFC 5681 3.2).
    if (++t.dupacks_ == 3) {
      const std::uint32_t flight = t.snd_max_ - t.snd_una_;
      t.ssthresh_ = std::max<std::uint32_t>(flight / 2, 2u * t.mss_);
      t.recover_ = t.snd_max_;
      tcp_retransmit_first(t);
      ++counters_.tcp_fast_retransmits;
      t.cwnd_ = t.ssthresh_ + 3u * t.mss_;
    } else if (t.dupacks_ > 3) {
      t.cwnd_ += t.mss_;
    }
  }
  if (seq_lt(t.snd_wl1_, s.seq) || (t.snd_wl1_ == s.seq && seq_le(t.snd_wl2_, s.ack))) {
    if (t.snd_wnd_ == 0 && new_window > 0) mark(t);
    t.snd_wnd_ = new_window;
    t.snd_wl1_ = s.seq;
    t.snd_wl2_ = s.ack;
  }
  return true;
}

void Stack::tcp_data_input(TcpSocket& t, const Segment& s, Micros now) {
  std::uint32_t seq = s.seq;
  std::span<const std::uint8_t> data = s.payload;
  if (seq_lt(seq, t.rcv_nxt_)) {  // overlaps what we have: keep the new part
    const std::uint32_t skip =
        std::min<std::uint32_t>(t.rcv_nxt_ - seq, static_cast<std::uint32_t>(data.size()));
    data = data.subspan(skip);
    seq += skip;
  }
  const std::size_t room =
      config_.receive_buffer > t.received_.size() ? config_.receive_buffer - t.received_.size() : 0;
  if (data.size() > room) data = data.first(room);  // beyond the window: the peer sends it again
  if (!data.empty()) {
    const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
    if (seq == t.rcv_nxt_) {
      if (!t.released_) t.received_.append(bytes);
      t.rcv_nxt_ += static_cast<std::uint32_t>(bytes.size());
      // What arrived early and now fits.
      for (auto it = t.out_of_order_.begin(); it != t.out_of_order_.end();) {
        if (seq_gt(it->first, t.rcv_nxt_)) break;
        const std::uint32_t end = it->first + static_cast<std::uint32_t>(it->second.size());
        if (seq_gt(end, t.rcv_nxt_)) {
          const std::size_t skip = t.rcv_nxt_ - it->first;
          if (!t.released_) t.received_.append(it->second, skip);
          t.rcv_nxt_ = end;
        }
        it = t.out_of_order_.erase(it);
      }
      mark(t);
      ack_later(t);
    } else {
      ++counters_.tcp_out_of_order;
      auto existing = t.out_of_order_.find(seq);
      if (existing != t.out_of_order_.end()) {
        if (existing->second.size() < bytes.size()) existing->second.assign(bytes);
      } else if (t.out_of_order_.size() < config_.out_of_order_segments) {
        t.out_of_order_.emplace(seq, bytes);
      } else {
        ++counters_.dropped_out_of_order_full;
      }
      tcp_send(t, ack, t.snd_nxt_, {});  // a duplicate ACK at once: it drives fast retransmit
    }
  } else if (s.payload.size() > 0) {
    ++counters_.tcp_duplicates;
    ack_later(t);
  }
  if (s.has(fin)) t.peer_fin_seq_ = s.seq + static_cast<std::uint32_t>(s.payload.size());
  if (t.peer_fin_seq_ && *t.peer_fin_seq_ == t.rcv_nxt_ && !t.peer_finished_) {
    ++t.rcv_nxt_;
    t.peer_finished_ = true;
    mark(t);
    ack_later(t);
    if (t.state_ == TcpState::established) {
      t.state_ = TcpState::close_wait;
    } else if (t.state_ == TcpState::fin_wait_1) {
      const bool ours_acked = t.fin_sent_ && seq_gt(t.snd_una_, t.fin_seq_);
      if (ours_acked)
        tcp_enter_time_wait(t, now);
      else
        t.state_ = TcpState::closing;
    } else if (t.state_ == TcpState::fin_wait_2) {
      tcp_enter_time_wait(t, now);
    }
  }
}

}  // namespace seegw::netstack
