// rules IN-1, IN-2, IN-3, IN-5, IN-6, OPS-2, OPS-3, DIR-2: the inbound decision table, case by case
// and exhaustively over signer state × sender kind × classification × rulesets × loop senders.
#include <gtest/gtest.h>

#include "seegw/policy/notice_limiter.hpp"
#include "seegw/policy/policy.hpp"

namespace seegw::policy {
namespace {

using scan::Classification;

PolicySnapshot snapshot() {
  PolicySnapshot s;
  s.our_domain = "agency-a.govt.nz";
  s.local_domains = {"agency-a.govt.nz"};
  s.seemail = {{"agency-b.govt.nz", {"Agency B", Community::standard}},
               {"agency-c.govt.nz", {"Agency C", Community::restricted}}};
  s.trusted = {"partner.co.nz"};
  s.trusted_servers = {*Network::parse("192.0.2.0/24")};
  s.trusted_listservs = {"list@lists.example.org"};
  return s;
}

InboundFacts facts(std::string from, SignerState signer,
                   Classification level = Classification::none,
                   std::string client = "198.51.100.7") {
  InboundFacts f;
  f.from = from;
  f.envelope_sender = from;
  f.client_address = client;
  f.recipients = {"dave@agency-a.govt.nz"};
  f.classification = level;
  f.signer = signer;
  f.signer_domain = "agency-c.govt.nz";
  return f;
}

bool has(const InboundPlan& p, InboundWarning w, Severity s) {
  for (const auto& r : p.warnings)
    if (r.warning == w && r.severity == s) return true;
  return false;
}

TEST(Inbound, ValidSignatureFromAnAgencyDeliversWithoutWarningAndLearns) {  // IN-1, IN-4
  auto p = decide_inbound(
      snapshot(), facts("carol@agency-c.govt.nz", SignerState::valid, Classification::restricted));
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_TRUE(p.notices.empty());
  EXPECT_TRUE(p.learn_certificate);
  ASSERT_EQ(p.recipients.size(), 1u);
  EXPECT_EQ(p.recipients[0].action, InboundAction::deliver);
}

TEST(Inbound, CertificateTableWarningsAndAdminNotices) {  // IN-2, the spec's table
  struct Row {
    SignerState state;
    InboundWarning warning;
    Severity severity;
    const char* text;
  } rows[] = {
      {SignerState::revoked, InboundWarning::certificate_revoked, Severity::hard,
       "Certificate revoked/suspended - message integrity uncertain"},
      {SignerState::unknown_ca, InboundWarning::certificate_unknown, Severity::hard,
       "Certificate unknown - message integrity uncertain"},
      {SignerState::expired, InboundWarning::certificate_expired, Severity::soft,
       "Certificate expired - message integrity uncertain"},
      {SignerState::status_unknown, InboundWarning::certificate_status_unknown, Severity::soft,
       "Certificate status could not be checked - message integrity uncertain"},
  };
  for (const auto& r : rows) {
    auto p = decide_inbound(snapshot(), facts("carol@agency-c.govt.nz", r.state));
    ASSERT_EQ(p.warnings.size(), 1u) << r.text;
    EXPECT_EQ(p.warnings[0].warning, r.warning);
    EXPECT_EQ(p.warnings[0].severity, r.severity);
    EXPECT_EQ(warning_headline(r.warning), r.text);
    EXPECT_EQ(p.recipients[0].action, InboundAction::deliver) << "never dropped";
    ASSERT_EQ(p.notices.size(), 1u) << "notify RA";
    EXPECT_EQ(p.notices[0].to, Party::recipient_admin);
    EXPECT_FALSE(p.learn_certificate);
  }
}

// IN-1: naming and dates are separate facts. Agency B's expired key signing for agency C's domain
// is both an expired certificate (SOFT) and an unverified sender (HARD 2B).
TEST(Inbound, AnExpiredCertificateNamingAnotherAgencyIsAlso2B) {
  auto f = facts("carol@agency-c.govt.nz", SignerState::expired);
  f.signer_domain = "agency-b.govt.nz";
  f.signer_naming = "no address of the certificate covers the domain agency-c.govt.nz";
  auto p = decide_inbound(snapshot(), f);
  EXPECT_TRUE(has(p, InboundWarning::certificate_expired, Severity::soft));
  EXPECT_TRUE(has(p, InboundWarning::unverified_sender_2b, Severity::hard));
  EXPECT_EQ(p.warnings.front().severity, Severity::hard);
  EXPECT_FALSE(p.learn_certificate);
}

// §2.6: whoever the sender — a trusted partner, a non-member — a signer certificate whose
// addresses do not cover the sender's domain is warned about.
TEST(Inbound, ASignerThatDoesNotNameTheSenderIsWarnedForAnySender) {
  for (const char* from : {"x@partner.co.nz", "someone@example.org"}) {
    auto f = facts(from, SignerState::valid);
    f.signer_naming = "no address of the certificate covers the domain";
    auto p = decide_inbound(snapshot(), f);
    EXPECT_TRUE(has(p, InboundWarning::signer_not_sender, Severity::hard)) << from;
    EXPECT_FALSE(p.notices.empty()) << "and the administrator hears of it";
    f.signer_naming.clear();
    EXPECT_TRUE(decide_inbound(snapshot(), f).warnings.empty()) << from;
  }
}

TEST(Inbound, UnsignedMailClaimingAnAgencyIsHard2BUnlessATrustedServerOrListserv) {  // IN-5
  auto p =
      decide_inbound(snapshot(), facts("carol@agency-c.govt.nz", SignerState::unsigned_message));
  EXPECT_TRUE(has(p, InboundWarning::unverified_sender_2b, Severity::hard));
  auto server =
      decide_inbound(snapshot(), facts("carol@agency-c.govt.nz", SignerState::unsigned_message,
                                       Classification::none, "192.0.2.25"));
  EXPECT_TRUE(has(server, InboundWarning::unverified_sender_2b, Severity::soft));
  auto f = facts("carol@agency-c.govt.nz", SignerState::unsigned_message);
  f.envelope_sender = "list@lists.example.org";
  EXPECT_TRUE(
      has(decide_inbound(snapshot(), f), InboundWarning::unverified_sender_2b, Severity::soft));
  // A subdomain of an agency is that agency (RFC 3183 ascendant rule).
  EXPECT_TRUE(has(
      decide_inbound(snapshot(), facts("x@mail.agency-c.govt.nz", SignerState::unsigned_message)),
      InboundWarning::unverified_sender_2b, Severity::hard));
  // Signed, but by a certificate that does not name the sender's domain: still unverified.
  EXPECT_TRUE(
      has(decide_inbound(snapshot(), facts("carol@agency-c.govt.nz", SignerState::name_mismatch)),
          InboundWarning::unverified_sender_2b, Severity::hard));
}

TEST(Inbound, TriggerFromOutsideTheCommunityIs4A) {  // IN-6
  auto p = decide_inbound(snapshot(), facts("bob@example.org", SignerState::unsigned_message,
                                            Classification::in_confidence));
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0].warning, InboundWarning::not_seemail_4a);
  EXPECT_TRUE(decide_inbound(snapshot(), facts("bob@example.org", SignerState::unsigned_message))
                  .warnings.empty());
  // A trusted partner's verified mail may carry a trigger.
  auto t = facts("x@partner.co.nz", SignerState::valid, Classification::sensitive);
  EXPECT_TRUE(decide_inbound(snapshot(), t).warnings.empty());
}

TEST(Inbound, OwnDomainFromOutsideIsSpoofing) {  // IN-6
  auto p = decide_inbound(snapshot(), facts("ceo@agency-a.govt.nz", SignerState::unsigned_message));
  EXPECT_TRUE(has(p, InboundWarning::spoofed_own_domain, Severity::hard));
  auto server =
      decide_inbound(snapshot(), facts("ceo@agency-a.govt.nz", SignerState::unsigned_message,
                                       Classification::none, "192.0.2.9"));
  EXPECT_TRUE(has(server, InboundWarning::spoofed_own_domain, Severity::soft));
}

TEST(Inbound, EncryptedFromAnUnknownSourceIsAccepted) {  // IN-3
  auto f = facts("someone@example.net", SignerState::unsigned_message);
  f.was_encrypted = true;
  auto p = decide_inbound(snapshot(), f);
  EXPECT_EQ(p.recipients[0].action, InboundAction::deliver);
  EXPECT_TRUE(p.warnings.empty());
}

TEST(Inbound, PingAndCertificateRequestsComeBeforeAnyRule) {  // OPS-3, DIR-2
  auto f = facts("carol@agency-c.govt.nz", SignerState::valid, Classification::restricted);
  f.recipients = {"seemail-ping@agency-a.govt.nz", "domain-certificate-request@AGENCY-A.govt.nz"};
  auto p = decide_inbound(snapshot(), f);
  EXPECT_EQ(p.recipients[0].action, InboundAction::answer_ping);
  EXPECT_EQ(p.recipients[1].action, InboundAction::answer_certificate_request);
  EXPECT_TRUE(p.warnings.empty()) << "the rules are not invoked";
  f.signer = SignerState::unsigned_message;
  p = decide_inbound(snapshot(), f);
  EXPECT_EQ(p.recipients[0].action, InboundAction::ignore_unsigned_request);
  EXPECT_EQ(p.recipients[1].action, InboundAction::ignore_unsigned_request);
  f.was_encrypted = true;  // §2.14 "signed (and/or encrypted)": encrypted to our key is enough
  EXPECT_EQ(decide_inbound(snapshot(), f).recipients[0].action, InboundAction::answer_ping);
  for (auto untrusted :
       {SignerState::unknown_ca, SignerState::revoked, SignerState::bad_signature}) {
    f.signer = untrusted;
    EXPECT_EQ(decide_inbound(snapshot(), f).recipients[0].action,
              InboundAction::ignore_unsigned_request);
  }
  f.signer = SignerState::valid;  // a trusted CA's certificate that names someone else
  f.signer_naming = "no address of the certificate covers the domain agency-c.govt.nz";
  EXPECT_EQ(decide_inbound(snapshot(), f).recipients[0].action,
            InboundAction::ignore_unsigned_request);
  f.signer_naming.clear();  // a trusted CA's signer not on the lists is answered
  f.from = f.envelope_sender = "ops@partner-not-listed.co.nz";
  EXPECT_EQ(decide_inbound(snapshot(), f).recipients[0].action, InboundAction::answer_ping);
}

// §2.8 bootstrap (issue 13 item 16): a signed certificate request from an agency we hold no
// certificate for teaches its signer's certificate; an untrusted, misnamed or unlisted signer's
// does not.
TEST(Inbound, ACertificateRequestTeachesTheRequestersCertificate) {
  auto f = facts("domain-certificate-request@agency-c.govt.nz", SignerState::valid);
  f.recipients = {"domain-certificate-request@agency-a.govt.nz"};
  auto p = decide_inbound(snapshot(), f);
  ASSERT_EQ(p.recipients[0].action, InboundAction::answer_certificate_request);
  EXPECT_TRUE(p.learn_certificate);
  f.signer = SignerState::unknown_ca;
  EXPECT_FALSE(decide_inbound(snapshot(), f).learn_certificate);
  f.signer = SignerState::valid;
  f.signer_naming = "no address of the certificate covers the domain agency-c.govt.nz";
  EXPECT_FALSE(decide_inbound(snapshot(), f).learn_certificate);
  f.signer_naming.clear();
  f.from = f.envelope_sender = "domain-certificate-request@partner-not-listed.co.nz";
  EXPECT_FALSE(decide_inbound(snapshot(), f).learn_certificate);
}

// OPS-2: each rule alone — the From header, then the envelope sender — keeps the administrator's
// notices away from mail a postmaster or daemon sent (the other address is an ordinary one).
TEST(Inbound, NoNoticesWhenTheFromHeaderIsAPostmasterOrDaemon) {
  for (const char* from : {"postmaster@agency-c.govt.nz", "MAILER-DAEMON@agency-c.govt.nz"}) {
    auto f = facts(from, SignerState::revoked);
    f.envelope_sender = "carol@agency-c.govt.nz";
    auto p = decide_inbound(snapshot(), f);
    EXPECT_TRUE(p.notices.empty()) << from;
    EXPECT_FALSE(p.warnings.empty()) << "the recipient is still warned";
  }
}

TEST(Inbound, NoNoticesWhenTheEnvelopeSenderIsAPostmasterDaemonOrNull) {
  for (const char* sender : {"postmaster@agency-c.govt.nz", "MAILER-DAEMON@agency-c.govt.nz", ""}) {
    auto f = facts("carol@agency-c.govt.nz", SignerState::revoked);
    f.envelope_sender = sender;
    auto p = decide_inbound(snapshot(), f);
    EXPECT_TRUE(p.notices.empty()) << "<" << sender << ">";
    EXPECT_FALSE(p.warnings.empty()) << "the recipient is still warned";
  }
}

TEST(Inbound, NoticesStillGoForOrdinarySenders) {  // the two above can fail
  auto p = decide_inbound(snapshot(), facts("carol@agency-c.govt.nz", SignerState::revoked));
  EXPECT_FALSE(p.notices.empty());
}

// Every combination: the invariants that make inbound handling trustworthy.
TEST(Inbound, ExhaustiveInvariants) {
  const SignerState signers[] = {
      SignerState::unsigned_message, SignerState::bad_signature, SignerState::valid,
      SignerState::revoked,          SignerState::unknown_ca,    SignerState::expired,
      SignerState::status_unknown,   SignerState::name_mismatch};
  const char* senders[] = {"carol@agency-c.govt.nz", "bob@agency-b.govt.nz",
                           "ceo@agency-a.govt.nz",   "x@partner.co.nz",
                           "someone@example.org",    "postmaster@agency-c.govt.nz"};
  const char* clients[] = {"198.51.100.7", "192.0.2.1"};
  std::size_t cases = 0;
  for (auto signer : signers)
    for (auto sender : senders)
      for (auto client : clients)
        for (int level = 0; level <= 3; ++level)
          for (int encrypted = 0; encrypted <= 1; ++encrypted)
            for (bool misnamed : {false, true}) {
              auto f = facts(sender, signer, static_cast<Classification>(level), client);
              f.was_encrypted = encrypted;
              if (misnamed) f.signer_naming = "no address of the certificate covers the domain";
              const bool genuine =
                  signer != SignerState::unsigned_message && signer != SignerState::bad_signature;
              auto p = decide_inbound(snapshot(), f);
              ++cases;
              // Mail is never dropped: every ordinary recipient gets it.
              ASSERT_EQ(p.recipients.size(), 1u);
              ASSERT_EQ(p.recipients[0].action, InboundAction::deliver);
              // A bad, revoked or unknown signature is always a HARD warning.
              if (signer == SignerState::bad_signature || signer == SignerState::revoked ||
                  signer == SignerState::unknown_ca) {
                ASSERT_FALSE(p.warnings.empty());
              }
              if (!p.warnings.empty()) {
                ASSERT_FALSE(p.warnings.front().severity == Severity::soft &&
                             std::any_of(p.warnings.begin(), p.warnings.end(),
                                         [](auto& w) { return w.severity == Severity::hard; }))
                    << "HARD first";
              }
              // Only a valid signature from a member or trusted partner teaches us a certificate.
              if (p.learn_certificate) {
                ASSERT_EQ(signer, SignerState::valid);
                ASSERT_FALSE(misnamed);
              }
              // §2.6: a signer certificate that does not name the sender is always a HARD warning
              // (2B for an agency's domain), whoever the sender and whatever the dates (IN-1).
              if (misnamed && genuine) {
                ASSERT_TRUE(has(p, InboundWarning::unverified_sender_2b, Severity::hard) ||
                            has(p, InboundWarning::signer_not_sender, Severity::hard) ||
                            has(p, InboundWarning::spoofed_own_domain, Severity::hard) ||
                            (std::string(client) == "192.0.2.1" &&
                             has(p, InboundWarning::unverified_sender_2b, Severity::soft)));
              }
              // Unsigned agency mail from outside a trusted server is a HARD 2B.
              const std::string s = sender;
              const bool agency =
                  s.ends_with("agency-c.govt.nz") || s.ends_with("agency-b.govt.nz");
              if (agency && signer == SignerState::unsigned_message &&
                  std::string(client) != "192.0.2.1") {
                ASSERT_TRUE(has(p, InboundWarning::unverified_sender_2b, Severity::hard));
              }
              // Classified mail not verified from the community is always flagged (4A).
              if (level > 0 &&
                  (misnamed || (signer != SignerState::valid && signer != SignerState::expired &&
                                signer != SignerState::status_unknown))) {
                ASSERT_TRUE(has(p, InboundWarning::not_seemail_4a, Severity::soft));
              }
              // OPS-2: nothing for the admin about a postmaster's mail.
              if (s.starts_with("postmaster@")) {
                ASSERT_TRUE(p.notices.empty());
              }
              for (const auto& n : p.notices) {
                ASSERT_EQ(n.to, Party::recipient_admin);
              }
            }
  EXPECT_EQ(cases, 8u * 6 * 2 * 4 * 2 * 2);
}

TEST(NoticeLimiter, AggregatesPerAddressAndReason) {  // OPS-2
  NoticeLimiter l({3, 60});
  int sent = 0;
  for (int i = 0; i < 500; ++i)
    sent += l.admit("postmaster@agency-a.govt.nz", NoticeKind::blocked_1a, 1000 + i / 100);
  EXPECT_EQ(sent, 3);
  EXPECT_TRUE(l.admit("postmaster@agency-a.govt.nz", NoticeKind::held, 1001)) << "another reason";
  EXPECT_TRUE(l.admit("alice@agency-a.govt.nz", NoticeKind::blocked_1a, 1001)) << "another address";
  EXPECT_TRUE(l.due(1030).empty()) << "window still open";
  auto due = l.due(1060);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].suppressed, 497u);
  EXPECT_EQ(due[0].kind, NoticeKind::blocked_1a);
  EXPECT_TRUE(l.admit("POSTMASTER@agency-a.govt.nz", NoticeKind::blocked_1a, 1061)) << "new window";
  EXPECT_TRUE(l.due(2000).empty()) << "nothing held back, no summary";
}

}  // namespace
}  // namespace seegw::policy
