// The data plane put together: listeners and SMTP sessions on N epoll loops (one per core),
// the spool, the queue manager and the TBB pipeline, and outbound connections per next hop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "seegw/config/config.hpp"
#include "seegw/dns/resolver.hpp"
#include "seegw/io/transport.hpp"
#include "seegw/relay/admin_socket.hpp"
#include "seegw/relay/certificate_seeker.hpp"
#include "seegw/relay/dkim_signing.hpp"
#include "seegw/relay/queue_manager.hpp"
#include "seegw/relay/tls_reports.hpp"
#include "seegw/seemail/stage.hpp"
#include "seegw/seemail/trust_source.hpp"
#include "seegw/sts/policy_cache.hpp"

namespace seegw::keys {
class KeyService;
}
namespace seegw::tls {
class TlsContext;
}

namespace seegw::relay {

class InboundChecks;

class Worker;

class Gateway {
 public:
  // Start-up: may fail with a clear reason (bad TLS files, unusable spool, port in use).
  static Result<std::unique_ptr<Gateway>> start(config::Config config);
  ~Gateway();
  void stop();
  QueueStats stats() { return queue_->stats(); }
  std::size_t in_flight() { return queue_->in_flight(); }
  std::size_t smtp_connections();  // inbound sessions holding a connection slot
  // OPS-1: false while a part the gateway cannot work without (the HSM, a writable spool, a good
  // and current policy snapshot) is missing; then no mail is accepted (4xx) and none is sent.
  bool operational() const { return operational_.load(); }
  // Why it is not operational ("" when it is).
  std::string fault();
  // What the last health check found of our own certificate ("" without an HSM).
  std::string own_certificate();
  QueueManager& queue() { return *queue_; }
  std::shared_ptr<const seemail::TrustState> trust() { return trust_->current(); }
  // Re-reads the policy snapshot; the last good one stays when the new one is bad (until it is
  // older than [policy] max_age).
  Result<void> reload_policy();

 private:
  Gateway() = default;
  void make_key_and_trust_owners();
  // The poll-mode lanes (when [dpdk] is enabled), the kernel's listening sockets and the I/O
  // loops, each a Worker (not yet running).
  Result<void> make_loops(const std::shared_ptr<tls::TlsContext>& server_tls,
                          const std::shared_ptr<tls::TlsContext>& client_tls);
  void dispatch(DeliveryJob job);
  void start_queue();
  void watch_health();
  // Spool, policy and HSM, in that order; `why` names the first fault.
  bool check_health(std::string& why);
  bool hsm_usable(std::string& why);  // health_check_mutex_ held
  // §2.9, OUT-7: our certificate validated as a peer's against the snapshot in use (chain to our
  // roots, dates, revocation, RFC 3183 naming, key usage), its issuer chain renewed, and its
  // warnings (expiry within 30 days, validity over 13 months) told to the administrator once.
  bool own_certificate_usable(X509* certificate, std::optional<std::time_t> key_created,
                              std::string& why);  // health_check_mutex_ held
  // `key install`'s and `key switch`'s refusal of a certificate we may not sign with (§2.9), or "".
  std::string refuse_own_certificate(X509* certificate);
  void tell_administrator(const std::string& subject, const std::string& text);
  // §2.8 auto-discovery, on the seeker's thread: seegw-control's directory first (when there is
  // one), else — or when it cannot be asked — the signed e-mail request.
  void seek_certificate(const std::string& domain);
  Result<std::string> ask_control_to_discover(const std::string& domain);
  // The signed request to domain-certificate-request@domain, spooled as secured by the gateway.
  Result<std::string> send_certificate_request(const std::string& domain);
  // Domains gained a usable certificate: held mail waiting for them goes again.
  void release_for_new_certificates(const std::vector<std::string>& gained);
  void request_reload();  // the health thread re-reads the snapshot and the learnt store
  // The admin socket's commands (gateway_admin.cpp): one handler per verb in AdminVerbs' table.
  std::string admin_command(const std::string& command);
  friend struct AdminVerbs;

  config::Config config_;
  std::shared_ptr<const scan::Matcher> matcher_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<keys::KeyService> keys_;
  std::unique_ptr<keys::DkimKeys> dkim_keys_;
  std::unique_ptr<DkimSigning> dkim_;
  // Secure Government Email's DNS (`sge`), made at first use: a resolver that cannot start is
  // that command's error, not the gateway's.
  Result<dns::Resolver*> resolver();
  // Direct delivery: the domain's mail exchangers as next hops on [relay] mx_port.
  Result<std::vector<config::Exchanger>> exchangers(const std::string& domain);
  std::mutex resolver_mutex_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<sts::PolicyCache> sts_;  // with the resolver
  // [inbound_auth]: SPF, DKIM and DMARC on mail from outside, on threads of their own.
  Result<void> start_inbound_checks();
  std::unique_ptr<InboundChecks> inbound_checks_;
  // TLS-RPT (RFC 8460): the counts since `tls_reports_since_`, mailed daily (UTC) or by the
  // `tls-report` command; returns what was sent, one line per report.
  TlsReports tls_reports_;
  std::atomic<std::time_t> tls_reports_since_{std::time(nullptr)};
  std::vector<std::string> send_tls_reports(std::time_t end);
  void send_tls_reports_when_due();
  // RFC 8461 §4: the domain's MTA-STS policy applied to exchangers DANE does not cover.
  Result<void> apply_mta_sts(const std::string& domain, std::vector<config::Exchanger>& exchangers);
  std::unique_ptr<seemail::TrustSource> trust_;
  std::unique_ptr<seemail::Stage> stage_;
  std::unique_ptr<QueueManager> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<int> listening_fds_;  // one socket per address, shared by the loops
  bool stopped_ = false;

  std::mutex health_check_mutex_;                    // one check at a time; guards the four below
  std::string own_certificate_;                      // what the last check said of it
  std::string own_warnings_told_;                    // the warnings last sent to the administrator
  std::string fault_;                                // the last health check's finding
  std::vector<x509::Certificate> configured_chain_;  // [hsm] chain_file (set at start)
  std::atomic<bool> operational_{true};
  std::unique_ptr<AdminSocket> admin_;
  std::unique_ptr<io::NetworkPlane> plane_;  // the poll-mode data plane, when enabled
  std::mutex health_mutex_;
  std::condition_variable health_wake_;
  bool health_stop_ = false;
  bool reload_requested_ = false;  // health_mutex_
  std::unique_ptr<CertificateSeeker> seeker_;
  std::thread health_;
};

}  // namespace seegw::relay
