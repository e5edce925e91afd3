// The data plane's side of administration: what only this process can do, because it alone
// holds the spool, the live policy snapshot and the HSM PIN. seegw-control calls these on behalf
// of the console after it has checked the caller's role; replies are "ok ..." or "error: ...",
// then tab-separated rows.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/relay/gateway.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "seegw/smtp/received_header.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::relay {
namespace {

namespace fs = std::filesystem;

std::string not_after(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

bool is_domain(std::string_view d) {
  return !d.empty() && d.size() <= 253 && d.front() != '.' &&
         d.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string_view::npos;
}

}  // namespace

using Words = std::vector<std::string>;

// The admin socket's verbs, one handler each, found by table (Gateway's friend: they work on
// its spool, snapshot and HSM handle). `arg` says what the first argument must be; it is checked
// before the handler runs — a queue ID becomes a file name in the spool, so nothing but a
// well-formed one gets that far.
struct AdminVerbs {
  enum class Arg { none, domain, queue_id };
  using Handler = std::string (*)(Gateway&, const Words&);
  struct Row {
    std::string_view verb;
    Arg arg;
    Handler handler;
  };

  static std::string status(Gateway& g, const Words&) {
    auto s = g.queue_->stats();
    auto t = g.trust();
    return fmt::format(
        "ok\noperational: {}\nfault: {}\nown certificate: {}\nversion: {}\npolicy snapshot: "
        "version {} ({} agencies, {} vendors)\n"
        "accepted: {}\ndelivered: {}\ndeferred: {}\nbounced: {}\nblocked: {}\nheld: {}\n"
        "answered: {}\ngenerated: {}\ncorrupt: {}\nin flight: {}\n",
        g.operational() ? "yes" : "no", g.operational() ? "" : g.fault(), g.own_certificate(),
        SEEGW_VERSION, t->policy.version, t->policy.seemail.size(), t->policy.vendors.size(),
        s.accepted, s.delivered, s.deferred, s.bounced, s.blocked, s.held, s.answered, s.generated,
        s.corrupt, g.queue_->in_flight());
  }

  static std::string held(Gateway& g, const Words&) {
    std::string out = rows_header();
    for (const auto& h : g.queue_->held())
      out += admin::encode(admin::HeldRow{h.id, h.arrival, h.sender, h.recipients, h.reason});
    return out;
  }

  static std::string queue(Gateway& g, const Words&) {
    std::string out = rows_header();
    for (const auto& w : g.queue_->waiting())
      out += admin::encode(admin::QueueRow{w.id, w.state, w.arrival, w.next_attempt, w.sender,
                                           w.recipients, w.last_error});
    return out;
  }

  static std::string log_events(Gateway&, const Words& words) {
    std::uint64_t after = 0;
    if (words.size() > 1) std::istringstream(words[1]) >> after;
    std::string out = rows_header();
    for (const auto& e : log::events_after(after))
      out += admin::encode(admin::LogRow{e.seq, e.time_ms, std::string(log::level_name(e.level)),
                                         e.program, e.text});
    return out;
  }

  static std::string key(Gateway& g, const Words& words) { return g.key_command(words); }

  static std::string stack(Gateway& g, const Words&) {
    if (g.plane_) return "ok\n" + g.plane_->statistics();
    return "error: the poll-mode data plane is not running ([dpdk] enabled = false)";
  }

  static std::string reload(Gateway& g, const Words&) {
    auto r = g.reload_policy();
    return r ? fmt::format("ok policy snapshot version {}", g.trust()->policy.version)
             : "error: " + r.error().message;
  }

  static std::string check(Gateway& g, const Words&) {
    const auto& c = g.config_;
    if (c.policy_snapshot.empty()) return "ok no policy snapshot is configured";
    auto loaded = seemail::load_trust_state(c.policy_snapshot, c.domain, c.local_domains,
                                            learnt_store(g), std::time(nullptr));
    if (!loaded) return "error: " + loaded.error().message;
    return fmt::format("ok {} is valid: version {}, {} agencies, {} certificates",
                       c.policy_snapshot.string(), (*loaded)->policy.version,
                       (*loaded)->policy.seemail.size(), (*loaded)->certificates.size());
  }

  static std::string certificates(Gateway& g, const Words&) {
    const auto learnt = learnt_store(g);
    std::string out = rows_header();
    auto t = g.trust();
    for (const auto& [domain, cert] : t->certificates) {
      auto st = t->policy.certificates.find(domain);
      const std::string state = st == t->policy.certificates.end()
                                    ? "unknown"
                                    : std::string(policy::cert_state_name(st->second.state));
      std::error_code ec;
      const bool was_learnt = fs::exists(learnt.learnt() / (domain + ".pem"), ec);
      out += admin::encode(admin::CertificateRow{domain, was_learnt ? "learnt" : "snapshot", state,
                                                 x509::subject_text(cert.get()),
                                                 not_after(cert.get())});
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(learnt.pending(), ec)) {
      if (e.path().extension() != ".pem") continue;
      auto cert = x509::load_certificate_file(e.path().string());
      if (!cert) continue;
      out += admin::encode(
          admin::CertificateRow{e.path().stem().string(), "pending", "awaiting approval",
                                x509::subject_text(cert->get()), not_after(cert->get())});
    }
    return out;
  }

  static std::string approve(Gateway& g, const Words& words) {
    const std::string& domain = words[1];
    const auto learnt = learnt_store(g);
    const fs::path from = learnt.pending() / (domain + ".pem");
    std::error_code ec;
    if (!fs::exists(from, ec)) return "error: no certificate for " + domain + " awaits approval";
    fs::create_directories(learnt.learnt(), ec);
    fs::rename(from, learnt.learnt() / (domain + ".pem"), ec);
    if (ec) return "error: approve " + domain + ": " + ec.message();
    log::notice("certificates: the certificate learnt for {} was approved", domain);
    auto r = g.reload_policy();
    return r ? "ok the certificate for " + domain + " is in use"
             : "error: approved, but the snapshot did not reload: " + r.error().message;
  }

  static std::string own_certificate(Gateway& g, const Words&) {  // §2.15: for the directory
    {
      std::lock_guard lock(g.hsm_mutex_);
      if (g.hsm_ && g.hsm_->certificate && g.hsm_->label == g.key_label_)
        return "ok\n" + x509::to_pem(g.hsm_->certificate.get());
    }
    // Right after a key switch, before the next health check opens the token again.
    if (!g.config_.hsm.configured()) return "error: no HSM is configured ([hsm] token)";
    auto token = g.token_access();
    if (!token) return "error: " + token.error().message;
    auto cert = token->hsm().certificate(g.key_label());
    if (!cert) return "error: " + cert.error().message;
    return "ok\n" + x509::to_pem(cert->get());
  }

  static std::string export_certificate(Gateway& g, const Words& words) {
    const std::string& domain = words[1];
    if (X509* cert = g.trust()->certificate_for(domain)) return "ok\n" + x509::to_pem(cert);
    if (auto cert =
            x509::load_certificate_file((learnt_store(g).pending() / (domain + ".pem")).string()))
      return "ok\n" + x509::to_pem(cert->get());
    return "error: no certificate is known for " + domain;
  }

  // OPS-3's request: an ordinary message to the agency's ping address, from our postmaster (the
  // answer comes back there); the outbound rules sign and encrypt it like any other.
  static std::string ping(Gateway& g, const Words& words) {
    const std::string& domain = words[1];
    const auto& c = g.config_;
    const std::string from = "postmaster@" + c.domain;
    seemail::GeneratedMessage m;
    m.recipients = {"seemail-ping@" + domain};
    m.envelope_sender = from;
    m.what = "seemail-ping to " + domain;
    m.content = fmt::format(
        "From: <{}>\r\nTo: <seemail-ping@{}>\r\nSubject: seemail-ping\r\nDate: {}\r\n"
        "Message-ID: <ping.{}.{}@{}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nseemail-ping from {}\r\n",
        from, domain, smtp::rfc5322_date(std::time(nullptr)), std::time(nullptr), ::getpid(),
        c.domain, c.hostname);
    g.queue_->inject(std::move(m), "console");
    return "ok seemail-ping sent to seemail-ping@" + domain + "; the answer goes to " + from;
  }

  // DIR-2 fallback (§2.8): the signed e-mail request, sent at seegw-control's word when its
  // directory holds no certificate for the domain.
  static std::string request_certificate(Gateway& g, const Words& words) {
    auto sent = g.send_certificate_request(ascii_lower(words[1]));
    return sent ? "ok " + *sent : "error: " + sent.error().message;
  }

  static std::string release(Gateway& g, const Words& w) {
    return done("release", w[1], g.queue_->release(w[1]));
  }
  static std::string remove(Gateway& g, const Words& w) {
    return done("delete", w[1], g.queue_->remove_held(w[1]));
  }
  static std::string requeue(Gateway& g, const Words& w) {
    return done("requeue", w[1], g.queue_->requeue(w[1]));
  }

  static std::string explain(Gateway& g, const Words& words) {
    auto lines = g.queue_->explain(words[1]);
    if (lines.empty())
      return "error: nothing known about " + words[1] + " (too old, or never seen)";
    std::string out = "ok\n";
    for (const auto& l : lines) out += l + "\n";
    return out;
  }

  static const std::vector<Row>& table() {
    static const std::vector<Row> t = {
        {"status", Arg::none, status},
        {"held", Arg::none, held},
        {"queue", Arg::none, queue},
        {"log", Arg::none, log_events},
        {"key", Arg::none, key},
        {"stack", Arg::none, stack},
        {"reload", Arg::none, reload},
        {"check", Arg::none, check},
        {"certificates", Arg::none, certificates},
        {"approve", Arg::domain, approve},
        {"own-certificate", Arg::none, own_certificate},
        {"export", Arg::domain, export_certificate},
        {"ping", Arg::domain, ping},
        {"request-certificate", Arg::domain, request_certificate},
        {"release", Arg::queue_id, release},
        {"delete", Arg::queue_id, remove},
        {"requeue", Arg::queue_id, requeue},
        {"explain", Arg::queue_id, explain},
    };
    return t;
  }

 private:
  static std::string rows_header() { return std::string(admin::kRowsHeader) + "\n"; }
  static seemail::LearntStore learnt_store(const Gateway& g) {
    return {g.config_.spool_path / "certificates"};
  }
  static std::string done(std::string_view verb, const std::string& id, const Result<void>& r) {
    return r ? fmt::format("ok {}d {}", verb, id) : "error: " + r.error().message;
  }
};

std::string Gateway::admin_command(const std::string& line) {
  std::istringstream in(line);
  Words words;
  for (std::string w; in >> w;) words.push_back(w);
  const std::string verb = words.empty() ? "" : words[0];
  const std::string arg = words.size() > 1 ? words[1] : "";
  const auto& table = AdminVerbs::table();
  const auto row = std::find_if(table.begin(), table.end(),
                                [&](const AdminVerbs::Row& r) { return r.verb == verb; });
  if (row == table.end()) {
    std::string verbs;
    for (const auto& r : table) verbs += fmt::format("{}{}", verbs.empty() ? "" : ", ", r.verb);
    return "error: unknown command '" + verb + "' (" + verbs + ")";
  }
  using Arg = AdminVerbs::Arg;
  if (row->arg == Arg::domain && !is_domain(arg)) return "error: " + verb + " needs a mail domain";
  if (row->arg == Arg::queue_id && arg.empty()) return "error: " + verb + " needs a queue ID";
  if (row->arg == Arg::queue_id && !spool::is_queue_id(arg))
    return "error: '" + arg + "' is not a queue ID";
  return row->handler(*this, words);
}

// OPS-5 through the process that holds the PIN. Every change drops the live HSM handle so the
// health check opens the token afresh: a retired key stops secure mail at once (fail closed),
// an installed certificate is used from the next check on.
std::string Gateway::key_command(const std::vector<std::string>& words) {
  if (!config_.hsm.configured()) return "error: no HSM is configured ([hsm] token)";
  const std::string sub = words.size() > 1 ? words[1] : "";
  const std::string label = words.size() > 2 ? words[2] : "";
  if (sub != "list" && label.empty()) return "error: key " + sub + " needs a label";
  const pkcs11::HsmConfig hsm{config_.hsm.module, config_.hsm.token, config_.hsm.pin_file};
  std::lock_guard serial(health_check_mutex_);
  auto drop_handle = [&] {
    std::lock_guard lock(hsm_mutex_);
    hsm_.reset();
  };
  if (sub == "csr") {
    if (words.size() < 4) return "error: key csr needs a label and an address";
    auto token = token_access();
    if (!token) return "error: " + token.error().message;
    auto key = token->hsm().private_key(label);
    if (!key) return "error: " + key.error().message;
    std::string cn = "domain-confidentiality-authority";
    if (words.size() > 4) {
      cn.clear();
      for (std::size_t i = 4; i < words.size(); ++i) cn += (cn.empty() ? "" : " ") + words[i];
    }
    auto csr = pkcs11::make_csr(*key, cn, {words[3]});
    if (!csr) return "error: " + csr.error().message;
    log::notice("hsm: certificate request made for key {}", label);
    return "ok\n" + *csr;
  }
  if (sub == "switch") return switch_key(label);
  if (sub == "install") return install_certificate(label, words.size() == 4 ? words[3] : "");
  auto session = pkcs11::TokenSession::open(hsm);
  if (!session) return "error: " + session.error().message;
  if (sub == "list") {
    const std::string in_use = key_label();
    auto keys = (*session)->private_keys();
    if (!keys) return "error: " + keys.error().message;
    std::string out(admin::kRowsHeader);
    out += "\n";
    for (const auto& k : *keys)
      out += admin::encode(admin::KeyRow{k.label, k.type, k.label == in_use ? "in use" : "-",
                                         k.sensitive && !k.extractable && !k.value_readable
                                             ? "cannot leave the token"
                                             : "EXTRACTABLE"});
    return out;
  }
  if (sub == "generate") {
    auto type = pkcs11::parse_key_type(words.size() > 3 ? words[3] : "rsa:2048");
    if (!type) return "error: " + type.error().message;
    auto existing = (*session)->private_keys();
    if (existing)
      for (const auto& k : *existing)
        if (k.label == label) return "error: a key labelled " + label + " exists; retire it first";
    if (auto g = (*session)->generate_key_pair(label, *type); !g)
      return "error: " + g.error().message;
    log::notice("hsm: key pair {} generated", label);
    return "ok key pair " + label + " generated inside the token";
  }
  if (sub == "retire") {
    auto n = (*session)->destroy_objects(label);
    if (!n) return "error: " + n.error().message;
    if (*n == 0) return "error: no key labelled " + label;
    drop_handle();
    log::warning("hsm: key {} retired ({} objects destroyed){}", label, *n,
                 label == key_label() ? "; secure mail waits until a new key and "
                                        "certificate are installed"
                                      : "");
    return fmt::format("ok key {} retired ({} objects destroyed)", label, *n);
  }
  return "error: key list|generate LABEL [TYPE]|csr LABEL ADDRESS [NAME]|install LABEL "
         "BASE64-PEM|switch LABEL|retire LABEL";
}

// The key commands read keys and certificates through the live libp11 context when there is
// one: a second context, opening its session, closes every session of the slot (libp11 resets
// the slot's pool) — the signing key's and a TokenSession's among them.
Result<Gateway::TokenAccess> Gateway::token_access() {
  TokenAccess access;
  {
    std::lock_guard lock(hsm_mutex_);
    access.live = hsm_;
  }
  if (access.live) return access;
  auto opened = pkcs11::Hsm::open({config_.hsm.module, config_.hsm.token, config_.hsm.pin_file});
  if (!opened) return std::unexpected(opened.error());
  access.own = std::move(*opened);
  return access;
}

// Called from key_command (health_check_mutex_ held). Every check that reads the token comes
// before the TokenSession that writes the certificate (see token_access).
std::string Gateway::install_certificate(const std::string& label, const std::string& base64) {
  if (base64.empty()) return "error: key install needs a label and a certificate";
  // The PEM text travels base64-encoded on the admin line; what decodes to no certificate is
  // refused below, whatever it was.
  auto certs = x509::load_certificates(mime::decode_base64(base64));
  if (!certs || certs->empty()) return "error: that is not a certificate";
  {
    // The certificate must belong to the key, or every signature would fail verification.
    auto token = token_access();
    if (!token) return "error: " + token.error().message;
    auto key = token->hsm().private_key(label);
    if (!key) return "error: " + key.error().message;
    if (X509_check_private_key(certs->front().get(), *key) != 1)
      return "error: the certificate is not for key " + label;
  }
  if (auto refused = refuse_own_certificate(certs->front().get()); !refused.empty()) return refused;
  auto session =
      pkcs11::TokenSession::open({config_.hsm.module, config_.hsm.token, config_.hsm.pin_file});
  if (!session) return "error: " + session.error().message;
  if (auto i = (*session)->import_certificate(label, certs->front().get()); !i)
    return "error: " + i.error().message;
  {
    std::lock_guard lock(hsm_mutex_);
    hsm_.reset();  // the next health check opens the token afresh, with the certificate
  }
  log::notice("hsm: certificate {} installed for key {}", x509::subject_text(certs->front().get()),
              label);
  return "ok certificate installed for " + label;
}

// §2.9: a certificate we may not sign with is refused now, not found at the next check.
std::string Gateway::refuse_own_certificate(X509* certificate) {
  std::vector<X509*> intermediates;
  for (const auto& c : configured_chain_) intermediates.push_back(c.get());
  const auto v = trust()->check(certificate, intermediates, config_.domain, std::time(nullptr));
  if (v.state == x509::CertificateState::valid || v.state == x509::CertificateState::status_unknown)
    return "";
  return fmt::format("error: the certificate is not valid for {}: {} ({})", config_.domain,
                     x509::state_name(v.state), v.detail);
}

// Called from key_command (health_check_mutex_ held): the key must be in the token with a
// certificate we may sign with, and the choice is on disk before it is used.
std::string Gateway::switch_key(const std::string& label) {
  auto token = token_access();
  if (!token) return "error: " + token.error().message;
  if (auto key = token->hsm().private_key(label); !key) return "error: " + key.error().message;
  auto cert = token->hsm().certificate(label);
  if (!cert) return "error: key " + label + " has no certificate yet: key install it first";
  if (auto refused = refuse_own_certificate(cert->get()); !refused.empty()) return refused;
  const auto file = config_.spool_path / "certificates" / "current-key";
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (auto w = write_file_atomically(file, label + "\n"); !w)
    return "error: the choice could not be kept in " + file.string() + ": " + w.error().message;
  std::string previous;
  {
    std::lock_guard lock(hsm_mutex_);
    previous = std::exchange(key_label_, label);
    hsm_.reset();  // the next health check opens the token with the new key
  }
  log::notice("hsm: key {} signs from now on ({}); {} still decrypts until it is retired", label,
              x509::subject_text(cert->get()), previous);
  if (previous == label) return "ok key " + label + " already signs";
  return fmt::format(
      "ok key {} signs from now on; {} still decrypts mail in transit until 'key retire {}'", label,
      previous, previous);
}

}  // namespace seegw::relay
