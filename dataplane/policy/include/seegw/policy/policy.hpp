// The SEEMail business rules as pure functions: a policy snapshot and the facts of one message in,
// a plan per recipient out. Outbound: OUT-1..5, TRG-4, OPS-3. Inbound: IN-1..3, IN-5, IN-6,
// OPS-3, DIR-2. No I/O, no clock, no hidden state, so the whole decision table is tested
// exhaustively; the data plane gathers the facts (scan, CMS, certificate validation) and carries
// the plan out (transform, route, hold, notify).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "seegw/common/network.hpp"
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
std::string_view cert_state_name(CertState s);

struct PeerCertificate {
  CertState state = CertState::missing;
  bool renewal_found = false;  // auto-discovery (DIR-2) found a valid replacement
};

// An immutable, versioned value built by the control process; the data plane swaps it whole.
struct PolicySnapshot {
  std::uint64_t version = 0;
  std::string our_domain;
  std::set<std::string> local_domains;    // lower case
  std::map<std::string, Agency> seemail;  // the SEEMAIL list: domain → agency
  // DIR-1: the directory's VENDOR list (suppliers, candidates): domain → name. Not agencies:
  // unclassified mail to them is signed and encrypted when their certificate is valid, classified
  // mail only when the administrator put them on the TRUSTED list.
  std::map<std::string, std::string> vendors;
  std::set<std::string> trusted;                        // the TRUSTED list: domains or addresses
  std::map<std::string, PeerCertificate> certificates;  // domain → its domain certificate
  // TRG-4: content that could not be inspected counts as this level (fail closed).
  scan::Classification uninspectable_as = scan::Classification::restricted;
  // §1.2 "permit transmission of individual-to-individual S/MIME": a message whose only
  // unreadable content is a user's encrypted S/MIME counts as this level instead. The default
  // (IN-CONFIDENCE) lets it go to every SEEMail agency and TRUSTED recipient, secured by the
  // domain layer, and to no one else ("cannot be digitally signed"); RESTRICTED makes it as strict
  // as any other unreadable content.
  scan::Classification individual_smime_as = scan::Classification::in_confidence;
  bool encrypt_when_possible = false;  // OUT-4: sign+encrypt unclassified mail to non-members too
  bool sign_when_possible = false;     // OUT-4: clear-sign the rest of the mail to non-members
  // IN-5: rulesets that downgrade warning 2B (unverified sender) from HARD to SOFT. Servers are
  // recognised by source address (the spec recommends IP over e-mail address alone).
  std::vector<Network> trusted_servers;
  std::set<std::string>
      trusted_listservs;  // envelope or From addresses of list servers, lower case
  // IN-4 / DIR-2: certificates learnt from mail or discovery are used at once, or wait for the
  // administrator's approval.
  bool auto_approve_certificates = true;
};

// Which way a message goes (the data plane knows the client and the listener it came in on).
enum class Direction { outbound, inbound };
Direction direction_of(const PolicySnapshot& snapshot, bool client_internal);

enum class Action {
  deliver_internal,  // to our own mail server
  deliver_plain,     // unchanged to the Internet (OUT-4)
  sign_and_encrypt,  // domain signature + envelope to the domain certificate (OUT-1)
  sign,              // clear-signed with the domain key, readable by anyone (OUT-4)
  block,             // not delivered; the sender gets the warning
  hold,              // queued until a usable certificate exists (OUT-5, OUT-8)
  answer_ping,       // seemail-ping (OPS-3): before any other rule
};

// What the sender of a stopped message is told: #1A, #1C, or (TRG-4) that content the gateway
// could not inspect cannot be signed for where it was going — never a trigger word it did not see.
enum class Warning { none, not_seemail_1a, restricted_1c, cannot_sign_uninspectable };
std::string_view warning_name(Warning w);  // "#1A", "#1C", "cannot be signed"

// Who a notification goes to. Admins are postmaster@<our domain> (OPS-2): the sender's admin
// for outbound mail, the recipient's admin for inbound mail.
enum class Party { sender, sender_admin, recipient_admin };

// Why; also the key, with the address, that notifications are aggregated and rate-limited by.
enum class NoticeKind {
  blocked_1a,
  blocked_1c,
  blocked_uninspectable,  // TRG-4: 001's "cannot be digitally signed"
  held,
  certificate_status_unknown,
  inbound_certificate,  // IN-2: a signer certificate was not valid
  unverified_sender,    // IN-5
  certificate_learnt,   // IN-4: a new domain certificate, used or awaiting approval
};
std::string_view notice_kind_name(NoticeKind kind);

struct Notice {
  Party to;
  std::string about;
  NoticeKind kind = NoticeKind::held;
};

struct RecipientDecision {
  std::string recipient;
  Action action;
  std::string rule;                     // the rule that decided, e.g. "OUT-3"
  std::string reason;                   // for `seegw explain` and the log
  std::string certificate_domain = {};  // sign_and_encrypt: whose domain certificate to use
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
  bool uninspectable_is_individual_smime = false;  // every unreadable part is a user's S/MIME
};

DeliveryPlan decide_outbound(const PolicySnapshot& snapshot, const OutboundFacts& facts);
// The level the outbound rules judge: the trigger words found, raised for unreadable content
// (TRG-4) to uninspectable_as, or individual_smime_as when it is only an individual's S/MIME.
scan::Classification judged_level(const PolicySnapshot& snapshot, const OutboundFacts& facts);

std::string_view action_name(Action a);
// OUT-1, OUT-5: can mail to `domain` (lower case) be secured with the certificate the snapshot
// holds for it — valid, its revocation status unknown, or replaced by discovery?
bool certificate_usable(const PolicySnapshot& snapshot, const std::string& domain);

// ---- inbound -------------------------------------------------------------------------------

// What the data plane found out about the signature (x509::validate and cms::unprotect, IN-1).
enum class SignerState {
  unsigned_message,
  bad_signature,  // the signature does not verify: the content was altered
  valid,
  revoked,         // revoked or suspended
  unknown_ca,      // no chain to a trusted root (also self-signed, unusable key)
  expired,         // also not yet valid
  status_unknown,  // no usable CRL
  name_mismatch,   // the certificate does not name the sender's domain (RFC 3183, DIR-3)
};

// Warnings inserted into an inbound message for its recipients (001's texts, IN-2, IN-5, IN-6).
enum class InboundWarning {
  certificate_revoked,
  certificate_unknown,
  certificate_expired,
  certificate_status_unknown,
  signature_invalid,
  unverified_sender_2b,
  not_seemail_4a,
  spoofed_own_domain,
  signer_not_sender,  // §2.6: the signer certificate does not name the sender's domain
  cannot_decrypt,     // encrypted to our key, and it does not decrypt (IN-1)
};
enum class Severity { soft, hard };

struct RaisedWarning {
  InboundWarning warning;
  Severity severity;
  std::string detail;  // the message's own facts
};

enum class InboundAction {
  deliver,                     // to our mail server, with any warnings inserted
  answer_ping,                 // OPS-3
  answer_certificate_request,  // DIR-2 fallback
  ignore_unsigned_request,     // a ping or certificate request that is not signed: logged only
};

struct InboundFacts {
  std::string from;             // the RFC 5322 From address (what the recipient sees)
  std::string envelope_sender;  // MAIL FROM
  std::string client_address;   // the SMTP peer
  std::vector<std::string> recipients;
  scan::Classification classification = scan::Classification::none;
  bool was_encrypted = false;
  SignerState signer = SignerState::unsigned_message;
  std::string signer_domain;  // the domain the signer certificate names
  // IN-1, §2.6: what is wrong with the signer certificate's names for this sender ("" when
  // nothing is), whatever `signer` says about dates and revocation.
  std::string signer_naming;
};

struct InboundRecipient {
  std::string recipient;
  InboundAction action;
  std::string rule;
};

struct InboundPlan {
  std::vector<InboundRecipient> recipients;
  std::vector<RaisedWarning> warnings;  // HARD first
  std::vector<Notice> notices;
  bool learn_certificate = false;  // IN-4: the signer is a valid domain certificate of a peer
};

InboundPlan decide_inbound(const PolicySnapshot& snapshot, const InboundFacts& facts);

// The recipient-facing one-line text of a warning (IN-2's wording, 001's headlines).
std::string_view warning_headline(InboundWarning w);
std::string_view severity_name(Severity s);
// Is this address one that must never trigger an exception message (OPS-2: loops)?
bool is_postmaster_or_daemon(std::string_view address);

}  // namespace seegw::policy
