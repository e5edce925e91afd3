// The data plane's side of administration: what only this process can do, because it alone
// holds the spool, the live policy snapshot and the HSM PIN. seegw-control calls these on behalf
// of the console after it has checked the caller's role; replies are "ok ..." or "error: ...",
// then tab-separated rows.
#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "inbound_checks.hpp"
#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/keys/key_service.hpp"
#include "seegw/relay/gateway.hpp"
#include "seegw/relay/sge_report.hpp"
#include "seegw/seemail/internal_messages.hpp"
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
               "ok\noperational: {}\nfault: {}\nown certificate: {}\nversion: {}\npolicy "
               "snapshot: version {} ({} agencies, {} vendors)\n"
               "accepted: {}\ndelivered: {}\ndeferred: {}\nbounced: {}\nblocked: {}\nheld: {}\n"
               "answered: {}\ngenerated: {}\ncorrupt: {}\nin flight: {}\nconnections: {}\n",
               g.operational() ? "yes" : "no", g.operational() ? "" : g.fault(),
               g.own_certificate(), SEEGW_VERSION, t->policy.version, t->policy.seemail.size(),
               t->policy.vendors.size(), s.accepted, s.delivered, s.deferred, s.bounced, s.blocked,
               s.held, s.answered, s.generated, s.corrupt, g.queue_->in_flight(),
               g.smtp_connections()) +
           spool_space(*g.spool_) + inbound_checks(g);
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

  // OPS-5 through the process that holds the PIN.
  static std::string key(Gateway& g, const Words& words) {
    return g.keys_->command(words, [&g](X509* c) { return g.refuse_own_certificate(c); });
  }

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
    auto loaded = g.trust_->read();
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

  static std::string dkim(Gateway& g, const Words& words) {
    return g.dkim_keys_->command(words, dkim_domains(g.config_));
  }

  // What our DNS must publish for Secure Government Email, checked (`show sge`).
  static std::string sge(Gateway& g, const Words&) {
    auto resolver = g.resolver();
    if (!resolver) return "error: " + resolver.error().message;
    std::vector<ExpectedDkimRecord> dkim;
    if (g.dkim_keys_->configured()) {
      auto keys = g.dkim_keys_->published();
      if (!keys) return "error: the DKIM keys cannot be read: " + keys.error().message;
      for (const auto& k : *keys) dkim.push_back({k.key.selector, k.text, k.signing});
    }
    return sge_report(dkim_domains(g.config_), dkim, **resolver);
  }

  // TLS-RPT now, instead of at the end of the UTC day.
  static std::string tls_report(Gateway& g, const Words&) {
    const auto sent = g.send_tls_reports(std::time(nullptr));
    std::string out = fmt::format("ok {} TLS report(s)\n", sent.size());
    for (const auto& line : sent) out += line + "\n";
    return out;
  }

  static std::string own_certificate(Gateway& g, const Words&) {  // §2.15: for the directory
    auto pem = g.keys_->certificate_pem();
    return pem ? "ok\n" + *pem : "error: " + pem.error().message;
  }

  static std::string export_certificate(Gateway& g, const Words& words) {
    const std::string& domain = words[1];
    if (X509* cert = g.trust()->certificate_for(domain)) return "ok\n" + x509::to_pem(cert);
    if (auto cert =
            x509::load_certificate_file((learnt_store(g).pending() / (domain + ".pem")).string()))
      return "ok\n" + x509::to_pem(cert->get());
    return "error: no certificate is known for " + domain;
  }

  // OPS-3's request; the answer comes back to our postmaster.
  static std::string ping(Gateway& g, const Words& words) {
    const std::string& domain = words[1];
    const auto& c = g.config_;
    g.queue_->inject(seemail::ping_request({c.hostname, c.domain}, domain, std::time(nullptr)),
                     "console");
    return "ok seemail-ping sent to seemail-ping@" + domain + "; the answer goes to postmaster@" +
           c.domain;
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
        {"dkim", Arg::none, dkim},
        {"sge", Arg::none, sge},
        {"tls-report", Arg::none, tls_report},
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
  // Issue 15 item 1: the operator sees when new mail is turned away for want of space.
  static std::string spool_space(spool::Spool& spool) {
    const auto space = spool.space();
    const std::string inodes = space.free_inodes == ~0ull
                                   ? std::string("no inode limit")
                                   : fmt::format("{} inodes", space.free_inodes);
    return fmt::format(
        "spool free: {} MiB, {} (reserve {} MiB, {} inodes)\naccepting: {}\n",
        space.free_bytes >> 20, inodes, space.reserve.bytes >> 20, space.reserve.inodes,
        space.short_of_space ? "no: the spool is under its reserve (452 at MAIL)" : "yes");
  }
  static std::string inbound_checks(const Gateway& g) {
    if (!g.inbound_checks_) return "inbound checks: off\n";
    return fmt::format("inbound checks: SPF, DKIM, DMARC as {}: {}\n",
                       g.config_.inbound_auth.authserv_id, g.inbound_checks_->counts());
  }
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

}  // namespace seegw::relay
