#include "seegw/dpdk/poll_mode.hpp"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/epoll.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <unordered_set>
#include <vector>

#include "seegw/common/log.hpp"
#include "seegw/netstack/faults.hpp"
#include "seegw/netstack/stack.hpp"
#include "seegw/netstack/steering.hpp"

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
  NetTransport(PollModeBackend::Lane& lane, netstack::TcpSocket* socket, io::FdHandler* handler);
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
  PollModeBackend::Lane& lane_;
  netstack::TcpSocket* socket_;
  io::FdHandler* handler_;
  bool want_read_ = true, want_write_ = true;
};

// What a lane counted, copied out by its own thread for statistics().
struct LaneCounters {
  netstack::Counters stack;
  std::uint64_t connections = 0, buffered = 0, tx_dropped = 0, rx_bursts = 0, polls = 0;
  std::uint64_t handed_over = 0, taken_over = 0, handoff_dropped = 0;
  std::uint64_t port_rx_missed = 0, port_rx_nombuf = 0;  // lane 0 reads the port's
  std::array<std::uint64_t, 6> faults{};                 // rx dropped/duplicated/reordered, then tx
  bool injecting = false;
};

struct PollModeBackend::Port {
  config::PollModeSettings settings;
  std::uint16_t id = 0;
  std::string driver;
  rte_mempool* pool = nullptr;
  bool rx_checksum = false, tx_checksum = false;  // offloaded to the port
  bool rss = false;                               // the port spreads frames by RSS
  netstack::FlowSteering steering{1, 0};
  std::vector<std::unique_ptr<Lane>> lanes;
};

struct PollModeBackend::Lane : io::NetworkBackend {
  Lane(Port& p, unsigned i) : port(p), index(i) {}
  ~Lane() override;

  Result<void> listen(std::uint16_t port, Accept on_accept) override;
  Result<std::unique_ptr<io::Transport>> connect(const std::string& host, std::uint16_t port,
                                                 io::FdHandler* handler) override;
  bool poll();
  std::uint16_t steer(rte_mbuf** mbufs, std::uint16_t n);
  void receive(rte_mbuf** mbufs, std::uint16_t n, Micros now);
  void transmit(std::vector<netstack::Frame>& frames);
  void publish(Micros now);

  Port& port;
  unsigned index;
  std::unique_ptr<netstack::Stack> stack;
  std::unique_ptr<netstack::FaultInjector> rx_faults, tx_faults;
  rte_ring* inbox = nullptr;      // frames of our connections that reached another lane
  rte_ring* arp_inbox = nullptr;  // copies of ARP frames another lane received
  io::EventLoop* loop = nullptr;
  std::unordered_set<NetTransport*> live;  // for posted events: is it still there?
  std::uint64_t tx_dropped = 0, rx_bursts = 0, polls = 0;
  std::uint64_t handed_over = 0, taken_over = 0, handoff_dropped = 0;
  mutable std::mutex published_mutex;
  LaneCounters published;  // refreshed by the lane's thread about once a second
  Micros published_at = 0;
};

// ---- the transport --------------------------------------------------------------------------

NetTransport::NetTransport(PollModeBackend::Lane& lane, netstack::TcpSocket* socket,
                           io::FdHandler* handler)
    : lane_(lane), socket_(socket), handler_(handler) {
  lane_.live.insert(this);
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
  auto& live = lane_.live;  // `this` may be gone after the handler: nothing of it is read then
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
  if (newly && socket_ && lane_.loop)
    lane_.loop->post([lane = &lane_, self = this] {
      if (lane->live.contains(self)) self->notify();
    });
}

void NetTransport::close() {
  if (!socket_) return;
  socket_->set_handler(nullptr);
  socket_->release();
  socket_ = nullptr;
  lane_.live.erase(this);
}

// ---- the port and its lanes -----------------------------------------------------------------

namespace {

Result<netstack::StackConfig> stack_config(const config::PollModeSettings& settings,
                                           const rte_eth_dev_info& info, std::uint16_t port,
                                           bool tx_checksum) {
  netstack::StackConfig sc;
  sc.mtu = settings.mtu;
  sc.tx_checksum_offload = tx_checksum;
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
    rte_eth_macaddr_get(port, &a);
    std::copy(std::begin(a.addr_bytes), std::end(a.addr_bytes), sc.mac.begin());
    if (std::string_view(info.driver_name).find("tap") != std::string_view::npos) {
      sc.mac[0] = 0x02;
      sc.mac[5] ^= 0x5a;
    }
  }
  return sc;
}

// Where the port tells its RSS key and redirection table, the lanes own connections as the
// port spreads them (netstack::FlowSteering's Toeplitz mode): frames then stay on the lane they
// land on. Where it does not, the lanes keep their own hash and hand frames over.
void follow_rss(PollModeBackend::Port& m, const rte_eth_dev_info& info, netstack::Ipv4 local_ip) {
  std::array<std::uint8_t, 64> key{};
  rte_eth_rss_conf rss{};
  rss.rss_key = key.data();
  rss.rss_key_len = static_cast<std::uint8_t>(key.size());
  if (info.reta_size == 0 || info.hash_key_size > key.size() ||
      rte_eth_dev_rss_hash_conf_get(m.id, &rss) != 0 || rss.rss_key_len < 16)
    return;
  std::vector<rte_eth_rss_reta_entry64> groups((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                               RTE_ETH_RETA_GROUP_SIZE);
  for (auto& g : groups) g.mask = ~std::uint64_t{0};
  if (rte_eth_dev_rss_reta_query(m.id, groups.data(), info.reta_size) != 0) return;
  std::vector<std::uint16_t> redirection(info.reta_size);
  for (std::size_t i = 0; i < redirection.size(); ++i) {
    redirection[i] = groups[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
    if (redirection[i] >= m.lanes.size()) return;  // a table we did not expect: keep our own
  }
  // The lanes' owns_flow point at m.steering: it changes here, before any of them polls.
  m.steering =
      netstack::FlowSteering(std::vector<std::uint8_t>(key.begin(), key.begin() + rss.rss_key_len),
                             std::move(redirection), local_ip);
}

}  // namespace

namespace {

// The EAL, with the calling thread's CPU affinity given back (see below).
Result<void> start_eal(const config::PollModeSettings& settings) {
  if (g_eal_started.exchange(true))
    return fail(Errc::config, "the DPDK EAL is already running in this process");
  std::vector<std::string> args{"seegw-dataplane"};
  args.insert(args.end(), settings.eal_args.begin(), settings.eal_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The EAL pins the calling thread to its main lcore. Every thread started after it would
  // inherit that one core — the TBB pool included, which then has no workers and never runs a
  // task — so the original affinity is restored; only the poll threads belong to the EAL.
  cpu_set_t original;
  const bool had_affinity = sched_getaffinity(0, sizeof original, &original) == 0;
  const int eal = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (had_affinity) sched_setaffinity(0, sizeof original, &original);
  if (eal < 0)
    return fail(Errc::config, fmt::format("DPDK EAL: {} (eal_args: {})", rte_strerror(rte_errno),
                                          fmt::join(settings.eal_args, " ")));
  return {};
}

// The port's offloads, RSS, MTU and one rx/tx queue pair per lane.
Result<void> configure_port(PollModeBackend::Port& m, const rte_eth_dev_info& info,
                            std::uint16_t queues) {
  rte_eth_conf conf{};
  conf.rxmode.mtu = m.settings.mtu;
  // Checksums where the port offers them both ways for IPv4 and TCP; software otherwise.
  constexpr std::uint64_t rx_sums = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  constexpr std::uint64_t tx_sums = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  m.rx_checksum = m.settings.checksum_offload && (info.rx_offload_capa & rx_sums) == rx_sums;
  m.tx_checksum = m.settings.checksum_offload && (info.tx_offload_capa & tx_sums) == tx_sums;
  if (m.rx_checksum) conf.rxmode.offloads |= rx_sums;
  if (m.tx_checksum) conf.txmode.offloads |= tx_sums;
  // Several queues: the port hashes IPv4/TCP flows over them where it can (a NIC's RSS); an
  // AF_PACKET vdev spreads by the kernel's flow hash on its own.
  const std::uint64_t rss_hf =
      (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP) & info.flow_type_rss_offloads;
  if (queues > 1 && (rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP)) {
    m.rss = true;
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
  }
  if (m.settings.mtu > info.max_mtu || m.settings.mtu + 18u > info.max_rx_pktlen)
    return fail(
        Errc::config,
        fmt::format("DPDK port {} ({}): MTU {} is more than it carries ({})", m.id, m.driver,
                    m.settings.mtu, std::min<unsigned>(info.max_mtu, info.max_rx_pktlen - 18)));
  if (int rc = rte_eth_dev_configure(m.id, queues, queues, &conf); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port {} configure: {}", m.id, rte_strerror(-rc)));
  const int socket = rte_eth_dev_socket_id(m.id);
  std::uint16_t rxd = kRxDescriptors, txd = kTxDescriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(m.id, &rxd, &txd);
  for (std::uint16_t q = 0; q < queues; ++q) {
    if (int rc =
            rte_eth_rx_queue_setup(m.id, q, rxd, static_cast<unsigned>(socket), nullptr, m.pool);
        rc != 0)
      return fail(Errc::config, fmt::format("DPDK rx queue {}: {}", q, rte_strerror(-rc)));
    if (int rc = rte_eth_tx_queue_setup(m.id, q, txd, static_cast<unsigned>(socket), nullptr);
        rc != 0)
      return fail(Errc::config, fmt::format("DPDK tx queue {}: {}", q, rte_strerror(-rc)));
  }
  return {};
}

// One lane per queue pair: its own stack, and (with several) the rings other lanes hand it
// frames through, and its fault injectors when faults are configured (tests only).
Result<void> make_lanes(PollModeBackend::Port& m, const netstack::StackConfig& sc,
                        std::uint16_t queues) {
  const int socket = rte_eth_dev_socket_id(m.id);
  m.steering = netstack::FlowSteering(
      queues, std::random_device{}() * 0x9e3779b97f4a7c15ull ^ std::random_device{}());
  for (unsigned i = 0; i < queues; ++i) {
    auto lane = std::make_unique<PollModeBackend::Lane>(m, i);
    netstack::StackConfig lane_config = sc;
    if (queues > 1) {
      lane_config.owns_flow = [steering = &m.steering, i](netstack::Ipv4 ip, std::uint16_t port,
                                                          std::uint16_t local) {
        return steering->lane_of(ip, port, local) == i;
      };
      // Rings of mbuf pointers: any lane puts, only the owner takes.
      lane->inbox =
          rte_ring_create(fmt::format("seegw_in{}", i).c_str(), 1024, socket, RING_F_SC_DEQ);
      lane->arp_inbox =
          rte_ring_create(fmt::format("seegw_arp{}", i).c_str(), 64, socket, RING_F_SC_DEQ);
      if (!lane->inbox || !lane->arp_inbox)
        return fail(Errc::config,
                    fmt::format("DPDK ring for lane {}: {}", i, rte_strerror(rte_errno)));
    }
    lane->stack = std::make_unique<netstack::Stack>(lane_config);
    if (m.settings.faults.any()) {
      netstack::FaultRates r{m.settings.faults.drop, m.settings.faults.duplicate,
                             m.settings.faults.reorder, m.settings.faults.delay.count(),
                             m.settings.faults.seed + 2 * i};
      lane->rx_faults = std::make_unique<netstack::FaultInjector>(r);
      r.seed += 1;
      lane->tx_faults = std::make_unique<netstack::FaultInjector>(r);
    }
    m.lanes.push_back(std::move(lane));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<PollModeBackend>> PollModeBackend::start(
    const config::PollModeSettings& settings) {
  if (auto eal = start_eal(settings); !eal) return std::unexpected(eal.error());
  std::unique_ptr<PollModeBackend> b(new PollModeBackend());
  b->port_ = std::make_unique<Port>();
  auto& m = *b->port_;
  m.settings = settings;
  m.id = settings.port;
  const std::uint16_t queues = std::max<std::uint16_t>(1, settings.queues);
  if (!rte_eth_dev_is_valid_port(m.id))
    return fail(Errc::config,
                fmt::format("DPDK port {} does not exist ({} ports: check the vdev or "
                            "the vfio-pci binding)",
                            m.id, rte_eth_dev_count_avail()));
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
  if (int rc = rte_eth_dev_info_get(m.id, &info); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port {}: {}", m.id, rte_strerror(-rc)));
  m.driver = info.driver_name;
  if (info.max_rx_queues < queues || info.max_tx_queues < queues)
    return fail(Errc::config,
                fmt::format("DPDK port {} ({}) has {} queue pairs, dpdk.queues asks for {} "
                            "(an AF_PACKET vdev takes qpairs={}, a TAP queues={})",
                            m.id, m.driver, std::min(info.max_rx_queues, info.max_tx_queues),
                            queues, queues, queues));
  if (auto configured = configure_port(m, info, queues); !configured)
    return std::unexpected(configured.error());
  auto sc = stack_config(settings, info, m.id, m.tx_checksum);
  if (!sc) return std::unexpected(sc.error());
  if (auto lanes = make_lanes(m, *sc, queues); !lanes) return std::unexpected(lanes.error());
  if (int rc = rte_eth_dev_start(m.id); rc != 0)
    return fail(Errc::config, fmt::format("DPDK port start: {}", rte_strerror(-rc)));
  rte_eth_promiscuous_enable(m.id);
  if (m.rss) follow_rss(m, info, sc->ip);
  if (settings.faults.any())
    log::warning(
        "dpdk: FAULT INJECTION on: drop {} duplicate {} reorder {} delay {} us (tests only)",
        settings.faults.drop, settings.faults.duplicate, settings.faults.reorder,
        settings.faults.delay.count());
  log::notice(
      "dpdk: port {} ({}) up; stack {} mac {} mtu {}; {} lane{}{}; {} mbufs; checksums: rx {}, "
      "tx {}",
      m.id, m.driver, settings.address, netstack::mac_text(sc->mac), settings.mtu, queues,
      queues == 1 ? "" : "s",
      queues == 1                ? ""
      : m.steering.follows_rss() ? " (connections owned as the port's RSS spreads them)"
      : m.rss                    ? " (RSS by the port; frames handed to the owning lane)"
                                 : " (spread by the driver; frames handed to the owning lane)",
      settings.mbufs, m.rx_checksum ? "port" : "software", m.tx_checksum ? "port" : "software");
  return b;
}

PollModeBackend::Lane::~Lane() {
  for (auto* t : std::vector<NetTransport*>(live.begin(), live.end())) t->close();
  stack.reset();
  for (rte_ring* ring : {inbox, arp_inbox}) {
    if (!ring) continue;
    void* left = nullptr;
    while (rte_ring_sc_dequeue(ring, &left) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(left));
    rte_ring_free(ring);
  }
}

PollModeBackend::~PollModeBackend() {
  if (!port_) return;
  rte_eth_dev_stop(port_->id);
  rte_eth_dev_close(port_->id);
  port_->lanes.clear();
  if (port_->pool) rte_mempool_free(port_->pool);
  // The EAL stays: it cannot be started twice in one process anyway.
}

std::size_t PollModeBackend::lanes() const { return port_->lanes.size(); }

io::NetworkBackend& PollModeBackend::lane(std::size_t i) { return *port_->lanes.at(i); }

namespace {

// First thing on a lane's thread: a name `top -H` and /proc show, the CPU it was given, and an
// lcore id from the EAL (the packet pool's per-lcore cache).
void on_lane_thread(const PollModeBackend::Lane& lane) {
  ::pthread_setname_np(::pthread_self(), fmt::format("seegw-lane{}", lane.index).c_str());
  const auto& cpus = lane.port.settings.lane_cpus;
  if (lane.index < cpus.size()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[lane.index], &set);
    if (int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); rc != 0)
      log::warning("dpdk: lane {} not pinned to CPU {}: {}", lane.index, cpus[lane.index],
                   std::strerror(rc));
  }
  if (rte_thread_register() != 0)
    log::warning("dpdk: lane {} could not register with the EAL: {}", lane.index,
                 rte_strerror(rte_errno));
}

}  // namespace

void PollModeBackend::attach(std::size_t i, io::EventLoop& loop) {
  Lane& lane = *port_->lanes.at(i);
  lane.loop = &loop;
  loop.set_poller(
      [l = &lane, registered = false]() mutable {
        if (!registered) {
          registered = true;
          on_lane_thread(*l);
        }
        return l->poll();
      },
      port_->settings.idle_sleep);
}

bool PollModeBackend::Lane::poll() {
  const Micros now = monotonic_micros();
  ++polls;
  rte_mbuf* mbufs[kBurst];
  const std::uint16_t n =
      rte_eth_rx_burst(port.id, static_cast<std::uint16_t>(index), mbufs, kBurst);
  if (n > 0) ++rx_bursts;
  receive(mbufs, port.lanes.size() > 1 ? steer(mbufs, n) : n, now);
  bool from_lanes = false;
  if (inbox) {
    const auto k = static_cast<std::uint16_t>(
        rte_ring_sc_dequeue_burst(inbox, reinterpret_cast<void**>(mbufs), kBurst, nullptr));
    taken_over += k;
    receive(mbufs, k, now);
    const unsigned a =
        rte_ring_sc_dequeue_burst(arp_inbox, reinterpret_cast<void**>(mbufs), kBurst, nullptr);
    for (unsigned i = 0; i < a; ++i) {
      stack->learn_arp(
          {rte_pktmbuf_mtod(mbufs[i], const std::uint8_t*), rte_pktmbuf_data_len(mbufs[i])}, now);
      rte_pktmbuf_free(mbufs[i]);
    }
    from_lanes = k > 0 || a > 0;
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
  if (now - published_at > 1'000'000) publish(now);
  return n > 0 || from_lanes || sent;
}

// Keeps the frames this lane owns at the front of `mbufs` and returns how many; TCP frames of
// another lane's connections go to its inbox, and every lane gets a copy of an ARP frame (each
// resolves next hops for its own active opens).
std::uint16_t PollModeBackend::Lane::steer(rte_mbuf** mbufs, std::uint16_t n) {
  std::uint16_t kept = 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = mbufs[i];
    const auto d = port.steering.classify(
        {rte_pktmbuf_mtod(m, const std::uint8_t*), rte_pktmbuf_data_len(m)}, index);
    if (d.kind == netstack::FlowSteering::Kind::tcp && d.lane != index) {
      if (rte_ring_mp_enqueue(port.lanes[d.lane]->inbox, m) == 0) {
        ++handed_over;
      } else {
        rte_pktmbuf_free(m);  // the owner is that far behind: dropped as a full rx ring would
        ++handoff_dropped;
      }
      continue;
    }
    if (d.kind == netstack::FlowSteering::Kind::arp) {
      for (auto& other : port.lanes) {
        if (other.get() == this) continue;
        rte_mbuf* copy = rte_pktmbuf_copy(m, port.pool, 0, UINT32_MAX);
        if (copy && rte_ring_mp_enqueue(other->arp_inbox, copy) != 0) rte_pktmbuf_free(copy);
      }
    }
    mbufs[kept++] = m;
  }
  return kept;
}

void PollModeBackend::Lane::receive(rte_mbuf** mbufs, std::uint16_t n, Micros now) {
  if (n == 0) return;
  if (rx_faults) {
    std::vector<netstack::Frame> frames;
    for (std::uint16_t i = 0; i < n; ++i) {
      auto* p = rte_pktmbuf_mtod(mbufs[i], const std::uint8_t*);
      frames.emplace_back(p, p + rte_pktmbuf_data_len(mbufs[i]));
      rte_pktmbuf_free(mbufs[i]);
    }
    rx_faults->apply(frames, now);
    for (auto& f : frames) stack->input(f, now);
    return;
  }
  for (std::uint16_t i = 0; i < n; ++i) {
    // Frames up to the MTU fit one mbuf; a chained one (jumbo) is not ours to take.
    if (mbufs[i]->nb_segs == 1) {
      // Checksums the port found good are not summed again; one it found bad, or did not
      // check, the stack checks itself (and drops and counts it as a bad checksum).
      const std::uint64_t ol = mbufs[i]->ol_flags;
      const bool verified = port.rx_checksum &&
                            (ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
                            (ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      stack->input(
          {rte_pktmbuf_mtod(mbufs[i], const std::uint8_t*), rte_pktmbuf_data_len(mbufs[i])}, now,
          verified);
    }
    rte_pktmbuf_free(mbufs[i]);
  }
}

void PollModeBackend::Lane::transmit(std::vector<netstack::Frame>& frames) {
  const auto queue = static_cast<std::uint16_t>(index);
  std::size_t at = 0;
  while (at < frames.size()) {
    rte_mbuf* mbufs[kBurst];
    std::uint16_t k = 0;
    for (; k < kBurst && at + k < frames.size(); ++k) {
      const auto& f = frames[at + k];
      rte_mbuf* m = rte_pktmbuf_alloc(port.pool);
      char* data = m ? rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())) : nullptr;
      if (!data) {
        if (m) rte_pktmbuf_free(m);
        break;  // the pool is empty: the rest is lost like a full NIC ring (TCP resends)
      }
      std::memcpy(data, f.data(), f.size());
      // The stack left IPv4/TCP checksums to the port (ARP and ICMP it sums itself).
      if (port.tx_checksum && f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6) {
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
        m->l2_len = 14;
        m->l3_len = 20;
      }
      mbufs[k] = m;
    }
    std::uint16_t sent = rte_eth_tx_burst(port.id, queue, mbufs, k);
    for (std::uint16_t i = sent; i < k; ++i) rte_pktmbuf_free(mbufs[i]);
    tx_dropped += (k - sent) + (k < kBurst && at + k < frames.size() ? frames.size() - at - k : 0);
    if (k == 0 || (k < kBurst && at + k < frames.size())) break;
    at += k;
  }
}

void PollModeBackend::Lane::publish(Micros now) {
  published_at = now;
  LaneCounters c;
  c.stack = stack->counters();
  c.connections = stack->connections();
  c.buffered = stack->buffered_bytes();
  c.tx_dropped = tx_dropped;
  c.rx_bursts = rx_bursts;
  c.polls = polls;
  c.handed_over = handed_over;
  c.taken_over = taken_over;
  c.handoff_dropped = handoff_dropped;
  if (index == 0) {
    rte_eth_stats es{};
    rte_eth_stats_get(port.id, &es);
    c.port_rx_missed = es.imissed;
    c.port_rx_nombuf = es.rx_nombuf;
  }
  if (rx_faults) {
    c.injecting = true;
    c.faults = {rx_faults->dropped(), rx_faults->duplicated(), rx_faults->reordered(),
                tx_faults->dropped(), tx_faults->duplicated(), tx_faults->reordered()};
  }
  std::lock_guard lock(published_mutex);
  published = c;
}

std::string PollModeBackend::statistics() const {
  // The counters belong to the lanes' threads: each refreshes its copy on request (or once a
  // second when nobody asks).
  std::vector<std::future<void>> refreshed;
  for (auto& lane : port_->lanes) {
    if (!lane->loop) continue;
    auto done = std::make_shared<std::promise<void>>();
    refreshed.push_back(done->get_future());
    lane->loop->post([l = lane.get(), done] {
      l->publish(monotonic_micros());
      done->set_value();
    });
  }
  for (auto& r : refreshed) r.wait_for(std::chrono::seconds(2));
  std::vector<LaneCounters> lanes;
  for (auto& lane : port_->lanes) {
    std::lock_guard lock(lane->published_mutex);
    lanes.push_back(lane->published);
  }
  LaneCounters t;
  for (const auto& l : lanes) {
    t.stack += l.stack;
    t.connections += l.connections;
    t.buffered += l.buffered;
    t.tx_dropped += l.tx_dropped;
    t.rx_bursts += l.rx_bursts;
    t.polls += l.polls;
    t.port_rx_missed += l.port_rx_missed;
    t.port_rx_nombuf += l.port_rx_nombuf;
    t.injecting = t.injecting || l.injecting;
    for (std::size_t i = 0; i < t.faults.size(); ++i) t.faults[i] += l.faults[i];
  }
  const auto& c = t.stack;
  const auto& m = *port_;
  std::string s = fmt::format(
      "dpdk port: {}\nlanes: {}\nrx frames: {}\ntx frames: {}\nrx bytes: {}\ntx bytes: {}\n"
      "tx dropped (ring or pool full): {}\nport rx missed: {}\nport rx no mbuf: {}\n"
      "checksums: rx {}, tx {}\n"
      "connections: {}\nbuffered bytes: {}\ndropped frames: {}\n"
      "  short {}, not for us {}, bad ip header {}, bad ip checksum {}, fragments {},\n"
      "  bad tcp header {}, bad tcp checksum {}, unknown protocol {}, no listener {},\n"
      "  syn backlog {}, connection limit {}, out of window {}, out of order full {}, arp {}\n"
      "tcp accepted: {}\ntcp connected: {}\ntcp retransmits: {}\ntcp fast retransmits: {}\n"
      "tcp timeouts: {}\ntcp resets sent: {}\ntcp resets received: {}\ntcp challenge acks: {}\n"
      "tcp out of order: {}\ntcp duplicates: {}\ntcp window probes: {}\n"
      "arp replies: {}\nicmp echo replies: {}\npolls: {}\nbusy polls: {}\n",
      m.id, lanes.size(), c.rx_frames, c.tx_frames, c.rx_bytes, c.tx_bytes, t.tx_dropped,
      t.port_rx_missed, t.port_rx_nombuf, m.rx_checksum ? "port" : "software",
      m.tx_checksum ? "port" : "software", t.connections, t.buffered, c.dropped(), c.dropped_short,
      c.dropped_not_for_us, c.dropped_bad_ip_header, c.dropped_bad_ip_checksum, c.dropped_fragments,
      c.dropped_bad_tcp_header, c.dropped_bad_tcp_checksum, c.dropped_unknown_protocol,
      c.dropped_no_listener, c.dropped_syn_backlog, c.dropped_connection_limit,
      c.dropped_out_of_window, c.dropped_out_of_order_full, c.dropped_arp_unresolved,
      c.tcp_accepted, c.tcp_connected, c.tcp_retransmits, c.tcp_fast_retransmits, c.tcp_timeouts,
      c.tcp_resets_sent, c.tcp_resets_received, c.tcp_challenge_acks, c.tcp_out_of_order,
      c.tcp_duplicates, c.tcp_window_probes, c.arp_replies_sent, c.icmp_echo_replies, t.polls,
      t.rx_bursts);
  if (t.injecting)
    s += fmt::format(
        "faults injected: rx dropped {} duplicated {} reordered {}; tx dropped {} "
        "duplicated {} reordered {}\n",
        t.faults[0], t.faults[1], t.faults[2], t.faults[3], t.faults[4], t.faults[5]);
  if (lanes.size() > 1)
    for (std::size_t i = 0; i < lanes.size(); ++i)
      s += fmt::format(
          "lane {}: rx frames {}, tx frames {}, accepted {}, connected {}, connections {}, "
          "handed to other lanes {}, taken from other lanes {}, hand-offs dropped {}\n",
          i, lanes[i].stack.rx_frames, lanes[i].stack.tx_frames, lanes[i].stack.tcp_accepted,
          lanes[i].stack.tcp_connected, lanes[i].connections, lanes[i].handed_over,
          lanes[i].taken_over, lanes[i].handoff_dropped);
  return s;
}

Result<void> PollModeBackend::Lane::listen(std::uint16_t port_number, Accept on_accept) {
  return stack->listen(
      port_number, [this, on_accept = std::move(on_accept)](netstack::TcpSocket& s) {
        on_accept(
            [this, socket = &s](io::FdHandler* h) -> std::unique_ptr<io::Transport> {
              return std::make_unique<NetTransport>(*this, socket, h);
            },
            netstack::ip_text(s.remote_ip()), s.remote_port());
      });
}

Result<std::unique_ptr<io::Transport>> PollModeBackend::Lane::connect(const std::string& host,
                                                                      std::uint16_t port_number,
                                                                      io::FdHandler* handler) {
  auto ip = netstack::parse_ip(host);
  if (!ip)
    return fail(Errc::config,
                "the poll-mode data plane connects to IPv4 addresses, not '" + host + "'");
  auto socket = stack->connect(*ip, port_number, monotonic_micros());
  if (!socket) return std::unexpected(socket.error());
  return std::unique_ptr<io::Transport>(std::make_unique<NetTransport>(*this, *socket, handler));
}

}  // namespace seegw::dpdk
