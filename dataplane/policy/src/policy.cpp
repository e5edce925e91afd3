#include "seegw/policy/policy.hpp"

#include <algorithm>

#include "seegw/common/text.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::policy {
namespace {

enum class Kind { local, member, trusted, vendor, other };

struct Recipient {
  std::string address;
  std::string domain;  // for a member: the SEEMAIL-list domain (an ascendant of the address's)
  Kind kind;
  const Agency* agency = nullptr;
};

// The agency a domain belongs to: the domain itself or an ascendant (RFC 3183 §3.1.1), with the
// SEEMAIL-list key it was found under (whose certificate serves the whole agency).
std::pair<const Agency*, std::string> agency_entry(const PolicySnapshot& s,
                                                   std::string_view domain) {
  std::string d(domain);
  while (!d.empty()) {
    if (auto it = s.seemail.find(d); it != s.seemail.end()) return {&it->second, it->first};
    auto dot = d.find('.');
    if (dot == std::string::npos) break;
    d.erase(0, dot + 1);
  }
  return {nullptr, ""};
}

// The VENDOR-list key a domain falls under (itself or an ascendant), or "".
std::string vendor_entry(const PolicySnapshot& s, std::string_view domain) {
  std::string d(domain);
  while (!d.empty()) {
    if (s.vendors.contains(d)) return d;
    auto dot = d.find('.');
    if (dot == std::string::npos) break;
    d.erase(0, dot + 1);
  }
  return "";
}

const Agency* agency_of(const PolicySnapshot& s, std::string_view domain) {
  return agency_entry(s, domain).first;
}

const PeerCertificate& certificate_of(const PolicySnapshot& s, const std::string& domain) {
  static const PeerCertificate kMissing;
  auto it = s.certificates.find(domain);
  return it == s.certificates.end() ? kMissing : it->second;
}

}  // namespace

bool certificate_usable(const PolicySnapshot& s, const std::string& domain) {
  const PeerCertificate& cert = certificate_of(s, domain);
  return cert.state == CertState::valid || cert.state == CertState::status_unknown ||
         cert.renewal_found;
}

std::string_view cert_state_name(CertState c) {
  switch (c) {
    case CertState::valid:
      return "valid";
    case CertState::status_unknown:
      return "status could not be checked";
    case CertState::revoked:
      return "revoked or suspended";
    case CertState::unknown_ca:
      return "issued by an unknown CA";
    case CertState::expired:
      return "expired";
    case CertState::missing:
      return "not in the store";
  }
  return "?";
}

Direction direction_of(const PolicySnapshot&, bool client_internal) {
  return client_internal ? Direction::outbound : Direction::inbound;
}

std::string_view notice_kind_name(NoticeKind kind) {
  switch (kind) {
    case NoticeKind::blocked_1a:
      return "blocked-1A";
    case NoticeKind::blocked_1c:
      return "blocked-1C";
    case NoticeKind::blocked_uninspectable:
      return "blocked-uninspectable";
    case NoticeKind::held:
      return "held";
    case NoticeKind::certificate_status_unknown:
      return "certificate-status-unknown";
    case NoticeKind::inbound_certificate:
      return "inbound-certificate";
    case NoticeKind::unverified_sender:
      return "unverified-sender";
    case NoticeKind::certificate_learnt:
      return "certificate-learnt";
  }
  return "?";
}

std::string_view warning_name(Warning w) {
  switch (w) {
    case Warning::none:
      return "none";
    case Warning::not_seemail_1a:
      return "#1A";
    case Warning::restricted_1c:
      return "#1C";
    case Warning::cannot_sign_uninspectable:
      return "cannot be signed";
  }
  return "?";
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::deliver_internal:
      return "deliver-internal";
    case Action::deliver_plain:
      return "deliver-plain";
    case Action::sign_and_encrypt:
      return "sign-and-encrypt";
    case Action::sign:
      return "sign";
    case Action::block:
      return "block";
    case Action::hold:
      return "hold";
    case Action::answer_ping:
      return "answer-ping";
  }
  return "?";
}

scan::Classification judged_level(const PolicySnapshot& s, const OutboundFacts& f) {
  if (!f.uninspectable) return f.classification;
  return std::max(f.classification,
                  f.uninspectable_is_individual_smime ? s.individual_smime_as : s.uninspectable_as);
}

namespace {

// Each recipient with its kind: ours, a SEEMAIL agency (keyed by its SEEMAIL-list domain),
// TRUSTED, VENDOR (keyed by its VENDOR-list domain), or anyone else.
std::vector<Recipient> recipients_of(const PolicySnapshot& s, const OutboundFacts& f) {
  std::vector<Recipient> rcpts;
  for (const auto& a : f.recipients) {
    Recipient r{a, smtp::domain_of(a), Kind::other};
    if (s.local_domains.count(r.domain)) {
      r.kind = Kind::local;
    } else if (auto [agency, key] = agency_entry(s, r.domain); agency) {
      r.kind = Kind::member;
      r.agency = agency;
      r.domain = key;
    } else if (s.trusted.count(r.domain) || s.trusted.count(ascii_lower(a))) {
      r.kind = Kind::trusted;
    } else if (auto key = vendor_entry(s, r.domain); !key.empty()) {
      r.kind = Kind::vendor;  // DIR-1: known, not a SEEMail agency
      r.domain = key;
    }
    rcpts.push_back(std::move(r));
  }
  return rcpts;
}

// What stops a message for every external recipient, if anything: the warning, why, the rule.
struct DataLossStop {
  Warning warning = Warning::none;
  std::string why;
  std::string rule;
};

// OUT-2 and OUT-3 judge the external recipients as a whole: a classified message goes to no
// external recipient at all when one of them may not have it.
DataLossStop data_loss_stop(const OutboundFacts& f, const std::vector<Recipient>& rcpts,
                            scan::Classification level, const std::string& ping) {
  DataLossStop stop;
  const bool classified = level != scan::Classification::none;
  for (const auto& r : rcpts) {
    if (r.kind == Kind::local || ascii_lower(r.address) == ping) continue;
    if (classified && (r.kind == Kind::other || r.kind == Kind::vendor)) {
      stop = {Warning::not_seemail_1a,
              r.address + (r.kind == Kind::vendor
                               ? " is on the VENDOR list, which is not the SEEMAIL list, and not "
                                 "on the TRUSTED list"
                               : " is on neither the SEEMAIL nor the TRUSTED list"),
              "OUT-2"};
      break;
    }
  }
  if (stop.warning == Warning::none && level >= scan::Classification::sensitive) {
    for (const auto& r : rcpts)
      if (r.kind == Kind::member && r.agency->community == Community::standard) {
        stop = {Warning::restricted_1c,
                r.address + " belongs to a Standard-community agency (" + r.agency->name + ")",
                "OUT-3"};
        break;
      }
  }
  // TRG-4: when no trigger word of the level that stops the message was found, what stops it is
  // content the scanner could not read: the sender hears that it cannot be signed, not #1A/#1C.
  const scan::Classification needed = stop.warning == Warning::restricted_1c
                                          ? scan::Classification::sensitive
                                          : scan::Classification::in_confidence;
  if (stop.warning != Warning::none && f.uninspectable && f.classification < needed)
    stop = {Warning::cannot_sign_uninspectable,
            "it holds content the gateway cannot inspect (counted as " +
                std::string(scan::classification_name(level)) + ") and " + stop.why +
                "; it was not delivered to any external recipient",
            "TRG-4"};
  return stop;
}

}  // namespace

DeliveryPlan decide_outbound(const PolicySnapshot& s, const OutboundFacts& f) {
  DeliveryPlan plan;
  const std::string ping = "seemail-ping@" + ascii_lower(s.our_domain);
  const scan::Classification level = judged_level(s, f);
  const bool classified = level != scan::Classification::none;
  const std::vector<Recipient> rcpts = recipients_of(s, f);
  const DataLossStop stop = data_loss_stop(f, rcpts, level, ping);
  const Warning warning = stop.warning;
  const std::string& why = stop.why;
  plan.warning = warning;
  if (warning != Warning::none) {
    const NoticeKind kind = warning == Warning::not_seemail_1a  ? NoticeKind::blocked_1a
                            : warning == Warning::restricted_1c ? NoticeKind::blocked_1c
                                                                : NoticeKind::blocked_uninspectable;
    plan.notices.push_back({Party::sender, why, kind});
    // The administrator hears of every data-loss stop too (rate-limited, OPS-2).
    plan.notices.push_back({Party::sender_admin, why, kind});
  }

  bool held = false;
  for (const auto& r : rcpts) {
    RecipientDecision d{r.address, Action::deliver_plain, "", ""};
    if (ascii_lower(r.address) == ping) {
      d = {r.address, Action::answer_ping, "OPS-3", "seemail-ping answers before any other rule"};
    } else if (r.kind == Kind::local) {
      d = {r.address, Action::deliver_internal, "route", "a local domain"};
    } else if (warning != Warning::none) {
      d = {r.address, Action::block, stop.rule, why};
    } else {
      const PeerCertificate& cert = certificate_of(s, r.domain);
      const bool must_secure = r.kind == Kind::member || (r.kind == Kind::trusted && classified);
      const bool usable = certificate_usable(s, r.domain);
      if (must_secure) {
        if (usable) {
          d = {r.address, Action::sign_and_encrypt, r.kind == Kind::member ? "OUT-1" : "OUT-2",
               std::string("domain certificate ") +
                   std::string(cert.renewal_found && cert.state != CertState::valid
                                   ? "replaced by discovery"
                                   : cert_state_name(cert.state))};
          if (cert.state == CertState::status_unknown && !cert.renewal_found)
            plan.notices.push_back({Party::sender_admin,
                                    "certificate status of " + r.domain + " could not be checked",
                                    NoticeKind::certificate_status_unknown});
        } else {
          d = {r.address, Action::hold, "OUT-5",
               "domain certificate of " + r.domain + " " +
                   std::string(cert_state_name(cert.state)) + " and no valid one was discovered"};
          held = true;
        }
      } else if (usable && cert.state != CertState::status_unknown &&
                 (r.kind == Kind::trusted || r.kind == Kind::vendor || s.encrypt_when_possible)) {
        d = {r.address, Action::sign_and_encrypt, "OUT-4",
             r.kind == Kind::vendor ? "a VENDOR-list domain with a valid domain certificate (DIR-1)"
                                    : "a valid domain certificate is in the store"};
      } else if (s.sign_when_possible && !classified) {
        d = {r.address, Action::sign, "OUT-4", "unclassified mail to a non-member, domain-signed"};
      } else {
        d = {r.address, Action::deliver_plain, "OUT-4", "unclassified mail to a non-member"};
      }
      if (d.action == Action::sign_and_encrypt) d.certificate_domain = r.domain;
    }
    plan.recipients.push_back(std::move(d));
  }
  if (held) {
    plan.notices.push_back(
        {Party::sender, "message held: no usable domain certificate", NoticeKind::held});
    plan.notices.push_back(
        {Party::sender_admin, "message held: no usable domain certificate", NoticeKind::held});
  }
  return plan;
}

// ---- inbound -------------------------------------------------------------------------------

namespace {

bool local_domain(const PolicySnapshot& s, std::string_view domain) {
  return s.local_domains.count(std::string(domain)) > 0;
}

// Signed with a domain certificate issued by a trusted CA (expired or unchecked still counts:
// the signature itself is genuine).
bool trusted_ca_signed(SignerState s) {
  return s == SignerState::valid || s == SignerState::expired || s == SignerState::status_unknown;
}

}  // namespace

std::string_view warning_headline(InboundWarning w) {
  switch (w) {
    case InboundWarning::certificate_revoked:
      return "Certificate revoked/suspended - message integrity uncertain";
    case InboundWarning::certificate_unknown:
      return "Certificate unknown - message integrity uncertain";
    case InboundWarning::certificate_expired:
      return "Certificate expired - message integrity uncertain";
    case InboundWarning::certificate_status_unknown:
      return "Certificate status could not be checked - message integrity uncertain";
    case InboundWarning::signature_invalid:
      return "Signature does not verify - the message may have been altered";
    case InboundWarning::unverified_sender_2b:
      return "Unverified sender (2B) - this message did not come from the apparent sender's "
             "agency";
    case InboundWarning::not_seemail_4a:
      return "SEEMail Warning #4A - NOT SEEMail";
    case InboundWarning::spoofed_own_domain:
      return "This message has our agency's email address but came from outside";
    case InboundWarning::signer_not_sender:
      return "Certificate does not name the sender - message integrity uncertain";
    case InboundWarning::cannot_decrypt:
      return "Encrypted to this agency's gateway but it could not be decrypted - content not "
             "readable";
  }
  return "?";
}

std::string_view severity_name(Severity s) { return s == Severity::hard ? "HARD" : "SOFT"; }

bool is_postmaster_or_daemon(std::string_view address) {
  if (address.empty()) return true;  // the null sender: a bounce
  const std::string local = ascii_lower(address.substr(0, address.find('@')));
  return local == "postmaster" || local == "mailer-daemon" || local == "seemail-ping" ||
         local == "domain-certificate-request";
}

namespace {

// OPS-3 and DIR-2 come before any other rule and do not invoke them: the ping and certificate
// request addresses are answered or ignored; every other recipient gets the message. True when
// one does.
bool answer_requests(const InboundFacts& f, const std::string& ours, InboundPlan& plan) {
  bool deliver_any = false;
  for (const auto& r : f.recipients) {
    const std::string lower = ascii_lower(r);
    if (lower == "seemail-ping@" + ours || lower == "domain-certificate-request@" + ours) {
      const bool ping = lower.starts_with("seemail-ping@");
      // §2.14: "a message that is signed (and/or encrypted) using a domain certificate issued by
      // a trusted CA": signed by one that chains to a trusted root and names the sender, or
      // unsigned and encrypted to our own (trusted) certificate. A signature that is there but
      // untrusted, revoked, broken or misnamed is never answered; logged only.
      const bool answerable =
          (trusted_ca_signed(f.signer) && f.signer_naming.empty()) ||
          (ping && f.was_encrypted && f.signer == SignerState::unsigned_message);
      const InboundAction answer =
          ping ? InboundAction::answer_ping : InboundAction::answer_certificate_request;
      plan.recipients.push_back({r, answerable ? answer : InboundAction::ignore_unsigned_request,
                                 ping ? "OPS-3" : "DIR-2"});
      continue;
    }
    plan.recipients.push_back({r, InboundAction::deliver, "IN-1"});
    deliver_any = true;
  }
  return deliver_any;
}

// OPS-2: the recipient's administrator (our postmaster) hears of certificate problems and hard
// unverified senders (the caller leaves out mail from a postmaster or daemon: loops).
void add_admin_notices(InboundPlan& plan) {
  for (const auto& w : plan.warnings) {
    if (w.warning == InboundWarning::not_seemail_4a) continue;
    const bool certificate = w.warning != InboundWarning::unverified_sender_2b &&
                             w.warning != InboundWarning::spoofed_own_domain;
    if (!certificate && w.severity == Severity::soft) continue;
    plan.notices.push_back(
        {Party::recipient_admin, std::string(warning_headline(w.warning)) + ": " + w.detail,
         certificate ? NoticeKind::inbound_certificate : NoticeKind::unverified_sender});
  }
}

}  // namespace

InboundPlan decide_inbound(const PolicySnapshot& s, const InboundFacts& f) {
  InboundPlan plan;
  const std::string ours = ascii_lower(s.our_domain);
  const std::string from = f.from.empty() ? f.envelope_sender : f.from;
  const std::string domain = smtp::domain_of(from);
  const Agency* agency = agency_of(s, domain);
  const bool trusted_sender = s.trusted.count(domain) || s.trusted.count(ascii_lower(from));
  const bool own = local_domain(s, domain);

  const bool deliver_any = answer_requests(f, ours, plan);
  // IN-4, §2.8: a signed certificate request or answer teaches its signer's certificate too —
  // how two gateways that hold none of each other's bootstrap.
  plan.learn_certificate =
      f.signer == SignerState::valid && f.signer_naming.empty() && (agency || trusted_sender);
  if (!deliver_any) return plan;

  const bool downgrade =
      std::any_of(s.trusted_servers.begin(), s.trusted_servers.end(),
                  [&](const Network& n) { return n.contains(f.client_address); }) ||
      s.trusted_listservs.count(ascii_lower(f.envelope_sender)) ||
      s.trusted_listservs.count(ascii_lower(from));
  const Severity unverified = downgrade ? Severity::soft : Severity::hard;
  auto raise = [&](InboundWarning w, Severity sev, std::string detail) {
    plan.warnings.push_back({w, sev, std::move(detail)});
  };
  const std::string signer = f.signer_domain.empty() ? std::string("an unnamed signer")
                                                     : "the certificate of " + f.signer_domain;

  // IN-2: the signer certificate's state, whoever signed.
  switch (f.signer) {
    case SignerState::revoked:
      raise(InboundWarning::certificate_revoked, Severity::hard,
            signer + " is revoked or suspended");
      break;
    case SignerState::unknown_ca:
      raise(InboundWarning::certificate_unknown, Severity::hard,
            signer + " does not chain to a trusted root");
      break;
    case SignerState::expired:
      raise(InboundWarning::certificate_expired, Severity::soft, signer + " is out of date");
      break;
    case SignerState::status_unknown:
      raise(InboundWarning::certificate_status_unknown, Severity::soft,
            "no current CRL for " + signer);
      break;
    case SignerState::bad_signature:
      raise(InboundWarning::signature_invalid, Severity::hard,
            "the signature by " + signer + " does not match the content");
      break;
    case SignerState::valid:
    case SignerState::unsigned_message:
    case SignerState::name_mismatch:
      break;
  }
  // IN-1, §2.6: a signature by a certificate whose addresses do not cover the sender's domain
  // (or that has none) verifies nobody, whatever its dates: an agency's domain gets 2B below,
  // any other sender this warning. A certificate that is not a domain authority's verifies no
  // agency either (RFC 3183 naming).
  const bool signed_genuinely =
      f.signer != SignerState::unsigned_message && f.signer != SignerState::bad_signature;
  const bool addresses_mismatch = signed_genuinely && !f.signer_naming.empty();
  const bool misnamed = addresses_mismatch || f.signer == SignerState::name_mismatch;
  const bool verified = trusted_ca_signed(f.signer) && !misnamed;
  if (addresses_mismatch && !(agency && !own))
    raise(InboundWarning::signer_not_sender, Severity::hard,
          signer + " does not name " + (domain.empty() ? std::string("the sender") : domain) +
              " (" + f.signer_naming + ")");

  // IN-5: an agency's domain without that agency's signature.
  if (agency && !own && !verified &&
      (misnamed || (f.signer != SignerState::revoked && f.signer != SignerState::unknown_ca &&
                    f.signer != SignerState::bad_signature)))
    raise(InboundWarning::unverified_sender_2b, unverified,
          misnamed ? domain + " is a SEEMail agency (" + agency->name + ") but " + signer +
                         " does not name it"
                   : domain + " is a SEEMail agency (" + agency->name +
                         ") but the message is not signed by its gateway" +
                         (downgrade ? "; it came through a trusted server or listserv" : ""));
  // IN-6: our own domain from outside.
  if (own && !verified)
    raise(InboundWarning::spoofed_own_domain, unverified,
          from + " is one of our addresses but the message came from " + f.client_address);
  // IN-6: a trigger word from outside the SEEMail community.
  if (f.classification != scan::Classification::none && !(verified && (agency || trusted_sender)))
    raise(InboundWarning::not_seemail_4a, Severity::soft,
          std::string("the message is marked ") +
              std::string(scan::classification_name(f.classification)) + " but " +
              (domain.empty() ? std::string("its sender") : domain) +
              " did not send it through a SEEMail gateway");
  std::stable_sort(plan.warnings.begin(), plan.warnings.end(),
                   [](const RaisedWarning& a, const RaisedWarning& b) {
                     return a.severity == Severity::hard && b.severity == Severity::soft;
                   });

  if (!is_postmaster_or_daemon(from) && !is_postmaster_or_daemon(f.envelope_sender))
    add_admin_notices(plan);
  plan.learn_certificate =
      f.signer == SignerState::valid && !misnamed && (agency || trusted_sender);
  return plan;
}

}  // namespace seegw::policy
