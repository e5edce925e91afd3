// One I/O loop's share of the gateway: its listeners, inbound SMTP sessions and outbound
// connections. Everything here runs on the loop's thread; other threads use post().
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "seegw/config/config.hpp"
#include "seegw/io/event_loop.hpp"
#include "seegw/io/stream_connection.hpp"
#include "seegw/relay/attempt.hpp"
#include "seegw/relay/queue_manager.hpp"
#include "seegw/relay/tls_reports.hpp"
#include "seegw/sender_auth/verdict.hpp"
#include "seegw/smtp/client_session.hpp"
#include "seegw/smtp/server_session.hpp"
#include "seegw/spool/spool.hpp"

namespace seegw::relay {

// Connection counts across all loops, by client address (limits from config).
// Connection slots. The agency's own clients (internal networks, submission) have `reserved`
// slots no client from outside can take: dribblers from the Internet filling the server never
// lock out the agency's mail.
class ConnectionLimiter {
 public:
  ConnectionLimiter(std::size_t total, std::size_t per_client, std::size_t reserved)
      : max_total_(total), max_per_client_(per_client), reserved_(std::min(reserved, total)) {}
  // Empty when admitted, else the reason for the 421.
  std::string admit(const std::string& address, bool internal);
  void release(const std::string& address);
  std::size_t open();  // SMTP connections holding a slot now

 private:
  std::mutex mutex_;
  std::size_t max_total_, max_per_client_, reserved_, total_ = 0;
  std::unordered_map<std::string, std::size_t> per_client_;
};

class InboundChecks;

struct Shared {
  const config::Config& config;
  spool::Spool& spool;
  QueueManager& queue;
  ConnectionLimiter& limiter;
  std::shared_ptr<tls::TlsContext> server_tls;  // null when STARTTLS is not configured
  std::shared_ptr<tls::TlsContext> client_tls;
  const std::atomic<bool>* operational = nullptr;  // OPS-1
  io::NetworkBackend* backend = nullptr;           // the poll-mode stack; null: kernel sockets
  TlsReports* tls_reports = nullptr;               // TLS-RPT counts (direct delivery)
  InboundChecks* inbound_checks = nullptr;         // SPF, DKIM, DMARC; null: not enabled
  bool is_operational() const { return !operational || operational->load(); }
};

class Worker;

class InboundSession : public io::StreamConnection,
                       public std::enable_shared_from_this<InboundSession> {
 public:
  using Open = std::function<std::unique_ptr<io::Transport>(io::FdHandler*)>;
  InboundSession(Worker& worker, Open open, std::string address, std::uint16_t port,
                 bool submission);
  void begin(const std::string& refusal);
  void check_timeout(io::EventLoop::Clock::time_point now);

 private:
  void on_data(std::string_view bytes) override;
  void on_tls_established() override;
  void on_closed(std::string_view reason) override;
  void drive();
  void stored(const spool::QueueId& id, Result<void> result);
  // The message goes to the spool: our Received field, then `fields` (ours, e.g.
  // Authentication-Results), then `content`.
  void store(smtp::Envelope envelope, std::string_view content, std::string_view fields = {},
             bool quarantined = false, std::string reason = {});
  void check_sender(smtp::MessageReady message);
  void checked(smtp::MessageReady message, sender_auth::Verdict verdict);

  Worker& worker_;
  std::string address_;
  bool admitted_ = false;
  bool storing_ = false;
  // When the session's current phase (a command line, a message body) began: its deadline runs
  // from here, however many bytes trickle in meanwhile.
  std::uint64_t phase_ = 0;
  io::EventLoop::Clock::time_point phase_started_;
  bool tls_starting_ = false;
  smtp::ServerSession session_;
};

class Destination;

class OutboundConnection : public io::StreamConnection {
 public:
  OutboundConnection(Worker& worker, Destination& destination, InboundSession::Open open);
  void give(DeliveryJob job);
  // Takes a job now: none in hand and the session ready for a message — not saying QUIT, not
  // failed (a job given to a closing connection would only come back failed when it closed).
  bool idle() const { return ready_ && !job_ && session_.accepts_message(); }
  bool ready() const { return ready_; }
  void quit();
  void check_timeout(io::EventLoop::Clock::time_point now);

 private:
  void on_data(std::string_view bytes) override;
  void on_tls_established() override;
  void on_closed(std::string_view reason) override;
  void drive();
  static smtp::TlsPolicy tls_policy(const Destination& destination);
  std::string tls_name() const;  // the reference identifier: the MX host name, or the hop's host
  std::vector<tls::DaneRecord> dane_records() const;
  tls::PeerCheck peer_check() const;
  // TLS-RPT: this session's outcome against the exchanger's policy (once).
  void report_tls(bool succeeded, const std::string& result_type);
  bool tls_started_ = false;
  bool tls_reported_ = false;

  Worker& worker_;
  Destination& destination_;
  smtp::ClientSession session_;
  std::optional<DeliveryJob> job_;
  std::size_t messages_ = 0;
  bool ready_ = false;
  bool closed_ = false;
  io::EventLoop::Clock::time_point idle_since_;
};

// One next hop as seen from one loop: its waiting jobs and its connections.
class Destination {
 public:
  Destination(Worker& worker, config::Route route) : worker_(worker), route_(std::move(route)) {}
  void submit(DeliveryJob job);
  void connection_ready(OutboundConnection& conn);
  void connection_closed(OutboundConnection& conn, std::string_view reason, bool was_ready);
  const config::Route& route() const { return route_; }
  // The next hop connections go to now: route().next_hop, or after it failed to answer, the
  // mail exchanger after it (RFC 5321 §5.1).
  const config::HostPort& hop() const {
    return route_.exchangers.empty() ? route_.next_hop : route_.exchangers[exchanger_].hop;
  }
  const std::string& domain() const { return route_.mx_domain; }
  // hop() for the log: "mx.example.org[192.0.2.1:25]" for an exchanger.
  std::string where() const {
    const auto* e = exchanger();
    return e ? e->name + "[" + hop().text() + "]" : hop().text();
  }
  // The exchanger hop() is (direct delivery), or null for a static next hop.
  const config::Exchanger* exchanger() const {
    return route_.exchangers.empty() ? nullptr : &route_.exchangers[exchanger_];
  }
  void tick(io::EventLoop::Clock::time_point now);
  bool give_next(OutboundConnection& conn);

 private:
  void open_connection();
  // The hop did not answer: true when there is another exchanger to try (and it is now hop()).
  bool next_exchanger(std::string_view reason);
  void fail_waiting(std::string_view reason);

  Worker& worker_;
  config::Route route_;
  std::size_t exchanger_ = 0;  // into route_.exchangers
  std::deque<DeliveryJob> waiting_;
  std::unordered_map<OutboundConnection*, std::unique_ptr<OutboundConnection>> connections_;
  std::vector<std::unique_ptr<OutboundConnection>> graveyard_;
};

// A next hop as the loops key their connection pools: address and TLS policy.
std::string destination_key(const config::Route& route);

class Worker {
 public:
  explicit Worker(Shared shared);
  // Each socket with whether it is a submission listener (clients count as internal).
  Result<void> listen(const std::vector<std::pair<int, bool>>& listening_fds);
  // The same on the poll-mode stack: ports, each with whether it is a submission listener.
  Result<void> listen_on_backend(const std::vector<std::pair<std::uint16_t, bool>>& ports);
  void run() { loop_.run(); }
  void stop() { loop_.stop(); }
  void deliver(DeliveryJob job);  // thread-safe

  io::EventLoop& loop() { return loop_; }
  Shared& shared() { return shared_; }
  void forget(InboundSession* session);

 private:
  class Listener : public io::FdHandler {
   public:
    Listener(Worker& worker, int fd, bool submission)
        : worker_(worker), fd_(fd), submission_(submission) {}
    ~Listener() override;
    void on_events(std::uint32_t events) override;
    // Out of file descriptors (or kernel memory) for new connections: the socket is left
    // unwatched until the next tick, so the loop does not spin on a connection it cannot take.
    void pause(int error);
    void resume_if_paused();

   private:
    Worker& worker_;
    int fd_;
    bool submission_;  // every client here is internal (outbound mail)
    bool paused_ = false;
    bool told_ = false;  // the pause is logged once until a connection is taken again
  };

  void tick();
  void accept(InboundSession::Open open, std::string address, std::uint16_t port, bool submission);

  Shared shared_;
  io::EventLoop loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<InboundSession*, std::shared_ptr<InboundSession>> sessions_;
  std::map<std::string, std::unique_ptr<Destination>> destinations_;
};

}  // namespace seegw::relay
