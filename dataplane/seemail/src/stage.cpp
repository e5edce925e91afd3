#include "seegw/seemail/stage.hpp"

#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>

#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/scan/inspector.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::seemail {
namespace fs = std::filesystem;
using policy::Action;
using policy::InboundAction;

namespace {

std::string where_found(const scan::ScanReport& scan) {
  if (!scan.hits.empty()) return scan.hits.front().where;
  if (!scan.uninspectable.empty())
    return "a part that could not be inspected: " + scan.uninspectable.front().where + " (" +
           scan.uninspectable.front().reason + ")";
  return "";
}

MessageFacts facts_of(const spool::SpoolRecord& r, std::string_view content,
                      const std::string& classification, const std::string& where) {
  MessageFacts f;
  f.queue_id = r.id;
  f.sender = r.envelope.mail_from;
  f.subject = header_value(content, "Subject");
  f.message_id = header_value(content, "Message-ID");
  for (const auto& p : r.recipients) f.recipients.push_back(p.address);
  f.classification = classification;
  f.found_where = where;
  return f;
}

policy::SignerState signer_state(x509::CertificateState s) {
  using S = x509::CertificateState;
  switch (s) {
    case S::valid:
      return policy::SignerState::valid;
    case S::revoked:
      return policy::SignerState::revoked;
    case S::expired:
    case S::not_yet_valid:
      return policy::SignerState::expired;
    case S::status_unknown:
      return policy::SignerState::status_unknown;
    case S::name_mismatch:
      return policy::SignerState::name_mismatch;
    case S::unknown_ca:
    case S::self_signed:
    case S::bad_key_usage:
      return policy::SignerState::unknown_ca;
  }
  return policy::SignerState::unknown_ca;
}

std::string certificate_domain(X509* cert) {
  for (const auto& a : x509::certificate_addresses(cert)) {
    auto d = smtp::domain_of(a);
    if (!d.empty()) return d;
  }
  return "";
}

// IN-1: the facts the domain layer gives — encrypted, and the signer's state judged against the
// snapshot, naming apart from dates. The sender the recipient will see is the inner message's
// (RFC 3183 §3: the domain signature covers it); the outer From is only a copy.
void judge_domain_layer(const cms::Unprotected& u, const TrustState& trust, std::time_t now,
                        policy::InboundFacts& facts, std::vector<std::string>& explanation) {
  facts.was_encrypted = u.was_encrypted;
  if (auto inner_from = first_address(header_value(u.message, "From")); !inner_from.empty())
    facts.from = inner_from;
  if (!u.was_signed) return;
  if (!u.signature_valid || !u.signer) {
    facts.signer = policy::SignerState::bad_signature;
    return;
  }
  std::vector<X509*> chain;
  for (const auto& c : u.certificates) chain.push_back(c.get());
  const std::string sender_domain =
      smtp::domain_of(facts.from.empty() ? facts.envelope_sender : facts.from);
  auto v = trust.check(u.signer.get(), chain, sender_domain, now);
  facts.signer = signer_state(v.state);
  facts.signer_naming = v.naming;
  facts.signer_domain = certificate_domain(u.signer.get());
  explanation.push_back(
      fmt::format("signer {}: {} {}", facts.signer_domain, x509::state_name(v.state), v.detail));
}

// Warnings reach the recipient three ways: a header for filters, a Subject tag for the message
// list, and a first text part above the content for the reader. A peer's X-SEEMAIL-Warning is
// never trusted: it goes first.
std::string with_warnings(const std::string& message,
                          const std::vector<policy::RaisedWarning>& warnings,
                          const std::string& sender, std::vector<std::string>& explanation) {
  std::string delivered = remove_headers(message, "X-SEEMAIL-Warning");
  if (warnings.empty()) return delivered;
  std::string fields;
  for (const auto& w : warnings)
    fields += fmt::format("X-SEEMAIL-Warning: {}; {}\r\n", policy::severity_name(w.severity),
                          policy::warning_headline(w.warning));
  const bool hard = warnings.front().severity == policy::Severity::hard;
  // 001's 2B promises "a copy of the original email will be attached": it is, whole.
  const bool attach = std::any_of(warnings.begin(), warnings.end(), [](const auto& w) {
    return w.warning == policy::InboundWarning::unverified_sender_2b;
  });
  for (const auto& w : warnings)
    explanation.push_back(fmt::format("warning {} {} ({})", policy::severity_name(w.severity),
                                      policy::warning_headline(w.warning), w.detail));
  return wrap_with_warning(
      tag_subject(prepend_headers(delivered, fields), hard ? "[HARD WARNING]" : "[SOFT WARNING]"),
      warning_text(warnings, sender),
      attach ? std::optional<std::string_view>(delivered) : std::nullopt);
}

}  // namespace

bool is_smime(std::string_view message) {
  const std::string ct = ascii_lower(header_value(message, "Content-Type"));
  return ct.starts_with("application/pkcs7-mime") || ct.starts_with("application/x-pkcs7-mime") ||
         (ct.starts_with("multipart/signed") && ct.find("pkcs7-signature") != std::string::npos);
}

std::string_view disposition_name(Disposition d) {
  switch (d) {
    case Disposition::deliver:
      return "deliver";
    case Disposition::hold:
      return "held";
    case Disposition::hold_for_certificate:
      return "held for a certificate";
    case Disposition::blocked:
      return "blocked";
    case Disposition::answered:
      return "answered";
    case Disposition::defer:
      return "deferred";
  }
  return "?";
}

Stage::Stage(Settings settings, const scan::Matcher& matcher, keys::KeyRing& keys)
    : settings_(std::move(settings)),
      matcher_(matcher),
      keys_(keys),
      limiter_(settings_.notice_limits) {}

Plan Stage::run(const spool::SpoolRecord& record, const TrustState& trust, std::time_t now) {
  if (record.secured_by_gateway) {
    // Signed (and encrypted) by this stage when it was made; securing it again would hold a
    // certificate request for want of the very certificate it asks for.
    Plan out;
    out.recipients.assign(record.recipients.size(), {Disposition::deliver, record.content, ""});
    out.explanation.push_back("secured by the gateway when it was made: sent as it is");
    return out;
  }
  auto scan = scan::inspect_message(*record.content, matcher_);
  // Issue 15 item 7: what could not be inspected, and why, is in the log and in `explain`, not
  // only in the sender's notice.
  // A hostile message may have thousands: the first few are told, then how many more (the log
  // line and the kept explanation stay small).
  constexpr std::size_t kToldUninspectable = 10;
  std::vector<std::string> uninspectable;
  std::string reasons;
  for (const auto& u : scan.uninspectable) {
    if (uninspectable.size() == kToldUninspectable) {
      uninspectable.push_back(fmt::format("uninspectable: {} more parts",
                                          scan.uninspectable.size() - kToldUninspectable));
      reasons += "; " + uninspectable.back();
      break;
    }
    uninspectable.push_back(
        fmt::format("uninspectable: {} ({})", u.where.substr(0, 200), u.reason.substr(0, 200)));
    reasons += "; " + uninspectable.back();
  }
  if (scan.classification != scan::Classification::none || !scan.uninspectable.empty())
    log::info("scan: {} classification={} hits={} uninspectable={}{}{}", record.id,
              scan::classification_name(scan.classification), scan.hits.size(),
              scan.uninspectable.size(),
              scan.hits.empty()
                  ? std::string()
                  : fmt::format(" first=\"{}\" in {}", scan.hits[0].text, scan.hits[0].where),
              reasons);
  Plan out = policy::direction_of(trust.policy, record.envelope.client_internal) ==
                     policy::Direction::outbound
                 ? outbound(record, scan, trust, now)
                 : inbound(record, scan, trust, now);
  out.explanation.insert(out.explanation.begin(), uninspectable.begin(), uninspectable.end());
  out.scan = std::move(scan);
  return out;
}

void Stage::notify(Plan& out, const policy::Notice& notice, const std::string& to,
                   const MessageFacts& facts, std::time_t now) {
  // OPS-2: no exception messages to or about postmasters and daemons (loops).
  if (policy::is_postmaster_or_daemon(facts.sender) && notice.to == policy::Party::sender) return;
  if (to.empty() || (notice.to == policy::Party::sender && policy::is_postmaster_or_daemon(to)))
    return;
  {
    std::lock_guard lock(mutex_);
    if (!limiter_.admit(to, notice.kind, now)) {
      out.explanation.push_back(fmt::format("notice {} to <{}> held back by the rate limit",
                                            policy::notice_kind_name(notice.kind), to));
      return;
    }
  }
  auto m = notice_message(notice, to, settings_.domain, facts);
  out.generated.push_back(
      {{to},
       compose(m, settings_.hostname, now),
       fmt::format("notice {} to <{}>", policy::notice_kind_name(notice.kind), to)});
}

std::vector<GeneratedMessage> Stage::due_summaries(std::time_t now) {
  std::vector<policy::NoticeLimiter::Summary> due;
  {
    std::lock_guard lock(mutex_);
    due = limiter_.due(now);
  }
  std::vector<GeneratedMessage> out;
  for (const auto& s : due)
    out.push_back({{s.to},
                   compose(summary_message(s, settings_.domain), settings_.hostname, now),
                   fmt::format("summary of {} held-back {} notices to <{}>", s.suppressed,
                               policy::notice_kind_name(s.kind), s.to)});
  return out;
}

std::vector<std::string> Stage::capabilities_of(const TrustState& trust,
                                                const std::string& domain) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = learnt_capabilities_.find(domain); it != learnt_capabilities_.end())
      return it->second;
  }
  auto it = trust.capabilities.find(domain);
  return it == trust.capabilities.end() ? std::vector<std::string>{} : it->second;
}

// ---- outbound ------------------------------------------------------------------------------

Plan Stage::outbound(const spool::SpoolRecord& record, const scan::ScanReport& scan,
                     const TrustState& trust, std::time_t now) {
  Plan out;
  const std::string& content = *record.content;
  policy::OutboundFacts facts;
  facts.sender = record.envelope.mail_from;
  for (const auto& r : record.recipients) facts.recipients.push_back(r.address);
  facts.classification = scan.classification;
  facts.uninspectable = !scan.uninspectable.empty();
  facts.uninspectable_is_individual_smime = scan::only_individual_smime(scan);
  const auto plan = policy::decide_outbound(trust.policy, facts);
  const scan::Classification level = policy::judged_level(trust.policy, facts);
  out.classification = std::string(scan::classification_name(level));
  const MessageFacts mf = facts_of(record, content, out.classification, where_found(scan));

  out.recipients.resize(record.recipients.size());
  std::map<std::string, std::vector<std::size_t>> secure;  // receiving domain → recipients
  std::vector<std::size_t> clear_signed;
  for (std::size_t i = 0; i < plan.recipients.size(); ++i) {
    const auto& d = plan.recipients[i];
    auto& o = out.recipients[i];
    out.explanation.push_back(fmt::format("to=<{}> action={} rule={} ({})", d.recipient,
                                          policy::action_name(d.action), d.rule, d.reason));
    switch (d.action) {
      case Action::deliver_internal:
      case Action::deliver_plain:
        o = {Disposition::deliver, record.content, ""};
        break;
      case Action::block:
        o = {Disposition::blocked, nullptr,
             fmt::format("blocked by {} ({}); the sender was warned", d.rule,
                         policy::warning_name(plan.warning))};
        break;
      case Action::hold:
        // The policy holds only for want of a usable certificate (OUT-5).
        o = {Disposition::hold_for_certificate, nullptr, fmt::format("{}: {}", d.rule, d.reason)};
        break;
      case Action::answer_ping:
        o = {Disposition::answered, nullptr, "seemail-ping answered"};
        if (!policy::is_postmaster_or_daemon(facts.sender))
          out.generated.push_back(ping_answer(record, facts.sender, trust, now));
        break;
      case Action::sign_and_encrypt:
        secure[d.certificate_domain].push_back(i);
        break;
      case Action::sign:
        clear_signed.push_back(i);
        break;
    }
  }

  if (!clear_signed.empty()) clear_sign(record, clear_signed, out);
  if (!secure.empty()) secure_per_domain(record, secure, level, trust, out);
  // §2.8: a recipient waiting for a certificate has it looked for now, not at the next sync.
  for (std::size_t i = 0; i < out.recipients.size(); ++i) {
    if (out.recipients[i].disposition != Disposition::hold_for_certificate) continue;
    auto domain = ascii_lower(smtp::domain_of(record.recipients[i].address));
    if (std::find(out.certificates_wanted.begin(), out.certificates_wanted.end(), domain) ==
        out.certificates_wanted.end())
      out.certificates_wanted.push_back(std::move(domain));
  }
  // OUT-8: every hold tells the sender and the administrator why, the holds decided here (no
  // certificate in the store, the HSM or CMS failing for good) as well as the policy's.
  std::vector<policy::Notice> notices = plan.notices;
  const bool policy_held = std::any_of(notices.begin(), notices.end(), [](const auto& n) {
    return n.kind == policy::NoticeKind::held;
  });
  for (std::size_t i = 0; i < out.recipients.size() && !policy_held; ++i) {
    if (!is_hold(out.recipients[i].disposition)) continue;
    const std::string why = "message held: " + out.recipients[i].reason;
    notices.push_back({policy::Party::sender, why, policy::NoticeKind::held});
    notices.push_back({policy::Party::sender_admin, why, policy::NoticeKind::held});
    break;
  }
  const std::string postmaster = "postmaster@" + settings_.domain;
  for (const auto& n : notices)
    notify(out, n, n.to == policy::Party::sender ? facts.sender : postmaster, mf, now);
  return out;
}

// OUT-4's signature is a courtesy to non-members: without an HSM at all the mail goes unsigned
// (it is unclassified); with one that is down right now, it waits.
void Stage::clear_sign(const spool::SpoolRecord& record,
                       const std::vector<std::size_t>& clear_signed, Plan& out) {
  const std::string& content = *record.content;
  auto keys = keys_.signing_keys();
  std::shared_ptr<const std::string> content_for;
  std::string why;
  if (keys) {
    cms::Protection p;
    auto signed_message = cms::sign(content, {keys->key, keys->certificate, keys->chain}, p);
    if (signed_message)
      content_for = std::make_shared<const std::string>(std::move(*signed_message));
    else
      why = signed_message.error().message;
  } else {
    why = keys.error().message;
  }
  const bool transient = !content_for && (!keys ? keys.error().code == Errc::unavailable : true);
  for (auto i : clear_signed) {
    if (content_for)
      out.recipients[i] = {Disposition::deliver, content_for, ""};
    else if (transient)
      out.recipients[i] = {Disposition::defer, nullptr, "cannot sign now: " + why};
    else
      out.recipients[i] = {Disposition::deliver, record.content, ""};
  }
  out.explanation.push_back(content_for ? std::string("clear-signed for non-members")
                                        : "not signed: " + why);
}

// OUT-1, OUT-2, OUT-4, OUT-7: one secured copy per receiving domain, to its certificate, with
// the cipher and digest its capabilities allow and the classification label inside.
void Stage::secure_per_domain(const spool::SpoolRecord& record,
                              const std::map<std::string, std::vector<std::size_t>>& secure,
                              scan::Classification level, const TrustState& trust, Plan& out) {
  const std::string& content = *record.content;
  auto keys = keys_.signing_keys();
  auto set_all = [&](const std::vector<std::size_t>& idx, Disposition disp, std::string why) {
    for (auto i : idx) out.recipients[i] = {disp, nullptr, why};
  };
  if (!keys) {
    // Fail closed: without the HSM nothing secure leaves; it waits (or is held if none).
    const bool transient = keys.error().code == Errc::unavailable;
    for (auto& [domain, idx] : secure)
      set_all(
          idx, transient ? Disposition::defer : Disposition::hold,
          (transient ? "HSM unavailable: " : "cannot sign and encrypt: ") + keys.error().message);
  } else {
    // OUT-7: the version and classification label travel inside the signature.
    std::string inner =
        remove_headers(remove_headers(content, "X-SEEMAIL-Version"), "X-SEEMAIL-Classification");
    std::string fields = "X-SEEMAIL-Version: 2.0\r\n";
    if (level != scan::Classification::none)
      fields += fmt::format("X-SEEMAIL-Classification: {}\r\n", out.classification);
    inner = prepend_headers(inner, fields);
    cms::Signer signer{keys->key, keys->certificate, keys->chain};
    for (auto& [domain, idx] : secure) {
      X509* cert = trust.certificate_for(domain);
      if (!cert) {
        set_all(idx, Disposition::hold_for_certificate,
                "OUT-5: no certificate for " + domain + " in the store");
        continue;
      }
      cms::Protection p;
      const auto caps = capabilities_of(trust, domain);
      p.cipher = cms::choose_cipher(caps, settings_.approved);
      p.digest =
          std::string(cms::digest_name(cms::choose_digest(caps, settings_.approved_digests)));
      p.advertised_digests = settings_.approved_digests;
      if (level != scan::Classification::none)
        p.label =
            cms::SecurityLabel{"2.16.554.101.8.1.1", static_cast<int>(level), out.classification};
      auto protected_message = cms::protect(inner, signer, {cert}, p);
      if (!protected_message) {
        const bool transient = protected_message.error().code == Errc::unavailable;
        set_all(idx, transient ? Disposition::defer : Disposition::hold,
                "cannot sign and encrypt: " + protected_message.error().message);
        continue;
      }
      auto shared = std::make_shared<const std::string>(std::move(*protected_message));
      for (auto i : idx) out.recipients[i] = {Disposition::deliver, shared, ""};
      out.explanation.push_back(fmt::format("{}: signed ({}) and encrypted with {}", domain,
                                            p.digest, cms::cipher_name(p.cipher)));
    }
  }
}

// ---- inbound -------------------------------------------------------------------------------

Plan Stage::inbound(const spool::SpoolRecord& record, const scan::ScanReport& arrived,
                    const TrustState& trust, std::time_t now) {
  Plan out;
  out.recipients.resize(record.recipients.size());
  const std::string& original = *record.content;
  std::string message = original;
  policy::InboundFacts facts;
  facts.envelope_sender = record.envelope.mail_from;
  facts.from = first_address(header_value(original, "From"));
  facts.client_address = record.envelope.client_address;
  for (const auto& r : record.recipients) facts.recipients.push_back(r.address);
  std::optional<cms::Unprotected> unwrapped;
  std::optional<policy::RaisedWarning> undecryptable;

  if (is_smime(original)) {
    auto keys = keys_.signing_keys();
    if (!keys && keys.error().code == Errc::unavailable) {
      for (auto& o : out.recipients)
        o = {Disposition::defer, nullptr, "HSM unavailable: " + keys.error().message};
      out.explanation.push_back("S/MIME message waits for the HSM (IN-1)");
      return out;
    }
    std::vector<X509*> known;
    for (const auto& [d, c] : trust.certificates) known.push_back(c.get());
    std::vector<cms::Decryptor> ours{
        {keys ? keys->key : nullptr, keys ? keys->certificate : nullptr}};
    if (keys) ours.insert(ours.end(), keys->earlier.begin(), keys->earlier.end());
    auto u = cms::unprotect(original, ours, known);
    if (!u) {
      if (!keys_.working()) {
        for (auto& o : out.recipients)
          o = {Disposition::defer, nullptr, "HSM unavailable while decrypting"};
        return out;
      }
      // Nothing leaks by delivering what we could not open; nothing is lost either. The warning
      // says what happened: an envelope to our key that does not decrypt, or S/MIME unreadable.
      undecryptable = policy::RaisedWarning{
          u.error().code == Errc::corrupt || u.error().code == Errc::config
              ? policy::InboundWarning::cannot_decrypt
              : policy::InboundWarning::signature_invalid,
          policy::Severity::hard, "the SEEMail gateway could not open it: " + u.error().message};
      out.explanation.push_back("S/MIME could not be opened: " + u.error().message);
    } else if (!u->was_encrypted && !u->was_signed) {
      // §1.2: individual-to-individual S/MIME (not to our key, not a domain signature) is
      // delivered as it came, judged as unsigned mail, never with a false signature warning.
      out.explanation.push_back(
          "S/MIME between individuals: no domain layer, delivered as it came");
    } else {
      unwrapped = std::move(*u);
      message = unwrapped->message;
      judge_domain_layer(*unwrapped, trust, now, facts, out.explanation);
    }
  }
  // The decrypted content is what the recipient reads, so it is what IN-6 judges; a message that
  // was not unwrapped is what the pipeline already scanned.
  const scan::ScanReport rescanned =
      unwrapped ? scan::inspect_message(message, matcher_) : scan::ScanReport{};
  const scan::ScanReport& scan = unwrapped ? rescanned : arrived;
  facts.classification = scan.classification;
  out.classification = std::string(scan::classification_name(scan.classification));
  auto plan = policy::decide_inbound(trust.policy, facts);
  if (undecryptable) plan.warnings.insert(plan.warnings.begin(), *undecryptable);
  const MessageFacts mf = facts_of(record, message, out.classification, where_found(scan));

  std::string delivered =
      with_warnings(message, plan.warnings, facts.from.empty() ? facts.envelope_sender : facts.from,
                    out.explanation);
  auto content = std::make_shared<const std::string>(std::move(delivered));
  for (std::size_t i = 0; i < plan.recipients.size(); ++i) {
    const auto& d = plan.recipients[i];
    auto& o = out.recipients[i];
    out.explanation.push_back(fmt::format("to=<{}> inbound {} rule={}", d.recipient,
                                          d.action == InboundAction::deliver ? "deliver"
                                          : d.action == InboundAction::ignore_unsigned_request
                                              ? "ignore"
                                              : "answer",
                                          d.rule));
    switch (d.action) {
      case InboundAction::deliver:
        o = {Disposition::deliver, content, ""};
        break;
      case InboundAction::ignore_unsigned_request:
        o = {Disposition::answered, nullptr, "not signed by a trusted domain certificate: ignored"};
        break;
      case InboundAction::answer_ping:
      case InboundAction::answer_certificate_request:
        answer_request(d, record, message, unwrapped, facts, trust, o, out, now);
        break;
    }
  }
  const std::string postmaster = "postmaster@" + settings_.domain;
  for (const auto& n : plan.notices) notify(out, n, postmaster, mf, now);
  if (plan.learn_certificate && unwrapped)
    learn(trust, *unwrapped, facts.signer_domain, out, mf, now);
  return out;
}

// OPS-3, DIR-2: a ping or certificate request the policy found answerable. Never to a daemon or
// to an automatic message (RFC 3834): answers carry Auto-Submitted, so two gateways never answer
// each other's answers. A certificate request comes from another gateway's
// domain-certificate-request@ and is answered only when it asks for one of our addresses.
void Stage::answer_request(const policy::InboundRecipient& d, const spool::SpoolRecord& record,
                           std::string_view message, const std::optional<cms::Unprotected>& request,
                           const policy::InboundFacts& facts, const TrustState& trust,
                           RecipientPlan& o, Plan& out, std::time_t now) {
  const bool ping = d.action == InboundAction::answer_ping;
  const std::string reply_to = facts.from.empty() ? facts.envelope_sender : facts.from;
  const auto auto_submitted = ascii_lower(header_value(message, "Auto-Submitted"));
  const bool from_peer_gateway =
      !ping && ascii_lower(reply_to).starts_with("domain-certificate-request@");
  if ((policy::is_postmaster_or_daemon(reply_to) && !from_peer_gateway) ||
      (!auto_submitted.empty() && auto_submitted != "no")) {
    o = {Disposition::answered, nullptr, "from a daemon or auto-submitted: not answered"};
    return;
  }
  GeneratedMessage answer;
  if (ping) {
    o = {Disposition::answered, nullptr, "seemail-ping answered"};
    answer = ping_answer(record, reply_to, trust, now);
  } else {
    const std::string wanted = first_address(header_value(message, "Subject"));
    if (!iequals(smtp::domain_of(wanted), settings_.domain)) {
      o = {Disposition::answered, nullptr,
           "certificate request for \"" + wanted + "\", not one of ours: not answered"};
      return;
    }
    o = {Disposition::answered, nullptr, "certificate request answered"};
    auto keys = keys_.signing_keys();
    answer =
        certificate_answer(sender(), reply_to, wanted, keys ? keys->certificate : nullptr, now);
  }
  secure_answer(answer, request, facts, trust, out.explanation);
  out.generated.push_back(std::move(answer));
}

// §2.8 bootstrap, §2.14: an answer to a domain whose certificate we cannot use yet (none in the
// store) is secured here, to the certificate that signed the request when that one chains to a
// trusted root and names the sender; the outbound stage would only hold it. Every other answer is
// secured by the outbound stage like all mail to its domain.
void Stage::secure_answer(GeneratedMessage& answer, const std::optional<cms::Unprotected>& request,
                          const policy::InboundFacts& facts, const TrustState& trust,
                          std::vector<std::string>& explanation) {
  const std::string domain = ascii_lower(smtp::domain_of(answer.recipients.front()));
  if (policy::certificate_usable(trust.policy, domain) && trust.certificate_for(domain)) return;
  const bool trusted_signer = facts.signer == policy::SignerState::valid ||
                              facts.signer == policy::SignerState::status_unknown;
  if (!request || !request->signer || !trusted_signer || !facts.signer_naming.empty()) return;
  auto keys = keys_.signing_keys();
  if (!keys) {
    explanation.push_back("answer left to the outbound stage: " + keys.error().message);
    return;
  }
  cms::Protection p;
  p.cipher = cms::choose_cipher(request->capabilities, settings_.approved);
  p.digest = std::string(
      cms::digest_name(cms::choose_digest(request->capabilities, settings_.approved_digests)));
  p.advertised_digests = settings_.approved_digests;
  auto secured = cms::protect(answer.content, {keys->key, keys->certificate, keys->chain},
                              {request->signer.get()}, p);
  if (!secured) {
    explanation.push_back("answer left to the outbound stage: " + secured.error().message);
    return;
  }
  answer.content = std::move(*secured);
  answer.secured_by_gateway = true;
  explanation.push_back(fmt::format(
      "answer to <{}> signed and encrypted to the certificate that signed the request ({}): no "
      "usable certificate for {} in the store",
      answer.recipients.front(), x509::subject_text(request->signer.get()), domain));
}

Result<GeneratedMessage> Stage::certificate_request(const std::string& domain, std::time_t now) {
  const ComposedMessage m = seemail::certificate_request(sender(), domain);
  auto keys = keys_.signing_keys();
  if (!keys) return std::unexpected(keys.error());
  cms::Protection p;
  p.advertised_digests = settings_.approved_digests;
  auto signed_message = cms::sign(compose(m, settings_.hostname, now),
                                  {keys->key, keys->certificate, keys->chain}, p);
  if (!signed_message) return std::unexpected(signed_message.error());
  GeneratedMessage g{
      {m.to}, std::move(*signed_message), "certificate request to <" + m.to + ">", ""};
  g.secured_by_gateway = true;
  return g;
}

// IN-4: a new domain certificate of a peer is kept (used at once or awaiting approval), and the
// peer's S/MIME capabilities are cached for choosing the cipher next time (OUT-6).
void Stage::learn(const TrustState& trust, const cms::Unprotected& u, const std::string& domain,
                  Plan& out, const MessageFacts& facts, std::time_t now) {
  if (domain.empty() || !u.signer) return;
  if (!u.capabilities.empty()) {
    bool changed = false;
    {
      std::lock_guard lock(mutex_);
      auto& caps = learnt_capabilities_[domain];
      changed = caps != u.capabilities;
      if (changed) caps = u.capabilities;
    }
    if (changed) {
      std::string text;
      for (const auto& c : u.capabilities) text += c + "\n";
      (void)write_file_atomically(settings_.learnt.capabilities() / domain, text);
    }
  }
  X509* known = trust.certificate_for(domain);
  if (known && X509_cmp(known, u.signer.get()) == 0) return;
  const bool approve = trust.policy.auto_approve_certificates;
  const fs::path dir = approve ? settings_.learnt.learnt() : settings_.learnt.pending();
  const fs::path file = dir / (domain + ".pem");
  if (auto existing = x509::load_certificate_file(file.string());
      existing && X509_cmp(existing->get(), u.signer.get()) == 0)
    return;
  // The learnt store is not the spool, but a half-written certificate must never be read back.
  if (!write_file_atomically(file, x509::to_pem(u.signer.get()))) {
    log::error("seemail: could not store the learnt certificate of {} in {}", domain,
               file.string());
    return;
  }
  out.certificate_learnt = approve;
  log::notice("seemail: learnt a new domain certificate for {} ({}): {}", domain,
              approve ? "in use from the next snapshot" : "waiting for approval",
              x509::subject_text(u.signer.get()));
  const std::string no_cdp = x509::missing_crl_distribution_point(u.signer.get());
  notify(
      out,
      {policy::Party::recipient_admin,
       fmt::format("{} for {}: {} (stored in {}){}",
                   approve ? "new certificate learnt and used" : "new certificate awaits approval",
                   domain, x509::subject_text(u.signer.get()), file.string(),
                   no_cdp.empty() ? "" : "; warning: " + no_cdp),
       policy::NoticeKind::certificate_learnt},
      "postmaster@" + settings_.domain, facts, now);
}

GeneratedMessage Stage::ping_answer(const spool::SpoolRecord& record, const std::string& to,
                                    const TrustState& trust, std::time_t now) {
  PingFacts facts{settings_.software, settings_.version, trust.policy.version, {}};
  for (const auto& [domain, a] : trust.policy.seemail)
    facts.agencies.push_back(
        fmt::format("{} ({}, {} community)", domain, a.name,
                    a.community == policy::Community::restricted ? "Restricted" : "Standard"));
  return seemail::ping_answer(sender(), to, header_value(*record.content, "Message-ID"), facts,
                              now);
}

}  // namespace seegw::seemail
