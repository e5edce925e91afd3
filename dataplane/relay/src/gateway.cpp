#include "seegw/relay/gateway.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <openssl/x509v3.h>

#include <algorithm>
#include <sstream>

#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "worker.hpp"

#ifdef SEEGW_HAVE_DPDK
#include "seegw/dpdk/poll_mode.hpp"
#endif

#ifndef SEEGW_VERSION
#define SEEGW_VERSION "dev"
#endif

namespace seegw::relay {

namespace {
// The key pair that signs: [hsm] key_label until a `key switch`, which the spool keeps. A file
// that names no label is ignored, loudly.
std::string signing_key_label(const config::Config& c) {
  const auto file = c.spool_path / "certificates" / "current-key";
  auto switched = read_file(file);
  if (!switched) return c.hsm.key_label;
  std::string label(trim_view(*switched));
  if (is_key_label(label)) return label;
  log::error("hsm: {} names no key label; signing with [hsm] key_label {}", file.string(),
             c.hsm.key_label);
  return c.hsm.key_label;
}

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
Result<seemail::Settings> processor_settings(const config::Config& c) {
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

  gw->key_label_ = signing_key_label(c);
  auto matcher = scan::Matcher::create();
  if (!matcher) return std::unexpected(matcher.error());
  gw->matcher_ = *matcher;

  auto spool = spool::Spool::open(c.spool_path, c.sync_mode);
  if (!spool) return std::unexpected(spool.error());
  gw->spool_ = std::move(*spool);

  std::shared_ptr<tls::TlsContext> server_tls, client_tls;
  if (!c.tls_cert_file.empty()) {
    auto ctx = tls::TlsContext::server(c.tls_cert_file, c.tls_key_file);
    if (!ctx) return std::unexpected(ctx.error());
    server_tls = *ctx;
  }
  auto client = tls::TlsContext::client(c.relay_tls_ca_file);
  if (!client) return std::unexpected(client.error());
  client_tls = *client;

  // OPS-1: no policy, no mail. A missing or bad snapshot is a fault the health check reports
  // (4xx, nothing sent, the reason logged and in `status`) until a good one arrives — never a
  // gateway running on rules nobody wrote, never a failed start.
  gw->trust_ = seemail::empty_trust_state(c.domain, c.local_domains);
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
  auto settings = processor_settings(c);
  if (!settings) return std::unexpected(settings.error());
  gw->processor_ = std::make_unique<seemail::Processor>(
      std::move(*settings), **matcher, [g = gw.get()] { return g->signing_keys(); },
      [g = gw.get()] { return g->probe_hsm(); });
  gw->queue_ = std::make_unique<QueueManager>(
      c, *gw->spool_, *gw->matcher_, *gw->processor_, [g = gw.get()] { return g->trust(); },
      [g = gw.get()](DeliveryJob job) { g->dispatch(std::move(job)); });
  g_limiter = std::make_unique<ConnectionLimiter>(c.max_connections, c.max_connections_per_client);

  if (c.dpdk.enabled) {
#ifdef SEEGW_HAVE_DPDK
    // The poll-mode data plane: one loop per lane (queue pair) runs the port's queue and its
    // own stack to completion; the listeners are the stacks' ports (their host part names the
    // stack's own address), on every lane, since RSS may bring a client to any of them.
    auto backend = dpdk::PollModeBackend::start(c.dpdk);
    if (!backend) return std::unexpected(backend.error());
    gw->plane_ = std::move(*backend);
    std::vector<std::pair<std::uint16_t, bool>> ports;
    for (const auto& hp : c.listen) ports.emplace_back(hp.port, false);
    for (const auto& hp : c.submission) ports.emplace_back(hp.port, true);
    for (std::size_t i = 0; i < gw->plane_->lanes(); ++i) {
      Shared shared{gw->config_, *gw->spool_, *gw->queue_,      *g_limiter,
                    server_tls,  client_tls,  &gw->operational_};
      shared.backend = &gw->plane_->lane(i);
      gw->workers_.push_back(std::make_unique<Worker>(shared));
      gw->plane_->attach(i, gw->workers_.back()->loop());
      if (auto listening = gw->workers_.back()->listen_on_backend(ports); !listening)
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
  if (!c.dpdk.enabled) kernel_listeners = {&c.listen, &c.submission};
  for (const auto* list : kernel_listeners) {
    for (const auto& hp : *list) {
      std::string error;
      int fd = io::listen_tcp(hp.host, hp.port, false, error);
      if (fd < 0) return fail(Errc::io, error);
      gw->listening_fds_.push_back(fd);
      sockets.emplace_back(fd, list == &c.submission);
    }
  }
  const unsigned n = c.dpdk.enabled ? static_cast<unsigned>(gw->workers_.size())
                     : c.io_threads ? c.io_threads
                                    : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = static_cast<unsigned>(gw->workers_.size()); i < n; ++i) {
    gw->workers_.push_back(
        std::make_unique<Worker>(Shared{gw->config_, *gw->spool_, *gw->queue_, *g_limiter,
                                        server_tls, client_tls, &gw->operational_}));
    if (auto listening = gw->workers_.back()->listen(sockets); !listening)
      return std::unexpected(listening.error());
  }
  gw->queue_->set_operational([g = gw.get()] { return g->operational(); });
  gw->start_queue();
  for (auto& w : gw->workers_) gw->threads_.emplace_back([w = w.get()] { w->run(); });
  gw->health_ = std::thread([g = gw.get()] { g->watch_health(); });
  auto admin =
      AdminSocket::open(c.admin_socket.empty() ? c.spool_path / "admin.sock" : c.admin_socket,
                        [g = gw.get()](const std::string& cmd) { return g->admin_command(cmd); });
  if (!admin) return std::unexpected(admin.error());
  gw->admin_ = std::move(*admin);
  std::string where;
  for (auto& l : c.listen) where += " " + l.text();
  for (auto& l : c.submission) where += " " + l.text() + "(submission)";
  log::notice("seegw-dataplane: listening on{} with {} {}; spool {}", where, n,
              c.dpdk.enabled ? (n == 1 ? "poll-mode loop (DPDK)" : "poll-mode loops (DPDK lanes)")
                             : "I/O loops",
              c.spool_path.string());
  return gw;
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
  std::lock_guard reloading(reload_mutex_);
  release_for_new_certificates(trust());
}

// A next hop's connections live on one loop: one pool per destination, so connections are
// reused across all its jobs (not split N ways) and max_connections_per_destination holds for
// the gateway, not for each loop.
void Gateway::dispatch(DeliveryJob job) {
  const std::size_t owner = std::hash<std::string>{}(destination_key(job.route)) % workers_.size();
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
    return policy_usable(why) && hsm_usable(why);
  }();
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
  auto chain =
      std::make_shared<const std::vector<x509::Certificate>>(issuer_chain(certificate, candidates));
  std::vector<X509*> intermediates;
  for (const auto& c : configured_chain_) intermediates.push_back(c.get());
  const auto v =
      trust->check(certificate, intermediates, config_.domain, std::time(nullptr), key_created);
  {
    std::lock_guard lock(hsm_mutex_);
    own_chain_ = chain;
  }
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
  seemail::ComposedMessage m;
  m.from = "SEEMail gateway <postmaster@" + config_.domain + ">";
  m.to = "postmaster@" + config_.domain;
  m.subject = subject;
  m.text = text;
  queue_->inject({{m.to},
                  seemail::compose(m, config_.hostname, std::time(nullptr)),
                  "notice to <" + m.to + ">: " + subject,
                  ""},
                 "-");
}

bool Gateway::probe_hsm() {
  std::lock_guard checking(health_check_mutex_);
  std::string why;
  return hsm_usable(why);
}

bool Gateway::policy_usable(std::string& why) {
  std::lock_guard reloading(reload_mutex_);
  if (config_.policy_snapshot.empty()) {
    why = "no policy snapshot is configured ([policy] snapshot)";
    return false;
  }
  if (!policy_good_) {
    why = "no valid policy snapshot: " + policy_error_;
    return false;
  }
  const auto max_age = config_.policy_max_age.count();
  const std::time_t generated = trust()->generated, now = std::time(nullptr);
  if (max_age > 0 && now - generated > max_age) {
    why = fmt::format(
        "the policy snapshot {} was written {} s ago, more than [policy] max_age ({} s): is "
        "seegw-control running?",
        config_.policy_snapshot.string(), now - generated, max_age);
    return false;
  }
  return true;
}

bool Gateway::hsm_usable(std::string& why) {
  if (!config_.hsm.configured()) return true;
  std::shared_ptr<HsmHandle> handle;
  {
    std::lock_guard lock(hsm_mutex_);
    handle = hsm_;
  }
  if (!handle) {
    auto opened = pkcs11::Hsm::open({config_.hsm.module, config_.hsm.token, config_.hsm.pin_file});
    if (!opened) {
      why = "HSM: " + opened.error().message;
      return false;
    }
    auto fresh = std::make_shared<HsmHandle>();
    fresh->hsm = std::move(*opened);
    fresh->label = key_label();
    auto key = fresh->hsm->private_key(fresh->label);
    auto cert = fresh->hsm->certificate(fresh->label);
    if (!key || !cert) {
      why = "HSM: " + (!key ? key.error().message : cert.error().message);
      return false;
    }
    fresh->key = *key;
    fresh->certificate = std::move(*cert);
    // Read once per opening of the token, not at every check.
    if (auto session = pkcs11::TokenSession::open(
            {config_.hsm.module, config_.hsm.token, config_.hsm.pin_file})) {
      if (auto created = (*session)->key_created(fresh->label)) fresh->key_created = *created;
    }
    if (auto labels = fresh->hsm->certificate_labels()) {
      for (const auto& label : *labels) {
        if (label == fresh->label) continue;
        auto earlier_key = fresh->hsm->private_key(label);
        auto earlier_cert = fresh->hsm->certificate(label);
        if (earlier_key && earlier_cert)
          fresh->earlier.emplace_back(*earlier_key, std::move(*earlier_cert));
      }
    }
    handle = fresh;
    std::lock_guard lock(hsm_mutex_);
    hsm_ = fresh;
  }
  if (auto ok = handle->hsm->check(handle->label); !ok) {
    why = "HSM: " + ok.error().message;
    std::lock_guard lock(hsm_mutex_);
    if (hsm_ == handle) hsm_.reset();  // open it afresh next time; users keep theirs alive
    return false;
  }
  return own_certificate_usable(handle->certificate.get(), handle->key_created, why);
}

std::string Gateway::key_label() {
  std::lock_guard lock(hsm_mutex_);
  return key_label_;
}

Result<seemail::SigningKeys> Gateway::signing_keys() {
  if (!config_.hsm.configured())
    return fail(Errc::config, "no HSM is configured ([hsm] token): the gateway cannot sign");
  std::shared_ptr<HsmHandle> handle;
  std::shared_ptr<const std::vector<x509::Certificate>> chain;
  {
    std::lock_guard lock(hsm_mutex_);
    handle = hsm_;
    chain = own_chain_;
  }
  if (!handle || !operational_.load()) return fail(Errc::unavailable, "the HSM is not available");
  // OUT-7: every signature carries the issuer chain; the owner keeps both alive while in use.
  struct InUse {
    std::shared_ptr<HsmHandle> handle;
    std::shared_ptr<const std::vector<x509::Certificate>> chain;
  };
  auto in_use = std::make_shared<const InUse>(InUse{handle, chain});
  seemail::SigningKeys keys{in_use, handle->key, handle->certificate.get(), {}};
  if (chain)
    for (const auto& c : *chain) keys.chain.push_back(c.get());
  for (const auto& [key, cert] : handle->earlier) keys.earlier.push_back({key, cert.get()});
  return keys;
}

std::shared_ptr<const seemail::TrustState> Gateway::trust() {
  std::lock_guard lock(trust_mutex_);
  return trust_;
}

Result<void> Gateway::reload_policy() {
  if (config_.policy_snapshot.empty())
    return fail(Errc::config, "no policy snapshot is configured ([policy] snapshot)");
  std::lock_guard reloading(reload_mutex_);
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(config_.policy_snapshot, ec);
  auto loaded =
      seemail::load_trust_state(config_.policy_snapshot, config_.domain, config_.local_domains,
                                {config_.spool_path / "certificates"}, std::time(nullptr));
  policy_loaded_ = std::chrono::steady_clock::now();
  policy_mtime_ = mtime;
  if (!loaded) {
    if (policy_good_)
      log::error("policy: {} not loaded, keeping the last good snapshot: {}",
                 config_.policy_snapshot.string(), loaded.error().message);
    else if (policy_error_ != loaded.error().message)
      log::error("policy: {} not loaded: {}", config_.policy_snapshot.string(),
                 loaded.error().message);
    if (!policy_good_) policy_error_ = loaded.error().message;
    return std::unexpected(loaded.error());
  }
  policy_good_ = true;
  policy_error_.clear();
  std::string states;
  for (const auto& [domain, cert] : (*loaded)->policy.certificates)
    states += fmt::format(" {}={}", domain, static_cast<int>(cert.state));
  log::info("policy: snapshot version {} loaded: {} agencies, {} trusted, {} certificates{}",
            (*loaded)->policy.version, (*loaded)->policy.seemail.size(),
            (*loaded)->policy.trusted.size(), (*loaded)->certificates.size(), states);
  {
    std::lock_guard lock(trust_mutex_);
    trust_ = *loaded;
  }
  release_for_new_certificates(std::move(*loaded));
  return {};
}

void Gateway::release_for_new_certificates(std::shared_ptr<const seemail::TrustState> trust) {
  std::set<std::string> usable;
  for (const auto& [domain, cert] : trust->policy.certificates)
    if (policy::certificate_usable(trust->policy, domain) && trust->certificate_for(domain))
      usable.insert(domain);
  // Only a domain that gained a certificate can release anything: the hold queue is read then,
  // not at every reload. Before the queue exists (start-up) the first look comes after it starts.
  const bool gained = std::any_of(usable.begin(), usable.end(),
                                  [&](const std::string& d) { return !usable_domains_.count(d); });
  if (!queue_) return;
  for (const auto& d : usable)
    if (!usable_domains_.count(d) && seeker_) seeker_->found(d);
  usable_domains_ = usable;
  if (!gained) return;
  queue_->release_awaiting(
      [usable = std::move(usable)](const std::string& domain) { return usable.count(domain) > 0; });
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
  auto request = processor_->certificate_request(domain, std::time(nullptr));
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
    if (!config_.policy_snapshot.empty()) {
      std::error_code ec;
      auto mtime = std::filesystem::last_write_time(config_.policy_snapshot, ec);
      bool due;
      {
        std::lock_guard reloading(reload_mutex_);
        due = requested || (!ec && mtime != policy_mtime_) ||
              std::chrono::steady_clock::now() - policy_loaded_ >= config_.policy_reload_interval;
      }
      if (due) (void)reload_policy();
    }
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
