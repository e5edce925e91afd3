#include "seegw/policy/policy.hpp"

#include <algorithm>

#include "seegw/common/text.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::policy {
namespace {

enum class Kind { local, member, trusted, other };

struct Recipient {
  std::string address;
  std::string domain;
  Kind kind;
  const Agency* agency = nullptr;
};

const PeerCertificate& certificate_of(const PolicySnapshot& s, const std::string& domain) {
  static const PeerCertificate kMissing;
  auto it = s.certificates.find(domain);
  return it == s.certificates.end() ? kMissing : it->second;
}

std::string_view state_text(CertState c) {
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

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::deliver_internal:
      return "deliver-internal";
    case Action::deliver_plain:
      return "deliver-plain";
    case Action::sign_and_encrypt:
      return "sign-and-encrypt";
    case Action::block:
      return "block";
    case Action::hold:
      return "hold";
    case Action::answer_ping:
      return "answer-ping";
  }
  return "?";
}

DeliveryPlan decide_outbound(const PolicySnapshot& s, const OutboundFacts& f) {
  DeliveryPlan plan;
  const std::string ping = "seemail-ping@" + ascii_lower(s.our_domain);
  const scan::Classification level =
      f.uninspectable ? std::max(f.classification, s.uninspectable_as) : f.classification;
  const bool classified = level != scan::Classification::none;

  std::vector<Recipient> rcpts;
  for (const auto& a : f.recipients) {
    Recipient r{a, smtp::domain_of(a), Kind::other};
    if (s.local_domains.count(r.domain)) {
      r.kind = Kind::local;
    } else if (auto it = s.seemail.find(r.domain); it != s.seemail.end()) {
      r.kind = Kind::member;
      r.agency = &it->second;
    } else if (s.trusted.count(r.domain) || s.trusted.count(ascii_lower(a))) {
      r.kind = Kind::trusted;
    }
    rcpts.push_back(std::move(r));
  }

  // OUT-2 and OUT-3 judge the external recipients as a whole: a classified message goes to no
  // external recipient at all when one of them may not have it.
  Warning warning = Warning::none;
  std::string why;
  for (const auto& r : rcpts) {
    if (r.kind == Kind::local || ascii_lower(r.address) == ping) continue;
    if (classified && r.kind == Kind::other) {
      warning = Warning::not_seemail_1a;
      why = r.address + " is on neither the SEEMAIL nor the TRUSTED list";
      break;
    }
  }
  if (warning == Warning::none && level >= scan::Classification::sensitive) {
    for (const auto& r : rcpts)
      if (r.kind == Kind::member && r.agency->community == Community::standard) {
        warning = Warning::restricted_1c;
        why = r.address + " belongs to a Standard-community agency (" + r.agency->name + ")";
        break;
      }
  }
  plan.warning = warning;
  if (warning != Warning::none) plan.notices.push_back({Party::sender, why});

  bool held = false;
  for (const auto& r : rcpts) {
    RecipientDecision d{r.address, Action::deliver_plain, "", ""};
    if (ascii_lower(r.address) == ping) {
      d = {r.address, Action::answer_ping, "OPS-3", "seemail-ping answers before any other rule"};
    } else if (r.kind == Kind::local) {
      d = {r.address, Action::deliver_internal, "route", "a local domain"};
    } else if (warning != Warning::none) {
      d = {r.address, Action::block, warning == Warning::not_seemail_1a ? "OUT-2" : "OUT-3", why};
    } else {
      const PeerCertificate& cert = certificate_of(s, r.domain);
      const bool must_secure = r.kind == Kind::member || (r.kind == Kind::trusted && classified);
      const bool usable = cert.state == CertState::valid ||
                          cert.state == CertState::status_unknown || cert.renewal_found;
      if (must_secure) {
        if (usable) {
          d = {r.address, Action::sign_and_encrypt, r.kind == Kind::member ? "OUT-1" : "OUT-2",
               std::string("domain certificate ") +
                   std::string(cert.renewal_found && cert.state != CertState::valid
                                   ? "replaced by discovery"
                                   : state_text(cert.state))};
          if (cert.state == CertState::status_unknown && !cert.renewal_found)
            plan.notices.push_back({Party::sender_admin,
                                    "certificate status of " + r.domain + " could not be checked"});
        } else {
          d = {r.address, Action::hold, "OUT-5",
               "domain certificate of " + r.domain + " " + std::string(state_text(cert.state)) +
                   " and no valid one was discovered"};
          held = true;
        }
      } else if (usable && cert.state != CertState::status_unknown &&
                 (r.kind == Kind::trusted || s.encrypt_when_possible)) {
        d = {r.address, Action::sign_and_encrypt, "OUT-4",
             "a valid domain certificate is in the store"};
      } else {
        d = {r.address, Action::deliver_plain, "OUT-4", "unclassified mail to a non-member"};
      }
    }
    plan.recipients.push_back(std::move(d));
  }
  if (held) {
    plan.notices.push_back({Party::sender, "message held: no usable domain certificate"});
    plan.notices.push_back({Party::sender_admin, "message held: no usable domain certificate"});
  }
  return plan;
}

}  // namespace seegw::policy
