// The SEEMail business rules as a pure function (rules OUT-1..5, TRG-4, OPS-3): a policy snapshot
// and the facts of one message in, a delivery plan per recipient out. No I/O, no clock, no
// hidden state, so the whole decision table is tested exhaustively. Inbound rules (IN-*) and the
// notifications' wording come with the rest of the policy issue.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "seegw/scan/classification.hpp"

namespace seegw::policy {

enum class Community { standard, restricted };  // SEEMail Standard / Restricted community

struct Agency {
  std::string name;
  Community community = Community::standard;
};

// What the certificate store knows about a peer domain's certificate (from x509::validate and
// the control process's discovery).
enum class CertState { valid, status_unknown, revoked, unknown_ca, expired, missing };

struct PeerCertificate {
  CertState state = CertState::missing;
  bool renewal_found = false;  // auto-discovery (DIR-2) found a valid replacement
};

// An immutable, versioned value built by the control process; the data plane swaps it whole.
struct PolicySnapshot {
  std::uint64_t version = 0;
  std::string our_domain;
  std::set<std::string> local_domains;                  // lower case
  std::map<std::string, Agency> seemail;                // the SEEMAIL list: domain → agency
  std::set<std::string> trusted;                        // the TRUSTED list: domains or addresses
  std::map<std::string, PeerCertificate> certificates;  // domain → its domain certificate
  // TRG-4: content that could not be inspected counts as this level (fail closed).
  scan::Classification uninspectable_as = scan::Classification::restricted;
  bool encrypt_when_possible = false;  // OUT-4: sign+encrypt unclassified mail to non-members too
};

enum class Action {
  deliver_internal,  // to our own mail server
  deliver_plain,     // unchanged to the Internet (OUT-4)
  sign_and_encrypt,  // domain signature + envelope to the domain certificate (OUT-1)
  block,             // not delivered; the sender gets the warning
  hold,              // queued until a usable certificate exists (OUT-5, OUT-8)
  answer_ping,       // seemail-ping (OPS-3): before any other rule
};

enum class Warning { none, not_seemail_1a, restricted_1c };

enum class Party { sender, sender_admin };

struct Notice {
  Party to;
  std::string about;
};

struct RecipientDecision {
  std::string recipient;
  Action action;
  std::string rule;    // the rule that decided, e.g. "OUT-3"
  std::string reason;  // for `seegw explain` and the log
};

struct DeliveryPlan {
  std::vector<RecipientDecision> recipients;  // in the order given
  Warning warning = Warning::none;
  std::vector<Notice> notices;
};

struct OutboundFacts {
  std::string sender;
  std::vector<std::string> recipients;
  scan::Classification classification = scan::Classification::none;
  bool uninspectable = false;
};

DeliveryPlan decide_outbound(const PolicySnapshot& snapshot, const OutboundFacts& facts);

std::string_view action_name(Action a);

}  // namespace seegw::policy
