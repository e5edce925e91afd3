// A sans-IO IPv4/TCP stack for the poll-mode data plane: Ethernet frames in (`input`), frames out
// (`take_output`), time passed in (`poll`), no threads, no syscalls — so the same code runs on a
// DPDK lcore, in a unit test fed scripted segments, and under a fuzzer fed raw frames. One stack
// per lcore owns its flow table; nothing in it is shared.
//
// What it does: ARP (responder, resolver cache, bounded queue of frames awaiting resolution),
// ICMP echo, IPv4 with header and checksum checks (fragments are dropped and counted: peers
// use DF and MSS), and TCP per RFC 9293 for passive and active opens — MSS and window-scale
// options, in-order delivery with a bounded out-of-order queue, window management, RTO per
// RFC 6298 with Karn's rule, NewReno-style fast retransmit on three duplicate ACKs, slow start
// and congestion avoidance (RFC 5681), zero-window probes, FIN/RST and TIME-WAIT, RST and SYN
// validation per RFC 5961 (challenge ACKs), a SYN backlog limit per listener and limits on
// connections and buffer memory.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/netstack/wire.hpp"

namespace seegw::netstack {

using Micros = std::int64_t;  // a monotonic clock, microseconds

struct StackConfig {
  Mac mac{0x02, 0x53, 0x45, 0x45, 0x00, 0x01};
  Ipv4 ip = 0;
  Ipv4 netmask = 0xffffff00;
  Ipv4 gateway = 0;  // 0: only the local subnet is reachable
  std::uint16_t mtu = 1500;
  std::size_t max_connections = 4096;
  std::size_t syn_backlog = 128;            // half-open connections per listener
  std::size_t send_buffer = 256 * 1024;     // per connection
  std::size_t receive_buffer = 256 * 1024;  // per connection: the most we advertise
  std::size_t out_of_order_segments = 64;   // per connection
  std::uint8_t window_scale = 7;
  Micros rto_initial = 1'000'000;  // RFC 6298 (2.1)
  Micros rto_min = 200'000;        // below RFC 6298's 1 s, as Linux: a LAN appliance
  Micros rto_max = 60'000'000;
  int max_retransmissions = 10;   // then the connection fails ("timed out")
  Micros time_wait = 60'000'000;  // 2 MSL
  Micros arp_timeout = 300'000'000;
  std::size_t arp_pending_frames = 256;
  std::uint16_t ephemeral_first = 49152;
  bool tx_checksum_offload = false;  // the port computes IPv4 and TCP checksums of what we send
  // With several lanes (steering.hpp): an active open takes only a local port for which this
  // answers yes, so the replies belong to this stack's lane. Empty: every port will do.
  std::function<bool(Ipv4 remote_ip, std::uint16_t remote_port, std::uint16_t local_port)>
      owns_flow;
};

struct Counters {
  std::uint64_t rx_frames = 0, tx_frames = 0, rx_bytes = 0, tx_bytes = 0;
  std::uint64_t dropped_short = 0, dropped_not_for_us = 0, dropped_bad_ip_header = 0,
                dropped_bad_ip_checksum = 0, dropped_fragments = 0, dropped_bad_tcp_header = 0,
                dropped_bad_tcp_checksum = 0, dropped_unknown_protocol = 0, dropped_no_listener = 0,
                dropped_syn_backlog = 0, dropped_connection_limit = 0, dropped_out_of_window = 0,
                dropped_out_of_order_full = 0, dropped_arp_unresolved = 0;
  std::uint64_t arp_replies_sent = 0, icmp_echo_replies = 0;
  std::uint64_t tcp_accepted = 0, tcp_connected = 0, tcp_resets_sent = 0, tcp_resets_received = 0,
                tcp_retransmits = 0, tcp_fast_retransmits = 0, tcp_timeouts = 0,
                tcp_challenge_acks = 0, tcp_window_probes = 0, tcp_out_of_order = 0,
                tcp_duplicates = 0;
  std::uint64_t dropped() const;
  Counters& operator+=(const Counters& other);  // the lanes' counters, added up
};

class Stack;

enum class TcpState {
  closed,
  listen,
  syn_sent,
  syn_received,
  established,
  fin_wait_1,
  fin_wait_2,
  close_wait,
  closing,
  last_ack,
  time_wait
};

// One TCP connection as its user sees it. Everything is non-blocking; when something changes
// (data arrived, room to write, connected, closed) the handler runs from Stack::dispatch().
class TcpSocket {
 public:
  using Handler = std::function<void()>;
  void set_handler(Handler h) { handler_ = std::move(h); }
  // Takes what fits in the send buffer; 0 means "wait for the handler".
  std::size_t write(std::string_view bytes);
  // Moves up to `max` received bytes into `out`; 0 with eof() means the peer finished.
  std::size_t read(std::string& out, std::size_t max);
  std::size_t read(char* out, std::size_t max);
  bool readable() const { return !received_.empty() || eof() || failed(); }
  std::size_t send_room() const;
  bool eof() const { return peer_finished_ && received_.empty(); }
  bool connected() const;
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // FIN once everything written so far is sent.
  void shutdown_write();
  // The user lets go: it will not touch the socket again. The connection finishes on its own
  // (FIN, TIME-WAIT) — or is reset when received data was never read.
  void release();
  void abort();
  Ipv4 remote_ip() const { return remote_ip_; }
  std::uint16_t remote_port() const { return remote_port_; }
  std::uint16_t local_port() const { return local_port_; }
  TcpState state() const { return state_; }

 private:
  friend class Stack;
  Stack* stack_ = nullptr;
  Handler handler_;
  bool released_ = false, notify_ = false;
  TcpState state_ = TcpState::closed;
  Ipv4 remote_ip_ = 0;
  std::uint16_t remote_port_ = 0, local_port_ = 0;
  std::uint16_t listener_port_ = 0;  // a passive open not yet accepted counts against its backlog
  bool accepted_ = true;

  // Send side (RFC 9293 names). send_buffer_ holds every byte from snd_una on.
  std::uint32_t iss_ = 0, snd_una_ = 0, snd_nxt_ = 0, snd_max_ = 0, snd_wnd_ = 0, snd_wl1_ = 0,
                snd_wl2_ = 0;
  std::uint8_t snd_scale_ = 0;  // the peer's window shift
  std::uint16_t mss_ = 536;     // what the peer takes
  std::string send_buffer_;
  bool fin_queued_ = false, fin_sent_ = false;
  std::uint32_t fin_seq_ = 0;
  std::uint32_t cwnd_ = 0, ssthresh_ = 0xffffffff;
  int dupacks_ = 0;
  std::uint32_t recover_ = 0;  // NewReno: the highest sequence sent when loss was detected

  // Receive side.
  std::uint32_t irs_ = 0, rcv_nxt_ = 0;
  std::uint8_t rcv_scale_ = 0;
  bool scaling_ = false;
  std::string received_;
  std::map<std::uint32_t, std::string> out_of_order_;
  std::optional<std::uint32_t> peer_fin_seq_;
  bool peer_finished_ = false;
  bool ack_due_ = false, ack_listed_ = false;
  std::uint32_t last_window_ = 0;  // the window we last advertised (bytes)

  // Timers.
  Micros srtt_ = 0, rttvar_ = 0, rto_ = 0;
  bool rtt_measured_ = false;
  Micros retransmit_at_ = 0;  // 0: not armed
  int retransmissions_ = 0;
  std::optional<std::pair<std::uint32_t, Micros>> rtt_probe_;  // seq, when sent (Karn)
  Micros time_wait_until_ = 0;
  std::string error_;
};

class Stack {
 public:
  using AcceptHandler = std::function<void(TcpSocket&)>;

  explicit Stack(StackConfig config, std::uint64_t isn_secret = 0);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // One received Ethernet frame; `checksums_verified` when the port checked the IPv4 and TCP
  // checksums already (RX offload; a frame it found bad is dropped before it gets here).
  void input(std::span<const std::uint8_t> frame, Micros now, bool checksums_verified = false);
  // An ARP frame another lane received: its sender is learnt (and frames waiting for it go
  // out), but only the lane that received it answers.
  void learn_arp(std::span<const std::uint8_t> frame, Micros now);
  // Timers: retransmissions, probes, TIME-WAIT, ARP.
  void poll(Micros now);
  // Runs the handlers of sockets that changed, then sends what they wrote.
  void dispatch(Micros now);
  std::vector<Frame> take_output() { return std::exchange(output_, {}); }
  bool has_output() const { return !output_.empty(); }

  Result<void> listen(std::uint16_t port, AcceptHandler on_accept);
  // An active open; the handler sees connected() or failed().
  Result<TcpSocket*> connect(Ipv4 ip, std::uint16_t port, Micros now);

  const Counters& counters() const { return counters_; }
  const StackConfig& config() const { return config_; }
  std::size_t connections() const { return flows_.size(); }
  std::size_t buffered_bytes() const;

 private:
  friend class TcpSocket;
  struct FlowKey {
    Ipv4 remote_ip;
    std::uint16_t remote_port, local_port;
    bool operator==(const FlowKey&) const = default;
  };
  struct FlowHash {
    std::size_t operator()(const FlowKey& k) const {
      return std::hash<std::uint64_t>()(std::uint64_t{k.remote_ip} << 32 ^
                                        std::uint64_t{k.remote_port} << 16 ^ k.local_port);
    }
  };
  struct Listener {
    AcceptHandler on_accept;
    std::size_t half_open = 0;
  };

  void input_arp(std::span<const std::uint8_t> frame, bool received_here = true);
  void input_ipv4(std::span<const std::uint8_t> frame, Micros now, bool verified);
  void input_icmp(std::span<const std::uint8_t> ip, const Mac& src_mac);
  void input_tcp(const Segment& s, Micros now);
  void tcp_listen_input(const Segment& s, Listener& l, Micros now);
  void tcp_syn_sent_input(TcpSocket& t, const Segment& s, Micros now);
  void tcp_established_input(TcpSocket& t, const Segment& s, Micros now);
  bool tcp_ack_input(TcpSocket& t, const Segment& s, Micros now);  // false: stop here
  void tcp_data_input(TcpSocket& t, const Segment& s, Micros now);
  // Sends what the windows allow (data, then FIN); a bare ACK too when `bare_ack` and one is due.
  void tcp_output(TcpSocket& t, Micros now, bool bare_ack = false);
  void tcp_retransmit_first(TcpSocket& t);
  void ack_later(TcpSocket& t);
  void tcp_send(TcpSocket& t, std::uint8_t flags, std::uint32_t seq, std::string_view payload,
                bool syn_options = false);
  void tcp_reset_reply(const Segment& s);
  void tcp_timeout(TcpSocket& t, Micros now);
  void tcp_rtt_sample(TcpSocket& t, Micros rtt);
  void tcp_fail(TcpSocket& t, std::string why);
  void tcp_enter_time_wait(TcpSocket& t, Micros now);
  void tcp_closed(TcpSocket& t);
  std::uint16_t advertised_window(const TcpSocket& t) const;
  std::uint32_t initial_sequence(const FlowKey& k, Micros now) const;
  void mark(TcpSocket& t);
  void send_ip(Ipv4 dst, Frame frame);
  void send_arp(std::uint16_t op, const Mac& target_mac, Ipv4 target_ip);
  void reap();

  StackConfig config_;
  std::uint64_t secret_;
  Counters counters_;
  std::vector<Frame> output_;
  std::unordered_map<FlowKey, std::unique_ptr<TcpSocket>, FlowHash> flows_;
  std::unordered_map<std::uint16_t, Listener> listeners_;
  std::vector<TcpSocket*> marked_, accepted_queue_, ack_list_;
  struct ArpEntry {
    Mac mac;
    Micros expires;
  };
  std::unordered_map<Ipv4, ArpEntry> arp_;
  struct Pending {
    Frame frame;
    Micros since;
  };
  std::unordered_map<Ipv4, std::deque<Pending>> arp_pending_;
  std::unordered_map<Ipv4, Micros> arp_asked_;
  std::uint16_t next_ephemeral_ = 0;
  std::uint16_t ip_id_ = 0;
  Micros now_ = 0;
  // Timers are looked at every kTimerTick, not on every poll: a poll loop turns millions of
  // times a second and the flow table holds every TIME-WAIT connection.
  static constexpr Micros kTimerTick = 5'000;
  Micros next_timer_scan_ = 0;
  bool reap_due_ = false;  // a connection closed: the table has something to drop
};

}  // namespace seegw::netstack
