#include "seegw/dpdk/poll_mode.hpp"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <sys/epoll.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <unordered_set>

#include "seegw/common/log.hpp"
#include "seegw/netstack/faults.hpp"

namespace seegw::dpdk {
namespace {

using netstack::Micros;

constexpr std::uint16_t kBurst = 32;
constexpr std::uint16_t kRxDescriptors = 1024, kTxDescriptors = 1024;
std::atomic<bool> g_eal_started{false};

Micros monotonic_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// A stack connection as a StreamConnection's transport.
class NetTransport : public io::Transport {
 public:
  NetTransport(PollModeBackend::Impl& backend, netstack::TcpSocket* socket, io::FdHandler* handler);
  ~NetTransport() override { close(); }
  ssize_t read(char* buf, std::size_t n) override;
  ssize_t write(const char* buf, std::size_t n) override;
  void want(bool readable, bool writable) override;
  std::string connect_error() override {
    return socket_ && socket_->failed() ? socket_->error() : "";
  }
  void close() override;
  void notify();  // the socket changed: tell the handler what it wants to hear

 private:
  std::uint32_t ready() const;
  PollModeBackend::Impl& backend_;
  netstack::TcpSocket* socket_;
  io::FdHandler* handler_;
  bool want_read_ = true, want_write_ = true;
};

struct PollModeBackend::Impl {
  config::PollModeSettings settings;
  std::uint16_t port = 0;
  rte_mempool* pool = nullptr;
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<netstack::FaultInjector> rx_faults, tx_faults;
  io::EventLoop* loop = nullptr;
  std::unordered_set<NetTransport*> live;  // for posted events: is it still there?
  std::uint64_t tx_dropped = 0, rx_bursts = 0, polls = 0, rx_bad_checksum = 0;
  bool rx_checksum = false, tx_checksum = false;  // offloaded to the port
  mutable std::mutex stats_mutex;
  std::string stats;  // refreshed by the poll thread about once a second
  Micros stats_at = 0;

  bool poll();
  void transmit(std::vector<netstack::Frame>& frames);
  void publish_stats(Micros now);
};

// ---- the transport --------------------------------------------------------------------------

NetTransport::NetTransport(PollModeBackend::Impl& backend, netstack::TcpSocket* socket,
                           io::FdHandler* handler)
    : backend_(backend), socket_(socket), handler_(handler) {
  backend_.live.insert(this);
  socket_->set_handler([this] { notify(); });
}

std::uint32_t NetTransport::ready() const {
  if (!socket_) return 0;
  std::uint32_t ev = 0;
  if (socket_->failed()) ev |= EPOLLERR | EPOLLHUP;
  if (socket_->readable()) ev |= EPOLLIN;
  if (socket_->eof()) ev |= EPOLLRDHUP;
  if (socket_->connected() && socket_->send_room() > 0) ev |= EPOLLOUT;
  if (socket_->state() == netstack::TcpState::closed && !socket_->failed())
    ev |= EPOLLHUP | EPOLLIN;
  return ev;
}

void NetTransport::notify() {
  const std::uint32_t mask = (want_read_ ? EPOLLIN | EPOLLRDHUP : 0u) |
                             (want_write_ ? EPOLLOUT : 0u) | EPOLLERR | EPOLLHUP;
  // Level-triggered, as epoll: while what it wants is there, it hears it (bounded, so one
  // connection cannot hold the loop; the rest comes with the next change or want()).
  auto& live = backend_.live;  // `this` may be gone after the handler: nothing of it is read then
  for (int round = 0; round < 4 && socket_; ++round) {
    const std::uint32_t ev = ready() & mask;
    if (!ev) return;
    handler_->on_events(ev);
    if (!live.contains(this)) return;  // the handler closed (and destroyed) us
    if (!(ev & EPOLLIN) || !socket_ || !socket_->readable() || (ev & (EPOLLHUP | EPOLLERR))) return;
  }
}

ssize_t NetTransport::read(char* buf, std::size_t n) {
  if (!socket_) {
    errno = EBADF;
    return -1;
  }
  if (std::size_t got = socket_->read(buf, n); got > 0) return static_cast<ssize_t>(got);
  if (socket_->eof() || (socket_->state() == netstack::TcpState::closed && !socket_->failed()))
    return 0;
  errno = socket_->failed() ? ECONNRESET : EAGAIN;
  return -1;
}

ssize_t NetTransport::write(const char* buf, std::size_t n) {
  if (!socket_ || socket_->failed() || socket_->state() == netstack::TcpState::closed) {
    errno = EPIPE;
    return -1;
  }
  const std::size_t taken = socket_->write(std::string_view(buf, n));
  if (taken == 0) {
    errno = EAGAIN;
    return -1;
  }
  return static_cast<ssize_t>(taken);
}

void NetTransport::want(bool readable, bool writable) {
  const bool newly = (readable && !want_read_) || (writable && !want_write_);
  want_read_ = readable;
  want_write_ = writable;
  // Level-triggered: what is already there is reported now, as epoll would.
  if (newly && socket_ && backend_.loop)
    backend_.loop->post([b = &backend_, self = this] {
      if (b->live.contains(self)) self->notify();
    });
}

void NetTransport::close() {
  if (!socket_) return;
  socket_->set_handler(nullptr);
  socket_->release();
  socket_ = nullptr;
  backend_.live.erase(this);
}

// ---- the port and the poll loop -------------------------------------------------------------

Result<std::unique_ptr<PollModeBackend>> PollModeBackend::start(
    const config::PollModeSettings& settings) {
  if (g_eal_started.exchange(true))
    return fail(Errc::config, "the DPDK EAL is already running in this process");
  std::vector<std::string> args{"seegw-dataplane"};
  args.insert(args.end(), settings.eal_args.begin(), settings.eal_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The EAL pins the calling thread to its main lcore. Every thread started after it would
  // inherit that one core — the TBB pool included, which then has no workers and never runs a
  // task — so the original affinity is restored; only the poll thread belongs to the EAL.
  cpu_set_t original;
  const bool had_affinity = sched_getaffinity(0, sizeof original, &original) == 0;
  const int eal = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (had_affinity) sched_setaffinity(0, sizeof original, &original);
  if (eal < 0)
    return fail(Errc::config, fmt::format("DPDK EAL: {} (eal_args: {})", rte_strerror(rte_errno),
                                          fmt::join(settings.eal_args, " ")));
  std::unique_ptr<PollModeBackend> b(new PollModeBackend());
  b->impl_ = std::make_unique<Impl>();
  auto& m = *b->impl_;
  m.settings = settings;
  m.port = settings.port;
  if (!rte_eth_dev_is_valid_port(m.port))
    return fail(Errc::config,
                fmt::format("DPDK port {} does not exist ({} ports: check the vdev or "
                            "the vfio-pci binding)",
                            m.port, rte_eth_dev_count_avail()));
  // One frame, one mbuf: the data room holds the largest frame the MTU allows.
  const std::uint16_t room = static_cast<std::uint16_t>(
      std::max<unsigned>(RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + settings.mtu + 18u));
  m.pool = rte_pktmbuf_pool_create("seegw_mbufs", settings.mbufs, 256, 0, room,
                                   static_cast<int>(rte_socket_id()));
  if (!m.pool)
    return fail(Errc::config, fmt::format("DPDK packet pool of {} mbufs: {} (give the EAL more "
                                          "memory with -m, or fewer mbufs)",
                                          settings.mbufs, rte_strerror(rte_errno)));
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(m.port, &info); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port {}: {}", m.port, rte_strerror(-rc)));
  rte_eth_conf conf{};
  conf.rxmode.mtu = settings.mtu;
  // Checksums where the port offers them both ways for IPv4 and TCP; software otherwise.
  constexpr std::uint64_t rx_sums = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  constexpr std::uint64_t tx_sums = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  m.rx_checksum = settings.checksum_offload && (info.rx_offload_capa & rx_sums) == rx_sums;
  m.tx_checksum = settings.checksum_offload && (info.tx_offload_capa & tx_sums) == tx_sums;
  if (m.rx_checksum) conf.rxmode.offloads |= rx_sums;
  if (m.tx_checksum) conf.txmode.offloads |= tx_sums;
  if (settings.mtu > info.max_mtu || settings.mtu + 18u > info.max_rx_pktlen)
    return fail(Errc::config,
                fmt::format("DPDK port {} ({}): MTU {} is more than it carries ({})", m.port,
                            info.driver_name, settings.mtu,
                            std::min<unsigned>(info.max_mtu, info.max_rx_pktlen - 18)));
  if (int rc = rte_eth_dev_configure(m.port, 1, 1, &conf); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port {} configure: {}", m.port, rte_strerror(-rc)));
  const int socket = rte_eth_dev_socket_id(m.port);
  std::uint16_t rxd = kRxDescriptors, txd = kTxDescriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(m.port, &rxd, &txd);
  if (int rc =
          rte_eth_rx_queue_setup(m.port, 0, rxd, static_cast<unsigned>(socket), nullptr, m.pool);
      rc != 0)
    return fail(Errc::config, fmt::format("DPDK rx queue: {}", rte_strerror(-rc)));
  if (int rc = rte_eth_tx_queue_setup(m.port, 0, txd, static_cast<unsigned>(socket), nullptr);
      rc != 0)
    return fail(Errc::config, fmt::format("DPDK tx queue: {}", rte_strerror(-rc)));
  if (int rc = rte_eth_dev_start(m.port); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port start: {}", rte_strerror(-rc)));
  rte_eth_promiscuous_enable(m.port);

  netstack::StackConfig sc;
  sc.mtu = settings.mtu;
  sc.tx_checksum_offload = m.tx_checksum;
  const auto slash = settings.address.find('/');
  auto ip = netstack::parse_ip(settings.address.substr(0, slash));
  const int prefix =
      slash == std::string::npos ? 32 : std::atoi(settings.address.c_str() + slash + 1);
  if (!ip || prefix < 1 || prefix > 32)
    return fail(Errc::config,
                "dpdk.address: not an IPv4 address with a prefix: " + settings.address);
  sc.ip = *ip;
  sc.netmask = prefix == 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
  if (!settings.gateway.empty()) {
    auto gw = netstack::parse_ip(settings.gateway);
    if (!gw) return fail(Errc::config, "dpdk.gateway: not an IPv4 address: " + settings.gateway);
    sc.gateway = *gw;
  }
  if (!settings.mac.empty()) {
    auto mac = netstack::parse_mac(settings.mac);
    if (!mac) return fail(Errc::config, "dpdk.mac: not a MAC address: " + settings.mac);
    sc.mac = *mac;
  } else {
    // On a NIC, the port's own address; on a TAP the kernel side has that one, so ours differs.
    rte_ether_addr a{};
    rte_eth_macaddr_get(m.port, &a);
    std::copy(std::begin(a.addr_bytes), std::end(a.addr_bytes), sc.mac.begin());
    if (std::string_view(info.driver_name).find("tap") != std::string_view::npos) {
      sc.mac[0] = 0x02;
      sc.mac[5] ^= 0x5a;
    }
  }
  m.stack = std::make_unique<netstack::Stack>(sc);
  if (settings.faults.any()) {
    netstack::FaultRates r{settings.faults.drop, settings.faults.duplicate, settings.faults.reorder,
                           settings.faults.delay.count(), settings.faults.seed};
    m.rx_faults = std::make_unique<netstack::FaultInjector>(r);
    r.seed += 1;
    m.tx_faults = std::make_unique<netstack::FaultInjector>(r);
    log::warning(
        "dpdk: FAULT INJECTION on: drop {} duplicate {} reorder {} delay {} us (tests only)",
        r.drop, r.duplicate, r.reorder, r.delay);
  }
  log::notice("dpdk: port {} ({}) up; stack {} mac {} mtu {}; {} mbufs; checksums: rx {}, tx {}",
              m.port, info.driver_name, settings.address, netstack::mac_text(sc.mac), settings.mtu,
              settings.mbufs, m.rx_checksum ? "port" : "software",
              m.tx_checksum ? "port" : "software");
  return b;
}

PollModeBackend::~PollModeBackend() {
  if (!impl_) return;
  for (auto* t : std::vector<NetTransport*>(impl_->live.begin(), impl_->live.end())) t->close();
  rte_eth_dev_stop(impl_->port);
  rte_eth_dev_close(impl_->port);
  impl_->stack.reset();
  if (impl_->pool) rte_mempool_free(impl_->pool);
  // The EAL stays: it cannot be started twice in one process anyway.
}

void PollModeBackend::attach(io::EventLoop& loop) {
  impl_->loop = &loop;
  loop.set_poller(
      [m = impl_.get(), registered = false]() mutable {
        if (!registered) {
          registered = true;
          if (rte_thread_register() != 0)
            log::warning("dpdk: the poll thread could not register with the EAL: {}",
                         rte_strerror(rte_errno));
        }
        return m->poll();
      },
      impl_->settings.idle_sleep);
}

bool PollModeBackend::Impl::poll() {
  const Micros now = monotonic_micros();
  ++polls;
  rte_mbuf* mbufs[kBurst];
  const std::uint16_t n = rte_eth_rx_burst(port, 0, mbufs, kBurst);
  if (n > 0) ++rx_bursts;
  if (rx_faults) {
    std::vector<netstack::Frame> frames;
    for (std::uint16_t i = 0; i < n; ++i) {
      auto* p = rte_pktmbuf_mtod(mbufs[i], const std::uint8_t*);
      frames.emplace_back(p, p + rte_pktmbuf_data_len(mbufs[i]));
      rte_pktmbuf_free(mbufs[i]);
    }
    rx_faults->apply(frames, now);
    for (auto& f : frames) stack->input(f, now);
  } else {
    for (std::uint16_t i = 0; i < n; ++i) {
      // Frames up to the MTU fit one mbuf; a chained one (jumbo) is not ours to take.
      if (mbufs[i]->nb_segs == 1)
        stack->input(
            {rte_pktmbuf_mtod(mbufs[i], const std::uint8_t*), rte_pktmbuf_data_len(mbufs[i])}, now);
      rte_pktmbuf_free(mbufs[i]);
    }
  }
  stack->poll(now);
  stack->dispatch(now);
  bool sent = false;
  if (stack->has_output() || tx_faults) {
    auto frames = stack->take_output();
    if (tx_faults) tx_faults->apply(frames, now);
    sent = !frames.empty();
    transmit(frames);
  }
  if (now - stats_at > 1'000'000) publish_stats(now);
  return n > 0 || sent;
}

void PollModeBackend::Impl::transmit(std::vector<netstack::Frame>& frames) {
  std::size_t at = 0;
  while (at < frames.size()) {
    rte_mbuf* mbufs[kBurst];
    std::uint16_t k = 0;
    for (; k < kBurst && at + k < frames.size(); ++k) {
      const auto& f = frames[at + k];
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      char* data = m ? rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())) : nullptr;
      if (!data) {
        if (m) rte_pktmbuf_free(m);
        break;  // the pool is empty: the rest is lost like a full NIC ring (TCP resends)
      }
      std::memcpy(data, f.data(), f.size());
      // The stack left IPv4/TCP checksums to the port (ARP and ICMP it sums itself).
      if (tx_checksum && f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6) {
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
        m->l2_len = 14;
        m->l3_len = 20;
      }
      mbufs[k] = m;
    }
    std::uint16_t sent = rte_eth_tx_burst(port, 0, mbufs, k);
    for (std::uint16_t i = sent; i < k; ++i) rte_pktmbuf_free(mbufs[i]);
    tx_dropped += (k - sent) + (k < kBurst && at + k < frames.size() ? frames.size() - at - k : 0);
    if (k == 0 || (k < kBurst && at + k < frames.size())) break;
    at += k;
  }
}

void PollModeBackend::Impl::publish_stats(Micros now) {
  stats_at = now;
  const auto& c = stack->counters();
  rte_eth_stats es{};
  rte_eth_stats_get(port, &es);
  std::string s = fmt::format(
      "dpdk port: {}\nrx frames: {}\ntx frames: {}\nrx bytes: {}\ntx bytes: {}\n"
      "tx dropped (ring or pool full): {}\nport rx missed: {}\nport rx no mbuf: {}\n"
      "port rx bad checksum: {}\nchecksums: rx {}, tx {}\n"
      "connections: {}\nbuffered bytes: {}\ndropped frames: {}\n"
      "  short {}, not for us {}, bad ip header {}, bad ip checksum {}, fragments {},\n"
      "  bad tcp header {}, bad tcp checksum {}, unknown protocol {}, no listener {},\n"
      "  syn backlog {}, connection limit {}, out of window {}, out of order full {}, arp {}\n"
      "tcp accepted: {}\ntcp connected: {}\ntcp retransmits: {}\ntcp fast retransmits: {}\n"
      "tcp timeouts: {}\ntcp resets sent: {}\ntcp resets received: {}\ntcp challenge acks: {}\n"
      "tcp out of order: {}\ntcp duplicates: {}\ntcp window probes: {}\n"
      "arp replies: {}\nicmp echo replies: {}\npolls: {}\nbusy polls: {}\n",
      port, c.rx_frames, c.tx_frames, c.rx_bytes, c.tx_bytes, tx_dropped, es.imissed, es.rx_nombuf,
      rx_bad_checksum, rx_checksum ? "port" : "software", tx_checksum ? "port" : "software",
      stack->connections(), stack->buffered_bytes(), c.dropped(), c.dropped_short,
      c.dropped_not_for_us, c.dropped_bad_ip_header, c.dropped_bad_ip_checksum, c.dropped_fragments,
      c.dropped_bad_tcp_header, c.dropped_bad_tcp_checksum, c.dropped_unknown_protocol,
      c.dropped_no_listener, c.dropped_syn_backlog, c.dropped_connection_limit,
      c.dropped_out_of_window, c.dropped_out_of_order_full, c.dropped_arp_unresolved,
      c.tcp_accepted, c.tcp_connected, c.tcp_retransmits, c.tcp_fast_retransmits, c.tcp_timeouts,
      c.tcp_resets_sent, c.tcp_resets_received, c.tcp_challenge_acks, c.tcp_out_of_order,
      c.tcp_duplicates, c.tcp_window_probes, c.arp_replies_sent, c.icmp_echo_replies, polls,
      rx_bursts);
  if (rx_faults)
    s += fmt::format(
        "faults injected: rx dropped {} duplicated {} reordered {}; tx dropped {} "
        "duplicated {} reordered {}\n",
        rx_faults->dropped(), rx_faults->duplicated(), rx_faults->reordered(), tx_faults->dropped(),
        tx_faults->duplicated(), tx_faults->reordered());
  std::lock_guard lock(stats_mutex);
  stats = std::move(s);
}

std::string PollModeBackend::statistics() const {
  // The counters belong to the poll thread: it refreshes them on request (or once a second).
  if (impl_->loop) {
    auto done = std::make_shared<std::promise<void>>();
    auto ready = done->get_future();
    impl_->loop->post([m = impl_.get(), done] {
      m->publish_stats(monotonic_micros());
      done->set_value();
    });
    ready.wait_for(std::chrono::seconds(2));
  }
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->stats;
}

Result<void> PollModeBackend::listen(std::uint16_t port, Accept on_accept) {
  auto* m = impl_.get();
  return m->stack->listen(port, [m, on_accept = std::move(on_accept)](netstack::TcpSocket& s) {
    on_accept(
        [m, socket = &s](io::FdHandler* h) -> std::unique_ptr<io::Transport> {
          return std::make_unique<NetTransport>(*m, socket, h);
        },
        netstack::ip_text(s.remote_ip()), s.remote_port());
  });
}

Result<std::unique_ptr<io::Transport>> PollModeBackend::connect(const std::string& host,
                                                                std::uint16_t port,
                                                                io::FdHandler* handler) {
  auto ip = netstack::parse_ip(host);
  if (!ip)
    return fail(Errc::config,
                "the poll-mode data plane connects to IPv4 addresses, not '" + host + "'");
  auto socket = impl_->stack->connect(*ip, port, monotonic_micros());
  if (!socket) return std::unexpected(socket.error());
  return std::unique_ptr<io::Transport>(std::make_unique<NetTransport>(*impl_, *socket, handler));
}

}  // namespace seegw::dpdk
