// The data plane's side of administration: what only this process can do, because it alone
// holds the spool, the live policy snapshot and the HSM PIN. seegw-control calls these on behalf
// of the console after it has checked the caller's role; replies are "ok ..." or "error: ...",
// then tab-separated rows.
#include <openssl/evp.h>
#include <unistd.h>

#include <fmt/format.h>

#include <sstream>

#include "seegw/common/log.hpp"
#include "seegw/relay/gateway.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::relay {
namespace {

namespace fs = std::filesystem;

// Values in a row must not break it.
std::string cell(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
  return out;
}

std::string not_after(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

Result<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return fail(Errc::parse, "the certificate is not base64");
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return fail(Errc::parse, "the certificate is not base64");
  std::size_t len = static_cast<std::size_t>(n);
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) --len;  // padding
  out.resize(len);
  return out;
}

bool is_domain(std::string_view d) {
  return !d.empty() && d.size() <= 253 && d.front() != '.' &&
         d.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string_view::npos;
}

}  // namespace

std::string Gateway::admin_command(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  const std::string verb = words.empty() ? "" : words[0];
  const std::string arg = words.size() > 1 ? words[1] : "";
  if (verb == "status") {
    auto s = queue_->stats();
    auto t = trust();
    return fmt::format(
        "ok\noperational: {}\nfault: {}\nown certificate: {}\nversion: {}\npolicy snapshot: "
        "version {} "
        "({} agencies, {} vendors)\n"
        "accepted: {}\ndelivered: {}\ndeferred: {}\nbounced: {}\nblocked: {}\nheld: {}\n"
        "answered: {}\ngenerated: {}\ncorrupt: {}\nin flight: {}\n",
        operational() ? "yes" : "no", operational() ? "" : fault(), own_certificate(),
        SEEGW_VERSION, t->policy.version, t->policy.seemail.size(), t->policy.vendors.size(),
        s.accepted, s.delivered, s.deferred, s.bounced, s.blocked, s.held, s.answered, s.generated,
        s.corrupt, queue_->in_flight());
  }
  if (verb == "held") {
    std::string out = "ok\n";
    for (const auto& h : queue_->held()) {
      std::string rcpts;
      for (const auto& r : h.recipients) rcpts += (rcpts.empty() ? "" : ",") + r;
      out += fmt::format("{}\t{}\t<{}>\t{}\t{}\n", h.id, h.arrival, cell(h.sender), cell(rcpts),
                         cell(h.reason));
    }
    return out;
  }
  if (verb == "queue") {
    std::string out = "ok\n";
    for (const auto& w : queue_->waiting()) {
      std::string rcpts;
      for (const auto& r : w.recipients) rcpts += (rcpts.empty() ? "" : ",") + r;
      out += fmt::format("{}\t{}\t{}\t{}\t<{}>\t{}\t{}\n", w.id, w.state, w.arrival, w.next_attempt,
                         cell(w.sender), cell(rcpts), cell(w.last_error));
    }
    return out;
  }
  if (verb == "log") {
    std::uint64_t after = 0;
    if (!arg.empty()) std::istringstream(arg) >> after;
    std::string out = "ok\n";
    for (const auto& e : log::events_after(after))
      out += fmt::format("{}\t{}\t{}\t{}\t{}\n", e.seq, e.time_ms, log::level_name(e.level),
                         cell(e.program), cell(e.text));
    return out;
  }
  if (verb == "key") return key_command(words);
  if (verb == "stack") {
    if (plane_) return "ok\n" + plane_->statistics();
    return "error: the poll-mode data plane is not running ([dpdk] enabled = false)";
  }
  if (verb == "reload") {
    auto r = reload_policy();
    return r ? fmt::format("ok policy snapshot version {}", trust()->policy.version)
             : "error: " + r.error().message;
  }
  if (verb == "check") {
    if (config_.policy_snapshot.empty()) return "ok no policy snapshot is configured";
    auto loaded =
        seemail::load_trust_state(config_.policy_snapshot, config_.domain, config_.local_domains,
                                  {config_.spool_path / "certificates"}, std::time(nullptr));
    if (!loaded) return "error: " + loaded.error().message;
    return fmt::format("ok {} is valid: version {}, {} agencies, {} certificates",
                       config_.policy_snapshot.string(), (*loaded)->policy.version,
                       (*loaded)->policy.seemail.size(), (*loaded)->certificates.size());
  }
  const seemail::LearntStore learnt{config_.spool_path / "certificates"};
  if (verb == "certificates") {
    std::string out = "ok\n";
    auto t = trust();
    for (const auto& [domain, cert] : t->certificates) {
      auto st = t->policy.certificates.find(domain);
      std::string state = "unknown";
      if (st != t->policy.certificates.end())
        state = fmt::format("{}", policy::cert_state_name(st->second.state));
      std::error_code ec;
      const bool was_learnt = fs::exists(learnt.learnt() / (domain + ".pem"), ec);
      out += fmt::format("{}\t{}\t{}\t{}\t{}\n", domain, was_learnt ? "learnt" : "snapshot", state,
                         cell(x509::subject_text(cert.get())), not_after(cert.get()));
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(learnt.pending(), ec)) {
      if (e.path().extension() != ".pem") continue;
      auto cert = x509::load_certificate_file(e.path().string());
      if (!cert) continue;
      out += fmt::format("{}\tpending\tawaiting approval\t{}\t{}\n", e.path().stem().string(),
                         cell(x509::subject_text(cert->get())), not_after(cert->get()));
    }
    return out;
  }
  if ((verb == "approve" || verb == "export" || verb == "ping") && !is_domain(arg))
    return "error: " + verb + " needs a mail domain";
  if (verb == "approve") {
    const fs::path from = learnt.pending() / (arg + ".pem");
    std::error_code ec;
    if (!fs::exists(from, ec)) return "error: no certificate for " + arg + " awaits approval";
    fs::create_directories(learnt.learnt(), ec);
    fs::rename(from, learnt.learnt() / (arg + ".pem"), ec);
    if (ec) return "error: approve " + arg + ": " + ec.message();
    log::notice("certificates: the certificate learnt for {} was approved", arg);
    auto r = reload_policy();
    return r ? "ok the certificate for " + arg + " is in use"
             : "error: approved, but the snapshot did not reload: " + r.error().message;
  }
  if (verb == "own-certificate") {  // §2.15: what `certificate publish` puts in the directory
    std::lock_guard lock(hsm_mutex_);
    if (!hsm_ || !hsm_->certificate) return "error: the HSM and our certificate are not open";
    return "ok\n" + x509::to_pem(hsm_->certificate.get());
  }
  if (verb == "export") {
    auto t = trust();
    if (X509* cert = t->certificate_for(arg)) return "ok\n" + x509::to_pem(cert);
    if (auto cert = x509::load_certificate_file((learnt.pending() / (arg + ".pem")).string()))
      return "ok\n" + x509::to_pem(cert->get());
    return "error: no certificate is known for " + arg;
  }
  if (verb == "ping") {
    // OPS-3's request: an ordinary message to the agency's ping address, from our postmaster
    // (the answer comes back there); the outbound rules sign and encrypt it like any other.
    const std::string from = "postmaster@" + config_.domain;
    seemail::GeneratedMessage m;
    m.recipients = {"seemail-ping@" + arg};
    m.envelope_sender = from;
    m.what = "seemail-ping to " + arg;
    m.content = fmt::format(
        "From: <{}>\r\nTo: <seemail-ping@{}>\r\nSubject: seemail-ping\r\nDate: {}\r\n"
        "Message-ID: <ping.{}.{}@{}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nseemail-ping from {}\r\n",
        from, arg, seemail::rfc5322_date(std::time(nullptr)), std::time(nullptr), ::getpid(),
        config_.domain, config_.hostname);
    queue_->inject(std::move(m), "console");
    return "ok seemail-ping sent to seemail-ping@" + arg + "; the answer goes to " + from;
  }
  if ((verb == "release" || verb == "delete" || verb == "explain" || verb == "requeue") &&
      arg.empty())
    return "error: " + verb + " needs a queue ID";
  // The ID becomes a file name in the spool: nothing but a well-formed queue ID gets that far.
  if (!arg.empty() && !spool::is_queue_id(arg)) return "error: '" + arg + "' is not a queue ID";
  if (verb == "release" || verb == "delete" || verb == "requeue") {
    auto r = verb == "release"  ? queue_->release(arg)
             : verb == "delete" ? queue_->remove_held(arg)
                                : queue_->requeue(arg);
    return r ? "ok " + verb + "d " + arg : "error: " + r.error().message;
  }
  if (verb == "explain") {
    auto lines = queue_->explain(arg);
    if (lines.empty()) return "error: nothing known about " + arg + " (too old, or never seen)";
    std::string out = "ok\n";
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
  return "error: unknown command '" + verb +
         "' (status, held, queue, log, release ID, delete ID, requeue ID, explain ID, reload, "
         "check, certificates, approve DOMAIN, export DOMAIN, ping DOMAIN, key ...)";
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
    auto opened = pkcs11::Hsm::open(hsm);
    if (!opened) return "error: " + opened.error().message;
    auto key = (*opened)->private_key(label);
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
  auto session = pkcs11::TokenSession::open(hsm);
  if (!session) return "error: " + session.error().message;
  if (sub == "list") {
    auto keys = (*session)->private_keys();
    if (!keys) return "error: " + keys.error().message;
    std::string out = "ok\n";
    for (const auto& k : *keys)
      out += fmt::format(
          "{}\t{}\t{}\t{}\n", k.label, k.type, k.label == config_.hsm.key_label ? "in use" : "-",
          k.sensitive && !k.extractable && !k.value_readable ? "cannot leave the token"
                                                             : "EXTRACTABLE");
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
  if (sub == "install") {
    if (words.size() != 4) return "error: key install needs a label and a certificate";
    auto pem = base64_decode(words[3]);
    if (!pem) return "error: " + pem.error().message;
    auto certs = x509::load_certificates(*pem);
    if (!certs || certs->empty()) return "error: that is not a certificate";
    // The certificate must belong to the key, or every signature would fail verification.
    auto opened = pkcs11::Hsm::open(hsm);
    if (!opened) return "error: " + opened.error().message;
    auto key = (*opened)->private_key(label);
    if (!key) return "error: " + key.error().message;
    if (X509_check_private_key(certs->front().get(), *key) != 1)
      return "error: the certificate is not for key " + label;
    // §2.9: a certificate we may not sign with is refused now, not found at the next check.
    std::vector<X509*> intermediates;
    for (const auto& c : configured_chain_) intermediates.push_back(c.get());
    const auto v =
        trust()->check(certs->front().get(), intermediates, config_.domain, std::time(nullptr));
    if (v.state != x509::CertificateState::valid &&
        v.state != x509::CertificateState::status_unknown)
      return fmt::format("error: the certificate is not valid for {}: {} ({})", config_.domain,
                         x509::state_name(v.state), v.detail);
    if (auto i = (*session)->import_certificate(label, certs->front().get()); !i)
      return "error: " + i.error().message;
    drop_handle();
    log::notice("hsm: certificate {} installed for key {}",
                x509::subject_text(certs->front().get()), label);
    return "ok certificate installed for " + label;
  }
  if (sub == "retire") {
    auto n = (*session)->destroy_objects(label);
    if (!n) return "error: " + n.error().message;
    if (*n == 0) return "error: no key labelled " + label;
    drop_handle();
    log::warning("hsm: key {} retired ({} objects destroyed){}", label, *n,
                 label == config_.hsm.key_label ? "; secure mail waits until a new key and "
                                                  "certificate are installed"
                                                : "");
    return fmt::format("ok key {} retired ({} objects destroyed)", label, *n);
  }
  return "error: key list|generate LABEL [TYPE]|csr LABEL ADDRESS [NAME]|install LABEL "
         "BASE64-PEM|retire LABEL";
}

}  // namespace seegw::relay
