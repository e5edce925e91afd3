#include "seegw/relay/gateway.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <openssl/x509v3.h>

#include <algorithm>
#include <sstream>

#include "inbound_checks.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/keys/key_service.hpp"
#include "seegw/seemail/internal_messages.hpp"
#include "worker.hpp"

#ifdef SEEGW_HAVE_DPDK
#include "seegw/dpdk/poll_mode.hpp"
#endif

#ifndef SEEGW_VERSION
#define SEEGW_VERSION "dev"
#endif

namespace seegw::relay {

namespace {
// One limiter for the process; kept outside Gateway's header to keep that header narrow.
std::unique_ptr<ConnectionLimiter> g_limiter;

// Configured names in order of preference into `out` (left as it is when none are configured);
// the first unknown name is an error saying which.
template <class T, class FromName>
Result<void> approved_list(const std::vector<std::string>& names, FromName from_name,
                           fmt::format_string<const std::string&> unknown, std::vector<T>& out) {
  if (names.empty()) return {};
  std::vector<T> list;
  for (const auto& name : names) {
    auto value = from_name(name);
    if (!value) return fail(Errc::config, fmt::format(unknown, name));
    list.push_back(*value);
  }
  out = std::move(list);
  return {};
}

// The SEEMail stage's settings from the configuration. OUT-6, §2.4: the approved algorithms are
// checked now — an unknown name is a clear error, never a gateway signing with something nobody
// approved.
Result<seemail::Settings> stage_settings(const config::Config& c) {
  seemail::Settings settings;
  settings.hostname = c.hostname;
  settings.domain = c.domain;
  settings.version = SEEGW_VERSION;
  settings.learnt.root = c.spool_path / "certificates";
  settings.notice_limits = {c.notice_limit, c.notice_window.count()};
  if (auto ok = approved_list(c.approved_ciphers, cms::cipher_from_name,
                              "[smime] ciphers: unknown cipher '{}' (aes256-gcm, aes256-cbc, "
                              "aes192-cbc, aes128-gcm, aes128-cbc, des3)",
                              settings.approved);
      !ok)
    return std::unexpected(ok.error());
  if (auto ok = approved_list(c.approved_digests, cms::digest_from_name,
                              "[smime] digests: unknown digest '{}' (sha256, sha384, sha512, sha1)",
                              settings.approved_digests);
      !ok)
    return std::unexpected(ok.error());
  return settings;
}

// OUT-7: the intermediates of [hsm] chain_file (none when it is not set).
Result<std::vector<x509::Certificate>> chain_file_certificates(const std::filesystem::path& file) {
  if (file.empty()) return std::vector<x509::Certificate>{};
  auto text = read_file(file);
  auto certs = text ? x509::load_certificates(*text) : Result<std::vector<x509::Certificate>>{};
  if (!text || !certs || certs->empty())
    return fail(Errc::config,
                fmt::format("[hsm] chain_file {}: no certificates in it", file.string()));
  return certs;
}
}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::start(config::Config config) {
  std::unique_ptr<Gateway> gw(new Gateway());
  gw->config_ = std::move(config);
  const auto& c = gw->config_;

  gw->make_key_and_trust_owners();
  auto matcher = scan::Matcher::create();
  if (!matcher) return std::unexpected(matcher.error());
  gw->matcher_ = *matcher;

  auto spool = spool::Spool::open(c.spool_path, c.sync_mode);
  if (!spool) return std::unexpected(spool.error());
  gw->spool_ = std::move(*spool);
  gw->spool_->set_reserve({c.spool_reserve_bytes, c.spool_reserve_inodes});

  std::shared_ptr<tls::TlsContext> server_tls, client_tls;
  if (!c.tls_cert_file.empty()) {
    auto ctx = tls::TlsContext::server(c.tls_cert_file, c.tls_key_file);
    if (!ctx) return std::unexpected(ctx.error());
    server_tls = *ctx;
  }
  auto client = tls::TlsContext::client(c.relay_tls_ca_file, c.mta_sts_ca_file);
  if (!client) return std::unexpected(client.error());
  client_tls = *client;

  // OPS-1: no policy, no mail. A missing or bad snapshot is a fault the health check reports
  // (4xx, nothing sent, the reason logged and in `status`) until a good one arrives — never a
  // gateway running on rules nobody wrote, never a failed start.
  (void)gw->reload_policy();
  auto chain = chain_file_certificates(c.hsm.chain_file);
  if (!chain) return std::unexpected(chain.error());
  gw->configured_chain_ = std::move(*chain);
  {
    std::string why;
    gw->operational_ = gw->check_health(why);
    if (!gw->operational_)
      log::error("not operational: {}; SMTP answers 4xx until it is fixed", why);
  }
  auto settings = stage_settings(c);
  if (!settings) return std::unexpected(settings.error());
  gw->stage_ = std::make_unique<seemail::Stage>(std::move(*settings), **matcher, *gw->keys_);
  gw->queue_ = std::make_unique<QueueManager>(
      c, *gw->spool_, *gw->stage_, *gw->trust_,
      [g = gw.get()](DeliveryJob job) { g->dispatch(std::move(job)); });
  gw->queue_->set_dkim(gw->dkim_.get());
  if (c.direct_delivery)
    gw->queue_->set_mx_lookup(
        [g = gw.get()](const std::string& domain) { return g->exchangers(domain); });
  g_limiter = std::make_unique<ConnectionLimiter>(
      c.max_connections, c.max_connections_per_client,
      c.reserved_internal_connections.value_or(c.max_connections / 10));

  if (auto checks = gw->start_inbound_checks(); !checks) return std::unexpected(checks.error());
  if (auto loops = gw->make_loops(server_tls, client_tls); !loops)
    return std::unexpected(loops.error());
  gw->queue_->set_operational([g = gw.get()] { return g->operational(); });
  gw->start_queue();
  for (auto& w : gw->workers_) gw->threads_.emplace_back([w = w.get()] { w->run(); });
  gw->health_ = std::thread([g = gw.get()] { g->watch_health(); });
  auto admin = AdminSocket::open(
      c.admin_socket.empty() ? c.spool_path / "admin.sock" : c.admin_socket,
      [g = gw.get()](const std::string& cmd) { return g->admin_command(cmd); }, c.admin_users);
  if (!admin) return std::unexpected(admin.error());
  gw->admin_ = std::move(*admin);
  std::string where;
  for (auto& l : c.listen) where += " " + l.text();
  for (auto& l : c.submission) where += " " + l.text() + "(submission)";
  for (auto port : c.dpdk.listen) where += fmt::format(" {}:{}(DPDK)", c.dpdk.address, port);
  const std::size_t lanes = gw->plane_ ? gw->plane_->lanes() : 0;
  log::notice(
      "seegw-dataplane: listening on{} with {} poll-mode loop(s) (DPDK lanes) and {} I/O "
      "loop(s); spool {}",
      where, lanes, gw->workers_.size() - lanes, c.spool_path.string());
  return gw;
}

Result<void> Gateway::make_loops(const std::shared_ptr<tls::TlsContext>& server_tls,
                                 const std::shared_ptr<tls::TlsContext>& client_tls) {
  const auto& c = config_;
  if (c.dpdk.enabled) {
#ifdef SEEGW_HAVE_DPDK
    // The poll-mode data plane: one loop per lane (queue pair) runs the port's queue and its
    // own stack to completion; the listeners are the stacks' ports (their host part names the
    // stack's own address), on every lane, since RSS may bring a client to any of them.
    auto backend = dpdk::PollModeBackend::start(c.dpdk);
    if (!backend) return std::unexpected(backend.error());
    plane_ = std::move(*backend);
    std::vector<std::pair<std::uint16_t, bool>> ports;
    if (c.dpdk.hop_only) {
      for (auto port : c.dpdk.listen) ports.emplace_back(port, false);
    } else {
      for (const auto& hp : c.listen) ports.emplace_back(hp.port, false);
      for (const auto& hp : c.submission) ports.emplace_back(hp.port, true);
    }
    for (std::size_t i = 0; i < plane_->lanes(); ++i) {
      Shared shared{config_, *spool_, *queue_, *g_limiter, server_tls, client_tls, &operational_};
      shared.backend = &plane_->lane(i);
      shared.tls_reports = &tls_reports_;
      shared.inbound_checks = inbound_checks_.get();
      workers_.push_back(std::make_unique<Worker>(shared));
      plane_->attach(i, workers_.back()->loop());
      if (auto listening = workers_.back()->listen_on_backend(ports); !listening)
        return std::unexpected(listening.error());
    }
#else
    return fail(Errc::config,
                "[dpdk] enabled, but this seegw-dataplane was built without DPDK "
                "(SEEGW_WITH_DPDK=OFF or libdpdk-dev missing)");
#endif
  }
  // One listening socket per address, without SO_REUSEPORT: a second gateway started on the same
  // port by mistake fails with "address in use" instead of silently taking half the mail.
  std::vector<std::pair<int, bool>> sockets;
  std::vector<const std::vector<config::HostPort>*> kernel_listeners;
  if (!c.dpdk.enabled || c.dpdk.hop_only) kernel_listeners = {&c.listen, &c.submission};
  for (const auto* list : kernel_listeners) {
    for (const auto& hp : *list) {
      std::string error;
      int fd = io::listen_tcp(hp.host, hp.port, false, error);
      if (fd < 0) return fail(Errc::io, error);
      listening_fds_.push_back(fd);
      sockets.emplace_back(fd, list == &c.submission);
    }
  }
  const unsigned lanes = static_cast<unsigned>(workers_.size());
  const unsigned n =
      c.dpdk.enabled && !c.dpdk.hop_only
          ? lanes
          : lanes +
                (c.io_threads ? c.io_threads : std::max(1u, std::thread::hardware_concurrency()));
  for (unsigned i = static_cast<unsigned>(workers_.size()); i < n; ++i) {
    Shared shared{config_, *spool_, *queue_, *g_limiter, server_tls, client_tls, &operational_};
    shared.tls_reports = &tls_reports_;
    shared.inbound_checks = inbound_checks_.get();
    workers_.push_back(std::make_unique<Worker>(shared));
    if (auto listening = workers_.back()->listen(sockets); !listening)
      return std::unexpected(listening.error());
  }
  return {};
}

// The HSM keys and the policy snapshot, each with its one owner; the SEEMail stage gets both.
void Gateway::make_key_and_trust_owners() {
  const auto& c = config_;
  keys_ = std::make_unique<keys::KeyService>(
      keys::KeySettings{{c.hsm.module, c.hsm.token, c.hsm.pin_file},
                        c.hsm.key_label,
                        c.spool_path / "certificates" / "current-key"});
  dkim_keys_ =
      std::make_unique<keys::DkimKeys>(pkcs11::HsmConfig{c.hsm.module, c.hsm.token, c.hsm.pin_file},
                                       c.spool_path / "certificates" / "dkim-selectors");
  dkim_ = std::make_unique<DkimSigning>(config_, *dkim_keys_);
  trust_ =
      std::make_unique<seemail::TrustSource>(seemail::TrustSettings{c.policy_snapshot,
                                                                    c.domain,
                                                                    c.local_domains,
                                                                    {c.spool_path / "certificates"},
                                                                    c.policy_reload_interval,
                                                                    c.policy_max_age});
}

// The queue manager starts with §2.8's seeker wired in: held mail that wants a certificate asks
// for it, and one learnt from mail has the snapshot re-read.
void Gateway::start_queue() {
  seeker_ = std::make_unique<CertificateSeeker>(
      config_.certificate_request_interval,
      [this](const std::string& domain) { seek_certificate(domain); });
  queue_->set_certificate_events(
      {[this](const std::string& domain) { seeker_->want(domain); }, [this] { request_reload(); }});
  queue_->start();
  // Mail held for a certificate before a restart goes if the snapshot now has it.
  const auto usable = trust_->usable_domains();
  release_for_new_certificates({usable.begin(), usable.end()});
}

// A next hop's connections live on one loop: one pool per destination, so connections are
// reused across all its jobs (not split N ways) and max_connections_per_destination holds for
// the gateway, not for each loop.
void Gateway::dispatch(DeliveryJob job) {
  // The lanes come first in workers_; with [dpdk] hop_only a next hop goes over the port only
  // when it is on the port's subnet, every other one over the kernel's sockets.
  const std::size_t lanes = plane_ ? plane_->lanes() : 0;
  std::size_t first = 0, count = workers_.size();
  if (lanes && config_.dpdk.hop_only) {
    const bool on_port = config_.dpdk.carries(job.route.next_hop.host);
    first = on_port ? 0 : lanes;
    count = on_port ? lanes : workers_.size() - lanes;
  }
  const std::size_t owner = first + std::hash<std::string>{}(destination_key(job.route)) % count;
  workers_[owner]->deliver(std::move(job));
}

bool Gateway::check_health(std::string& why) {
  // Serialised: two threads must never open the PKCS#11 module side by side.
  std::lock_guard checking(health_check_mutex_);
  const bool ok = [&] {
    if (::faccessat(AT_FDCWD, (config_.spool_path / "incoming").c_str(), W_OK, 0) != 0) {
      why = "the spool is not writable";
      return false;
    }
    return trust_->usable(why) && hsm_usable(why);
  }();
  keys_->allow_signing(ok);
  fault_ = ok ? "" : why;
  return ok;
}

std::string Gateway::fault() {
  std::lock_guard checking(health_check_mutex_);
  return fault_;
}

std::string Gateway::own_certificate() {
  std::lock_guard checking(health_check_mutex_);
  return own_certificate_;
}

namespace {

// The issuers of `cert` up to a self-issued root, each found among `candidates` (OUT-7).
std::vector<x509::Certificate> issuer_chain(X509* cert, const std::vector<X509*>& candidates) {
  std::vector<x509::Certificate> out;
  X509* current = cert;
  for (int depth = 0; depth < 8 && X509_check_issued(current, current) != X509_V_OK; ++depth) {
    auto issuer = std::find_if(candidates.begin(), candidates.end(),
                               [&](X509* c) { return X509_check_issued(c, current) == X509_V_OK; });
    if (issuer == candidates.end()) break;
    out.push_back(x509::share(*issuer));
    current = *issuer;
  }
  return out;
}

}  // namespace

bool Gateway::own_certificate_usable(X509* certificate, std::optional<std::time_t> key_created,
                                     std::string& why) {
  auto trust = this->trust();
  std::vector<X509*> candidates;
  for (const auto& c : configured_chain_) candidates.push_back(c.get());
  for (const auto& r : trust->roots) candidates.push_back(r.get());
  keys_->set_chain(issuer_chain(certificate, candidates));
  std::vector<X509*> intermediates;
  for (const auto& c : configured_chain_) intermediates.push_back(c.get());
  const auto v =
      trust->check(certificate, intermediates, config_.domain, std::time(nullptr), key_created);
  std::string warnings;
  for (const auto& w : v.warnings) warnings += (warnings.empty() ? "" : "; ") + w;
  own_certificate_ = fmt::format("{} ({}){}", x509::state_name(v.state), v.detail,
                                 warnings.empty() ? "" : "; " + warnings);
  if (warnings != own_warnings_told_ && queue_) {
    if (!warnings.empty())
      tell_administrator(
          "SEEMail: the gateway's own certificate needs attention",
          fmt::format("The SEEMail gateway's own certificate ({}):\n{}\n\nRenew it "
                      "in time: key rollover, then key switch (docs/operations.md).\n",
                      x509::subject_text(certificate), warnings));
    own_warnings_told_ = warnings;
  }
  // Status unknown (no CRL for our own CA) does not stop us signing; the table's other states do.
  if (v.state == x509::CertificateState::valid || v.state == x509::CertificateState::status_unknown)
    return true;
  why = fmt::format("our own certificate is not valid: {} ({}); secure mail waits",
                    x509::state_name(v.state), v.detail);
  return false;
}

void Gateway::tell_administrator(const std::string& subject, const std::string& text) {
  queue_->inject(seemail::administrator_alert({config_.hostname, config_.domain}, subject, text,
                                              std::time(nullptr)),
                 "-");
}

bool Gateway::hsm_usable(std::string& why) {
  if (!keys_->configured()) return true;
  auto in_use = keys_->check();
  if (!in_use) {
    why = in_use.error().message;
    return false;
  }
  return own_certificate_usable(in_use->certificate, in_use->created, why);
}

// §2.9: a certificate we may not sign with is refused now, not found at the next check.
std::string Gateway::refuse_own_certificate(X509* certificate) {
  std::vector<X509*> intermediates;
  for (const auto& c : configured_chain_) intermediates.push_back(c.get());
  const auto v = trust()->check(certificate, intermediates, config_.domain, std::time(nullptr));
  if (v.state == x509::CertificateState::valid || v.state == x509::CertificateState::status_unknown)
    return "";
  return fmt::format("the certificate is not valid for {}: {} ({})", config_.domain,
                     x509::state_name(v.state), v.detail);
}

Result<void> Gateway::reload_policy() {
  auto gained = trust_->reload();
  if (!gained) return std::unexpected(gained.error());
  release_for_new_certificates(*gained);
  return {};
}

// Before the queue exists (start-up) the first look comes after it starts.
void Gateway::release_for_new_certificates(const std::vector<std::string>& gained) {
  if (!queue_ || gained.empty()) return;
  for (const auto& d : gained)
    if (seeker_) seeker_->found(d);
  const auto usable = trust_->usable_domains();
  queue_->release_awaiting(
      [usable](const std::string& domain) { return usable.count(domain) > 0; });
}

void Gateway::request_reload() {
  {
    std::lock_guard lock(health_mutex_);
    reload_requested_ = true;
  }
  health_wake_.notify_all();
}

void Gateway::seek_certificate(const std::string& domain) {
  if (!config_.control_socket.empty()) {
    auto asked = ask_control_to_discover(domain);
    if (asked) {
      log::notice("certificate: seegw-control looked for the certificate of {}: {}", domain,
                  *asked);
      return;
    }
    log::warning(
        "certificate: seegw-control did not look for the certificate of {} ({}); asking "
        "by signed mail",
        domain, asked.error().message);
  }
  auto sent = send_certificate_request(domain);
  if (sent)
    log::notice("certificate: {}", *sent);
  else
    log::error("certificate: no request for the certificate of {}: {}", domain,
               sent.error().message);
}

// seegw-control's console protocol: one JSON request line; JSON answer lines, the last with "ok".
// Ten seconds at most: a directory slower than that is asked again by mail, and a stopping
// gateway does not wait longer for the lookup under way.
Result<std::string> Gateway::ask_control_to_discover(const std::string& domain) {
  const nlohmann::json request{{"argv", {"certificate", "discover", domain}}};
  auto reply =
      unix_request(config_.control_socket, request.dump() + "\n", std::chrono::seconds(10));
  if (!reply) return std::unexpected(reply.error());
  std::string last;
  for (std::size_t start = 0, end; start < reply->size(); start = end + 1) {
    end = reply->find('\n', start);
    if (end == std::string::npos) end = reply->size();
    if (end > start) last = reply->substr(start, end - start);
  }
  const auto answer = nlohmann::json::parse(last, nullptr, false);
  if (answer.is_discarded() || !answer.is_object() || !answer.contains("ok"))
    return fail(Errc::protocol, "seegw-control gave no answer");
  const std::string text = answer.value("text", "");
  if (!answer.value("ok", false)) return fail(Errc::unavailable, text);
  return text;
}

Result<std::string> Gateway::send_certificate_request(const std::string& domain) {
  auto request = stage_->certificate_request(domain, std::time(nullptr));
  if (!request) return std::unexpected(request.error());
  const std::string what = request->what;
  queue_->inject(std::move(*request), "-");
  return "signed " + what + " sent; the certificate that answers it is learnt from the answer";
}

void Gateway::watch_health() {
  const auto interval = config_.hsm.check_interval;  // spool, policy and HSM alike
  while (true) {
    bool requested;
    {
      std::unique_lock lock(health_mutex_);
      health_wake_.wait_for(lock, interval, [&] { return health_stop_ || reload_requested_; });
      if (health_stop_) return;
      requested = std::exchange(reload_requested_, false);
    }
    // The snapshot is re-read when its file changes, and now and then anyway: certificate
    // states change with the clock (expiry, CRL nextUpdate).
    if (requested || trust_->reload_due()) (void)reload_policy();
    send_tls_reports_when_due();
    std::string why;
    const bool ok = check_health(why);
    if (ok != operational_.exchange(ok)) {
      if (ok)
        log::notice("operational again: accepting and sending mail");
      else
        log::error("not operational: {}; SMTP answers 4xx, outbound mail waits", why);
    }
  }
}

std::size_t Gateway::smtp_connections() { return g_limiter ? g_limiter->open() : 0; }

void Gateway::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(health_mutex_);
    health_stop_ = true;
  }
  health_wake_.notify_all();
  if (health_.joinable()) health_.join();
  admin_.reset();
  for (auto& w : workers_) w->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  inbound_checks_.reset();     // a check still running posts to a stopped loop, which still exists
  if (queue_) queue_->stop();  // absent when start-up failed before it was made
  seeker_.reset();             // after the pipeline, which tells it of wanted certificates
  spool_.reset();  // joins the writer: its callbacks only post to loops that still exist
}

Gateway::~Gateway() {
  stop();
  workers_.clear();
  plane_.reset();  // after the sessions that used its connections
  for (int fd : listening_fds_) ::close(fd);
}

}  // namespace seegw::relay
