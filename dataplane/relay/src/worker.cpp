#include "worker.hpp"

#include "inbound_checks.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "seegw/common/log.hpp"
#include "seegw/smtp/received_header.hpp"

namespace seegw::relay {
namespace {

constexpr auto kIdleConnectionLife = std::chrono::seconds(5);

smtp::ServerOptions server_options(const Shared& shared) {
  smtp::ServerOptions o;
  o.hostname = shared.config.hostname;
  o.limits = shared.config.limits;
  o.starttls_available = shared.server_tls != nullptr;
  const config::Config* config = &shared.config;
  o.is_local_domain = [config](std::string_view d) { return config->is_local_domain(d); };
  o.postmaster_domain = shared.config.domain;
  spool::Spool* spool = &shared.spool;
  o.storage_available = [spool](std::uint64_t bytes) { return spool->room_for(bytes); };
  return o;
}

}  // namespace

// ---- connection limits -------------------------------------------------------------------

std::string ConnectionLimiter::admit(const std::string& address, bool internal) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total_ || (!internal && total_ + reserved_ >= max_total_))
    return "Error: too many connections, try again later";
  auto& mine = per_client_[address];
  if (mine >= max_per_client_) {
    if (mine == 0) per_client_.erase(address);
    return "Error: too many connections from your address, try again later";
  }
  ++mine;
  ++total_;
  return {};
}

void ConnectionLimiter::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_client_.find(address);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

std::size_t ConnectionLimiter::open() {
  std::lock_guard lock(mutex_);
  return total_;
}

// ---- inbound SMTP --------------------------------------------------------------------------

InboundSession::InboundSession(Worker& worker, Open open, std::string address, std::uint16_t port,
                               bool submission)
    : io::StreamConnection(worker.loop(), std::move(open)),
      worker_(worker),
      address_(address),
      phase_started_(worker.loop().now()),
      session_(server_options(worker.shared()), address, port,
               submission || worker.shared().config.is_internal(address)) {}

void InboundSession::begin(const std::string& refusal) {
  admitted_ = refusal.empty();
  if (admitted_ && !worker_.shared().is_operational()) {
    // OPS-1: mail is suspended, never accepted to be sent insecurely.
    session_.refuse("Service not available: the gateway is not operational, try again later",
                    "4.3.2");
  } else if (admitted_) {
    session_.greet();
  } else {
    log::warning("smtp: refused connection from {}: {}", address_, refusal);
    session_.refuse(refusal);
  }
  drive();
}

void InboundSession::on_data(std::string_view bytes) {
  session_.feed(bytes);
  drive();
}

void InboundSession::drive() {
  if (closed()) return;
  if (session_.phase() != phase_) {
    phase_ = session_.phase();
    phase_started_ = loop().now();
  }
  if (session_.has_output()) send(session_.take_output());
  if (closed()) return;
  switch (session_.event()) {
    case smtp::Event::none:
      pause_reading(false);
      return;
    case smtp::Event::message_ready: {
      if (storing_) return;
      if (!worker_.shared().is_operational()) {
        session_.take_message();
        session_.message_stored(std::nullopt, "the gateway is not operational");
        return drive();
      }
      storing_ = true;
      pause_reading(true);  // back-pressure: nothing more is read until the spool answers
      auto message = session_.take_message();
      if (worker_.shared().inbound_checks && !message.envelope.client_internal)
        check_sender(std::move(message));
      else
        store(std::move(message.envelope), message.content);
      return;
    }
    case smtp::Event::start_tls:
      if (!tls_starting_ && worker_.shared().server_tls) {
        tls_starting_ = true;
        start_tls(worker_.shared().server_tls);
      }
      return;
    case smtp::Event::close:
      close_after_flush();
      return;
  }
}

void InboundSession::store(smtp::Envelope envelope, std::string_view content,
                           std::string_view fields, bool quarantined, std::string reason) {
  auto& shared = worker_.shared();
  spool::SpoolRecord record;
  record.id = shared.spool.ids().next();
  record.arrival = spool::unix_now();
  record.quarantined = quarantined;
  record.reason = std::move(reason);
  std::string received = smtp::received_header(envelope, shared.config.hostname, record.id,
                                               std::chrono::system_clock::now());
  auto stored_content = std::make_shared<std::string>();
  stored_content->reserve(received.size() + fields.size() + content.size());
  stored_content->append(received).append(fields).append(content);
  record.content = std::move(stored_content);
  for (auto& r : envelope.rcpt_to) record.recipients.push_back({r, ""});
  envelope.rcpt_to.clear();
  record.envelope = std::move(envelope);
  log::info("smtp: {} from=<{}> client=[{}] rcpts={} size={}", record.id, record.envelope.mail_from,
            address_, record.recipients.size(), record.content->size());
  io::EventLoop* loop = &worker_.loop();
  QueueManager* queue = &shared.queue;
  std::weak_ptr<InboundSession> self = weak_from_this();
  spool::SpoolRecord copy = record;
  shared.spool.store_incoming(std::move(record),
                              [loop, queue, self, copy = std::move(copy)](Result<void> r) mutable {
                                spool::QueueId id = copy.id;
                                if (r) queue->accepted(std::move(copy));
                                loop->post([self, id, r] {
                                  if (auto s = self.lock()) s->stored(id, r);
                                });
                              });
}

// Secure Government Email: SPF, DKIM and DMARC on the checks' threads; the answer comes back
// to this loop. A session gone meanwhile never had its 250: the client sends again.
void InboundSession::check_sender(smtp::MessageReady message) {
  auto ready = std::make_shared<smtp::MessageReady>(std::move(message));
  auto content = std::shared_ptr<const std::string>(ready, &ready->content);
  sender_auth::MessageFacts facts{address_, ready->envelope.helo, ready->envelope.mail_from};
  io::EventLoop* loop = &worker_.loop();
  std::weak_ptr<InboundSession> self = weak_from_this();
  worker_.shared().inbound_checks->submit(
      {std::move(facts), std::move(content), [loop, self, ready](sender_auth::Verdict v) {
         loop->post([self, ready, v = std::move(v)]() mutable {
           if (auto s = self.lock()) s->checked(std::move(*ready), std::move(v));
         });
       }});
}

void InboundSession::checked(smtp::MessageReady message, sender_auth::Verdict verdict) {
  using sender_auth::Disposition;
  log::notice("sge: from=<{}> client=[{}] {}", message.envelope.mail_from, address_,
              verdict_summary(verdict));
  if (verdict.disposition == Disposition::reject || verdict.disposition == Disposition::defer) {
    storing_ = false;
    if (verdict.disposition == Disposition::reject)
      session_.message_refused(verdict.reason);
    else
      session_.message_stored(std::nullopt, verdict.reason);
    return drive();
  }
  const auto& config = worker_.shared().config;
  const std::string fields = authentication_results(config, message.envelope, verdict);
  const std::string content = sender_auth::without_forged_results(std::move(message.content),
                                                                  config.inbound_auth.authserv_id);
  store(std::move(message.envelope), content, fields,
        verdict.disposition == Disposition::quarantine, verdict.reason);
}

void InboundSession::stored(const spool::QueueId& id, Result<void> result) {
  storing_ = false;
  if (result) {
    session_.message_stored(id);
  } else {
    session_.message_stored(std::nullopt, "the message could not be stored");
  }
  drive();
}

void InboundSession::on_tls_established() {
  session_.tls_started({tls_protocol(), tls_cipher()});
  drive();
}

void InboundSession::check_timeout(io::EventLoop::Clock::time_point now) {
  if (storing_ || closed()) return;
  if (now - phase_started_ > session_.time_allowed()) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    log::notice(
        "smtp: timeout for [{}]: a command line or message not complete within {} s (last byte "
        "{} s ago)",
        address_, duration_cast<seconds>(session_.time_allowed()).count(),
        duration_cast<seconds>(now - last_activity()).count());
    session_.timed_out();
    drive();
  }
}

void InboundSession::on_closed(std::string_view reason) {
  if (admitted_) worker_.shared().limiter.release(address_);
  admitted_ = false;
  log::debug("smtp: [{}] disconnected: {}", address_, reason);
  worker_.forget(this);
}

// ---- outbound SMTP -------------------------------------------------------------------------

OutboundConnection::OutboundConnection(Worker& worker, Destination& destination,
                                       InboundSession::Open open)
    : io::StreamConnection(worker.loop(), std::move(open)),
      worker_(worker),
      destination_(destination),
      session_(smtp::ClientOptions{worker.shared().config.hostname, tls_policy(destination),
                                   worker.shared().client_tls != nullptr}),
      idle_since_(worker.loop().now()) {}

namespace {
// RFC 8460 §4.3's result type for a certificate the session refused (or would have).
std::string tls_result_type(long verify_result) {
  switch (verify_result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return "certificate-host-mismatch";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate-expired";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      return "certificate-not-trusted";
    default:
      return "validation-failure";  // a TLSA mismatch among them
  }
}
}  // namespace

// RFC 7672 §2.2: an exchanger with validated TLSA records is reached over TLS or not at all.
smtp::TlsPolicy OutboundConnection::tls_policy(const Destination& destination) {
  const auto* e = destination.exchanger();
  return e && (!e->tlsa.empty() || e->sts_enforce) ? smtp::TlsPolicy::required
                                                   : destination.route().tls;
}

void OutboundConnection::report_tls(bool succeeded, const std::string& result_type) {
  const auto* e = destination_.exchanger();
  auto* reports = worker_.shared().tls_reports;
  if (!e || e->policy_type.empty() || !reports || tls_reported_) return;
  tls_reported_ = true;
  const TlsPolicyApplied policy{destination_.domain(), e->policy_type, e->policy_strings};
  if (succeeded)
    reports->success(policy);
  else
    reports->failure(policy, result_type, e->name, e->hop.host);
}

tls::PeerCheck OutboundConnection::peer_check() const {
  const auto* e = destination_.exchanger();
  if ((e && e->sts_enforce) || destination_.route().verify) return tls::PeerCheck::pkix;
  if (e && e->sts_testing) return tls::PeerCheck::report;
  return tls::PeerCheck::context;
}

std::string OutboundConnection::tls_name() const {
  const auto* e = destination_.exchanger();
  return e ? e->name : destination_.hop().host;
}

std::vector<tls::DaneRecord> OutboundConnection::dane_records() const {
  std::vector<tls::DaneRecord> out;
  if (const auto* e = destination_.exchanger())
    for (const auto& rdata : e->tlsa)
      if (auto r = tls::dane_record(rdata)) out.push_back(std::move(*r));
  return out;
}

void OutboundConnection::give(DeliveryJob job) {
  if (!idle()) {  // Destination checks first; were it ever not so, the message waits and retries
    log::error("relay: {}: a message was given to a busy connection", destination_.hop().text());
    return job.fail_all(451, "4.4.1 connection not ready");
  }
  session_.send(job.message());
  job_ = std::move(job);
  drive();
}

void OutboundConnection::quit() {
  if (job_ || closed()) return;
  session_.quit();
  drive();
}

void OutboundConnection::on_data(std::string_view bytes) {
  session_.feed(bytes);
  drive();
}

void OutboundConnection::drive() {
  while (!closed()) {
    std::string out = session_.take_output();
    if (!out.empty()) send(out);
    if (closed()) return;
    switch (session_.event()) {
      case smtp::ClientSession::Event::none:
        return;
      case smtp::ClientSession::Event::ready:
        if (job_) return;
        ready_ = true;
        idle_since_ = worker_.loop().now();
        if (messages_ >= worker_.shared().config.max_messages_per_connection) return quit();
        destination_.connection_ready(*this);
        return;
      case smtp::ClientSession::Event::start_tls:
        if (!tls_established() && worker_.shared().client_tls) {
          tls_started_ = true;
          start_tls(worker_.shared().client_tls, tls_name(), dane_records(), peer_check());
        }
        return;
      case smtp::ClientSession::Event::message_done: {
        auto result = session_.take_result();
        ++messages_;
        if (job_) {
          auto job = std::move(*job_);
          job_.reset();
          job.complete(result);
        }
        continue;
      }
      case smtp::ClientSession::Event::closed:
        close_after_flush();
        return;
    }
  }
}

void OutboundConnection::on_tls_established() {
  if (tls_dane_authenticated()) {
    log::info("relay: {} authenticated by its TLSA records (DANE)", destination_.where());
    report_tls(true, "");
  }
  if (const auto* e = destination_.exchanger(); e && (e->sts_enforce || e->sts_testing)) {
    if (tls_channel()->pkix_verified()) {
      log::info("relay: {} authenticated for MTA-STS", destination_.where());
      report_tls(true, "");
    } else {
      log::warning("relay: {}: MTA-STS testing: its certificate would be refused ({})",
                   destination_.where(), tls_channel()->pkix_problem());
      report_tls(false, tls_result_type(tls_channel()->verify_result()));
    }
  }
  session_.tls_started();
  drive();
}

void OutboundConnection::check_timeout(io::EventLoop::Clock::time_point now) {
  if (closed()) return;
  const auto& config = worker_.shared().config;
  if (job_ || !ready_) {
    auto limit = ready_ ? config.relay_timeout : config.connect_timeout;
    if (now - last_activity() > limit) close_now();
  } else if (now - idle_since_ > kIdleConnectionLife) {
    quit();
  }
}

void OutboundConnection::on_closed(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  if (tls_started_ && !tls_established() && tls_channel())
    report_tls(false, tls_result_type(tls_channel()->verify_result()));
  if (job_) {
    session_.fail(reason);
    auto result = session_.take_result();
    auto job = std::move(*job_);
    job_.reset();
    job.complete(result);
  }
  destination_.connection_closed(*this, reason, ready_);
}

void Destination::submit(DeliveryJob job) {
  waiting_.push_back(std::move(job));
  for (auto& [ptr, conn] : connections_) {
    if (waiting_.empty()) return;
    if (conn->idle()) give_next(*conn);
  }
  std::size_t connecting = 0;
  for (auto& [ptr, conn] : connections_)
    if (!conn->ready()) ++connecting;
  if (waiting_.size() > connecting &&
      connections_.size() < worker_.shared().config.max_connections_per_destination)
    open_connection();
}

bool Destination::give_next(OutboundConnection& conn) {
  if (waiting_.empty() || !conn.idle()) return false;
  auto job = std::move(waiting_.front());
  waiting_.pop_front();
  conn.give(std::move(job));
  return true;
}

void Destination::connection_ready(OutboundConnection& conn) { give_next(conn); }

void Destination::open_connection() {
  std::string error;
  InboundSession::Open open;
  const config::HostPort& hop = this->hop();
  if (auto* backend = worker_.shared().backend) {
    open = [&, backend](io::FdHandler* h) -> std::unique_ptr<io::Transport> {
      auto t = backend->connect(hop.host, hop.port, h);
      if (!t) error = t.error().message;
      return t ? std::move(*t) : nullptr;
    };
  } else {
    int fd = io::connect_tcp(hop.host, hop.port, error);
    if (fd >= 0)
      open = [this, fd](io::FdHandler* h) { return io::fd_transport(worker_.loop(), fd, h); };
  }
  std::unique_ptr<OutboundConnection> conn;
  if (open) conn = std::make_unique<OutboundConnection>(worker_, *this, std::move(open));
  if (!conn || conn->closed()) {
    log::warning("relay: {}: {}", where(), error);
    if (connections_.empty() && next_exchanger(error)) return open_connection();
    return fail_waiting(fmt::format("4.4.1 {}", error));
  }
  auto* ptr = conn.get();
  connections_.emplace(ptr, std::move(conn));
}

bool Destination::next_exchanger(std::string_view reason) {
  if (exchanger_ + 1 >= route_.exchangers.size()) return false;
  const std::string failed = where();
  ++exchanger_;
  log::notice("relay: {} did not answer ({}); trying the next mail exchanger, {}", failed, reason,
              where());
  return true;
}

void Destination::fail_waiting(std::string_view reason) {
  exchanger_ = 0;  // the next attempt starts again at the most preferred exchanger
  while (!waiting_.empty()) {
    waiting_.front().fail_all(451, reason);
    waiting_.pop_front();
  }
}

void Destination::connection_closed(OutboundConnection& conn, std::string_view reason,
                                    bool was_ready) {
  auto it = connections_.find(&conn);
  if (it == connections_.end()) return;
  graveyard_.push_back(std::move(it->second));
  connections_.erase(it);
  worker_.loop().post([this] { graveyard_.clear(); });
  if (!was_ready) {
    bool others_ready = false;
    for (auto& [p, c] : connections_) others_ready |= c->ready();
    if (!others_ready) {
      // The next hop is unreachable: the next exchanger, if any; else defer everything waiting
      // for it rather than hammer it.
      log::warning("relay: {} unavailable: {}", where(), reason);
      if (connections_.empty() && !waiting_.empty() && next_exchanger(reason))
        return open_connection();
      return fail_waiting(fmt::format("4.4.1 {}: {}", where(), reason));
    }
  }
  if (!waiting_.empty() &&
      connections_.size() < worker_.shared().config.max_connections_per_destination)
    open_connection();
}

void Destination::tick(io::EventLoop::Clock::time_point now) {
  std::vector<OutboundConnection*> conns;
  for (auto& [p, c] : connections_) conns.push_back(p);
  for (auto* c : conns)
    if (connections_.count(c)) c->check_timeout(now);
}

// ---- the worker ----------------------------------------------------------------------------

Worker::Worker(Shared shared) : shared_(std::move(shared)) {
  loop_.on_tick([this] { tick(); });
}

Result<void> Worker::listen(const std::vector<std::pair<int, bool>>& listening_fds) {
  for (auto [fd, submission] : listening_fds) {
    auto listener = std::make_unique<Listener>(*this, fd, submission);
    // Every loop waits on the same socket; EPOLLEXCLUSIVE wakes one of them per connection.
    if (auto added = loop_.add(fd, EPOLLIN | EPOLLEXCLUSIVE, listener.get()); !added) return added;
    listeners_.push_back(std::move(listener));
  }
  return {};
}

Worker::Listener::~Listener() = default;  // the gateway owns and closes the shared socket

void Worker::Listener::pause(int error) {
  if (paused_) return;
  worker_.loop_.remove(fd_);
  paused_ = true;
  if (std::exchange(told_, true)) return;
  log::error(
      "smtp: cannot take new connections ({}): not accepting for a second; {} sessions on this "
      "loop (raise the file limit or lower [smtp] max_connections)",
      std::strerror(error), worker_.sessions_.size());
}

void Worker::Listener::resume_if_paused() {
  if (!paused_) return;
  if (worker_.loop_.add(fd_, EPOLLIN | EPOLLEXCLUSIVE, this)) paused_ = false;
}

void Worker::Listener::on_events(std::uint32_t) {
  for (int i = 0; i < 64; ++i) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause(errno);
      return;
    }
    if (std::exchange(told_, false))
      log::notice("smtp: accepting connections again ({} sessions on this loop)",
                  worker_.sessions_.size());
    std::uint16_t port = 0;
    std::string address = io::peer_address(fd, &port);
    worker_.accept(
        [&loop = worker_.loop_, fd](io::FdHandler* h) { return io::fd_transport(loop, fd, h); },
        address, port, submission_);
  }
}

void Worker::accept(InboundSession::Open open, std::string address, std::uint16_t port,
                    bool submission) {
  std::string refusal =
      shared_.limiter.admit(address, submission || shared_.config.is_internal(address));
  auto session =
      std::make_shared<InboundSession>(*this, std::move(open), address, port, submission);
  sessions_.emplace(session.get(), session);
  session->begin(refusal);
}

Result<void> Worker::listen_on_backend(const std::vector<std::pair<std::uint16_t, bool>>& ports) {
  for (auto [port, submission] : ports) {
    auto listening = shared_.backend->listen(
        port, [this, submission](auto open, std::string address, std::uint16_t peer_port) {
          accept(std::move(open), std::move(address), peer_port, submission);
        });
    if (!listening) return listening;
  }
  return {};
}

void Worker::forget(InboundSession* session) {
  loop_.post([this, session] { sessions_.erase(session); });
}

std::string destination_key(const config::Route& route) {
  // A connection pool serves one TLS requirement: a `verify` route never shares the unverified
  // connections of an `encrypt` one to the same host, nor one policy domain another's (TLS-RPT).
  std::string key = route.next_hop.text() + "/" + std::to_string(static_cast<int>(route.tls)) +
                    (route.verify ? "+verify" : "") + "/" + route.mx_domain;
  // Two domains' exchangers at one address are two destinations when their names or TLSA
  // records differ: each is authenticated by its own (one domain's DANE records never vouch for
  // another's exchanger).
  for (const auto& e : route.exchangers) {
    key += "," + e.name + "[" + e.hop.text() + "]" + (e.sts_enforce ? "+sts" : "") +
           (e.sts_testing ? "+sts-testing" : "");
    for (const auto& t : e.tlsa) key += "/" + std::to_string(std::hash<std::string>{}(t));
  }
  return key;
}

void Worker::deliver(DeliveryJob job) {
  loop_.post([this, job = std::move(job)]() mutable {
    auto& dest = destinations_[destination_key(job.route)];
    if (!dest) dest = std::make_unique<Destination>(*this, job.route);
    dest->submit(std::move(job));
  });
}

void Worker::tick() {
  const auto now = loop_.now();
  std::vector<std::shared_ptr<InboundSession>> sessions;
  sessions.reserve(sessions_.size());
  for (auto& [p, s] : sessions_) sessions.push_back(s);
  for (auto& s : sessions) s->check_timeout(now);
  for (auto& [key, dest] : destinations_) dest->tick(now);
  for (auto& l : listeners_) l->resume_if_paused();
}

}  // namespace seegw::relay
