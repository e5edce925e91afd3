// rules OUT-1..5, TRG-4, OPS-3: the outbound decision table, case by case and exhaustively over
// every classification × recipient kind × certificate state, checking the invariants that make
// the gateway safe to trust.
#include "seegw/policy/policy.hpp"

#include <gtest/gtest.h>

namespace seegw::policy {
namespace {

using scan::Classification;

PolicySnapshot snapshot() {
  PolicySnapshot s;
  s.our_domain = "agency-a.govt.nz";
  s.local_domains = {"agency-a.govt.nz"};
  s.seemail = {{"agency-b.govt.nz", {"Agency B", Community::standard}},
               {"agency-c.govt.nz", {"Agency C", Community::restricted}}};
  s.trusted = {"partner.co.nz", "person@lawfirm.co.nz"};
  s.vendors = {{"vendor.co.nz", "Vendor V"}};
  s.certificates = {{"agency-b.govt.nz", {CertState::valid, false}},
                    {"agency-c.govt.nz", {CertState::valid, false}},
                    {"partner.co.nz", {CertState::valid, false}},
                    {"vendor.co.nz", {CertState::valid, false}}};
  return s;
}

DeliveryPlan decide(const std::vector<std::string>& rcpts, Classification level,
                    bool uninspectable = false, const PolicySnapshot& s = snapshot(),
                    bool individual_smime = false) {
  return decide_outbound(
      s, OutboundFacts{"alice@agency-a.govt.nz", rcpts, level, uninspectable, individual_smime});
}

TEST(Outbound, RestrictedToRestrictedCommunityIsSignedAndEncrypted) {
  auto p = decide({"carol@agency-c.govt.nz"}, Classification::restricted);
  ASSERT_EQ(p.recipients.size(), 1u);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt);
  EXPECT_EQ(p.recipients[0].rule, "OUT-1");
  EXPECT_EQ(p.warning, Warning::none);
}

TEST(Outbound, ClassifiedToANonMemberIsDeliveredToNoExternalRecipient) {  // OUT-2, #1A
  auto p = decide({"carol@agency-c.govt.nz", "someone@gmail.com", "bob@agency-a.govt.nz"},
                  Classification::in_confidence);
  EXPECT_EQ(p.warning, Warning::not_seemail_1a);
  EXPECT_EQ(p.recipients[0].action, Action::block);
  EXPECT_EQ(p.recipients[1].action, Action::block);
  EXPECT_EQ(p.recipients[2].action, Action::deliver_internal) << "internal recipients still get it";
  ASSERT_FALSE(p.notices.empty());
  EXPECT_EQ(p.notices[0].to, Party::sender);
}

TEST(Outbound,
     SensitiveOrRestrictedToStandardCommunityIsBlockedForAllExternalRecipients) {  // OUT-3
  for (auto level : {Classification::sensitive, Classification::restricted}) {
    auto p = decide({"carol@agency-c.govt.nz", "bert@agency-b.govt.nz"}, level);
    EXPECT_EQ(p.warning, Warning::restricted_1c);
    EXPECT_EQ(p.recipients[0].action, Action::block);
    EXPECT_EQ(p.recipients[1].action, Action::block);
    EXPECT_EQ(p.recipients[1].rule, "OUT-3");
  }
  // IN-CONFIDENCE may go to the Standard community, secured.
  auto p = decide({"bert@agency-b.govt.nz"}, Classification::in_confidence);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt);
}

TEST(Outbound, UnclassifiedToANonMemberPassesUnchanged) {  // OUT-4
  auto p = decide({"someone@gmail.com"}, Classification::none);
  EXPECT_EQ(p.recipients[0].action, Action::deliver_plain);
  EXPECT_EQ(p.warning, Warning::none);
}

TEST(Outbound, EveryMessageToAnAgencyIsSecuredEvenUnclassified) {  // OUT-1
  EXPECT_EQ(decide({"bert@agency-b.govt.nz"}, Classification::none).recipients[0].action,
            Action::sign_and_encrypt);
}

TEST(Outbound, TrustedListByDomainOrAddress) {
  auto p = decide({"x@partner.co.nz", "person@lawfirm.co.nz"}, Classification::in_confidence);
  EXPECT_EQ(p.warning, Warning::none);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt);
  EXPECT_EQ(p.recipients[1].action, Action::hold)
      << "trusted, but no certificate for lawfirm.co.nz";
}

TEST(Outbound, CertificateStatesFollowTheBusinessTable) {  // OUT-5
  for (auto state :
       {CertState::revoked, CertState::unknown_ca, CertState::expired, CertState::missing}) {
    auto s = snapshot();
    s.certificates["agency-c.govt.nz"] = {state, false};
    auto p = decide({"carol@agency-c.govt.nz"}, Classification::none, false, s);
    EXPECT_EQ(p.recipients[0].action, Action::hold);
    EXPECT_EQ(p.notices.size(), 2u) << "sender and sender's admin are told";
    s.certificates["agency-c.govt.nz"] = {state, true};
    EXPECT_EQ(
        decide({"carol@agency-c.govt.nz"}, Classification::none, false, s).recipients[0].action,
        Action::sign_and_encrypt)
        << "auto-discovery found a renewal: pass the message through";
  }
  auto s = snapshot();
  s.certificates["agency-c.govt.nz"] = {CertState::status_unknown, false};
  auto p = decide({"carol@agency-c.govt.nz"}, Classification::restricted, false, s);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt) << "status unknown: send";
  ASSERT_EQ(p.notices.size(), 1u);
  EXPECT_EQ(p.notices[0].to, Party::sender_admin) << "and notify the sender's admin";
}

// DIR-1: the VENDOR list is not the SEEMAIL list. A vendor gets unclassified mail signed and
// encrypted (a valid domain certificate), never classified mail unless it is on TRUSTED.
TEST(Outbound, VendorsGetSecureUnclassifiedMailButNoClassifiedMail) {
  auto p = decide({"sales@vendor.co.nz"}, Classification::none);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt);
  EXPECT_EQ(p.recipients[0].certificate_domain, "vendor.co.nz");
  p = decide({"sales@eu.vendor.co.nz"}, Classification::none);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt) << "a subdomain is the vendor";
  for (auto level : {Classification::in_confidence, Classification::restricted}) {
    p = decide({"sales@vendor.co.nz", "carol@agency-c.govt.nz"}, level);
    EXPECT_EQ(p.warning, Warning::not_seemail_1a);
    EXPECT_EQ(p.recipients[0].action, Action::block);
    EXPECT_EQ(p.recipients[1].action, Action::block) << "to no external recipient at all";
  }
  auto s = snapshot();
  s.certificates["vendor.co.nz"] = {CertState::revoked, false};
  EXPECT_EQ(decide({"sales@vendor.co.nz"}, Classification::none, false, s).recipients[0].action,
            Action::deliver_plain)
      << "unclassified without a usable certificate: as to any non-member";
  s = snapshot();
  s.trusted.insert("vendor.co.nz");
  EXPECT_EQ(
      decide({"sales@vendor.co.nz"}, Classification::restricted, false, s).recipients[0].action,
      Action::sign_and_encrypt)
      << "the administrator put it on TRUSTED";
}

// §1.2: individual-to-individual S/MIME is permitted — secured by the domain layer to every
// SEEMail agency (Standard too) and TRUSTED recipient — and goes to no one the gateway cannot
// secure it for, with "cannot be digitally signed", never #1A/#1C. Policy makes it stricter.
TEST(Outbound, IndividualSmimeGoesSecuredToEveryAgencyAndTrustedRecipient) {
  const bool individual = true;
  for (const char* r : {"bert@agency-b.govt.nz", "carol@agency-c.govt.nz", "x@partner.co.nz"}) {
    auto p = decide({r}, Classification::none, true, snapshot(), individual);
    EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt) << r;
    EXPECT_EQ(p.warning, Warning::none) << r;
  }
  auto p = decide({"someone@gmail.com"}, Classification::none, true, snapshot(), individual);
  EXPECT_EQ(p.recipients[0].action, Action::block);
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable);
  auto strict = snapshot();
  strict.individual_smime_as = Classification::restricted;
  p = decide({"bert@agency-b.govt.nz"}, Classification::none, true, strict, individual);
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable) << "as strict as other content";
  p = decide({"bert@agency-b.govt.nz"}, Classification::restricted, true, snapshot(), individual);
  EXPECT_EQ(p.warning, Warning::restricted_1c) << "a RESTRICTED word outside the envelope counts";
  p = decide({"bert@agency-b.govt.nz"}, Classification::none, true, snapshot(), false);
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable) << "a locked zip is not S/MIME";
}

TEST(Outbound, UninspectableContentCountsAsClassified) {  // TRG-4
  auto p = decide({"someone@gmail.com"}, Classification::none, /*uninspectable=*/true);
  EXPECT_EQ(p.recipients[0].action, Action::block);
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable) << "no trigger word: not #1A";
  ASSERT_EQ(p.notices.size(), 2u);
  EXPECT_EQ(p.notices[0].kind, NoticeKind::blocked_uninspectable);
  p = decide({"bert@agency-b.govt.nz"}, Classification::none, true);
  EXPECT_EQ(p.recipients[0].action, Action::block) << "fail closed: it could be RESTRICTED";
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable) << "no RESTRICTED word: not #1C";
  p = decide({"bert@agency-b.govt.nz"}, Classification::in_confidence, true);
  EXPECT_EQ(p.warning, Warning::cannot_sign_uninspectable) << "IN-CONFIDENCE may go to B";
  p = decide({"someone@gmail.com"}, Classification::in_confidence, true);
  EXPECT_EQ(p.warning, Warning::not_seemail_1a) << "a trigger word was seen: #1A is true";
  p = decide({"bert@agency-b.govt.nz"}, Classification::restricted, true);
  EXPECT_EQ(p.warning, Warning::restricted_1c) << "a RESTRICTED word was seen: #1C is true";
  auto s = snapshot();
  s.uninspectable_as = Classification::in_confidence;
  EXPECT_EQ(decide({"bert@agency-b.govt.nz"}, Classification::none, true, s).recipients[0].action,
            Action::sign_and_encrypt);
}

TEST(Outbound, AnAgencysSubdomainIsThatAgency) {  // OUT-1, OUT-3 (RFC 3183 §3.1.1 ascendants)
  auto p = decide({"carol@mail.agency-c.govt.nz"}, Classification::restricted);
  EXPECT_EQ(p.recipients[0].action, Action::sign_and_encrypt);
  EXPECT_EQ(p.recipients[0].certificate_domain, "agency-c.govt.nz") << "the agency's certificate";
  p = decide({"bert@x.agency-b.govt.nz"}, Classification::restricted);
  EXPECT_EQ(p.recipients[0].action, Action::block) << "still the Standard community";
  EXPECT_EQ(p.warning, Warning::restricted_1c);
  p = decide({"eve@agency-c.govt.nz.evil.example"}, Classification::restricted);
  EXPECT_EQ(p.warning, Warning::not_seemail_1a) << "a suffix is not an ascendant";
}

TEST(Outbound, SeemailPingAnswersBeforeAnyRule) {  // OPS-3
  auto p = decide({"seemail-ping@agency-a.govt.nz", "someone@gmail.com"}, Classification::none);
  EXPECT_EQ(p.recipients[0].action, Action::answer_ping);
}

TEST(Outbound, OpportunisticEncryptionForNonMembersIsPolicy) {  // OUT-4 "may"
  auto s = snapshot();
  s.certificates["example.org"] = {CertState::valid, false};
  EXPECT_EQ(decide({"x@example.org"}, Classification::none, false, s).recipients[0].action,
            Action::deliver_plain);
  s.encrypt_when_possible = true;
  EXPECT_EQ(decide({"x@example.org"}, Classification::none, false, s).recipients[0].action,
            Action::sign_and_encrypt);
  // Clear-signing the rest: a recipient without a certificate gets it signed, readable.
  s.sign_when_possible = true;
  EXPECT_EQ(decide({"y@gmail.com"}, Classification::none, false, s).recipients[0].action,
            Action::sign);
  EXPECT_EQ(decide({"x@example.org"}, Classification::none, false, s).recipients[0].action,
            Action::sign_and_encrypt)
      << "encryption, when possible, wins";
  EXPECT_EQ(decide({"y@gmail.com"}, Classification::in_confidence, false, s).recipients[0].action,
            Action::block)
      << "signing never makes classified mail acceptable";
}

// Every combination: no classified message ever leaves in clear text, no agency ever gets plain
// mail, a block is all-or-nothing for external recipients, and nothing is encrypted to an
// unusable certificate.
TEST(Outbound, ExhaustiveInvariants) {
  const std::vector<std::string> kinds = {"bob@agency-a.govt.nz",   "bert@agency-b.govt.nz",
                                          "carol@agency-c.govt.nz", "x@partner.co.nz",
                                          "someone@gmail.com",      "sales@vendor.co.nz"};
  const CertState states[] = {CertState::valid,      CertState::status_unknown, CertState::revoked,
                              CertState::unknown_ca, CertState::expired,        CertState::missing};
  std::size_t cases = 0;
  for (auto level : {Classification::none, Classification::in_confidence, Classification::sensitive,
                     Classification::restricted})
    for (bool uninspectable : {false, true})
      for (bool individual : {false, true})
        for (auto cert_b : states)
          for (auto cert_c : states)
            for (bool renewal : {false, true})
              for (bool sign : {false, true})
                for (unsigned mask = 1; mask < (1u << kinds.size()); ++mask) {
                  auto s = snapshot();
                  s.sign_when_possible = sign;
                  s.certificates["agency-b.govt.nz"] = {cert_b, renewal};
                  s.certificates["agency-c.govt.nz"] = {cert_c, renewal};
                  std::vector<std::string> rcpts;
                  for (std::size_t k = 0; k < kinds.size(); ++k)
                    if (mask & (1u << k)) rcpts.push_back(kinds[k]);
                  auto p = decide(rcpts, level, uninspectable, s, uninspectable && individual);
                  ++cases;
                  ASSERT_EQ(p.recipients.size(), rcpts.size());
                  const bool classified = level != Classification::none || uninspectable;
                  bool any_block = false, all_external_blocked = true;
                  for (const auto& d : p.recipients) {
                    const bool external =
                        d.recipient.find("@agency-a.govt.nz") == std::string::npos;
                    const bool member = d.recipient.find("@agency-b") != std::string::npos ||
                                        d.recipient.find("@agency-c") != std::string::npos;
                    // Clear-signed is still clear text.
                    const bool in_clear =
                        d.action == Action::deliver_plain || d.action == Action::sign;
                    if (classified && external) {
                      ASSERT_FALSE(in_clear) << d.recipient;
                    }
                    // DIR-1: a vendor is not an agency: classified mail never reaches it.
                    if (classified && d.recipient.ends_with("@vendor.co.nz")) {
                      ASSERT_EQ(d.action, Action::block);
                    }
                    if (member) {
                      ASSERT_FALSE(in_clear) << d.recipient;
                    }
                    if (!sign) {
                      ASSERT_NE(d.action, Action::sign);
                    }
                    if (!external) {
                      ASSERT_EQ(d.action, Action::deliver_internal);
                    }
                    if (d.action == Action::block) any_block = true;
                    if (external && d.action != Action::block) all_external_blocked = false;
                    if (d.action == Action::sign_and_encrypt && member) {
                      auto st =
                          d.recipient.find("@agency-b") != std::string::npos ? cert_b : cert_c;
                      ASSERT_TRUE(st == CertState::valid || st == CertState::status_unknown ||
                                  renewal)
                          << d.recipient;
                    }
                    ASSERT_FALSE(d.rule.empty());
                  }
                  if (any_block) {
                    ASSERT_TRUE(all_external_blocked);
                  }
                  if (any_block) {
                    ASSERT_NE(p.warning, Warning::none);
                  }
                  // TRG-4: a warning never claims a trigger word the scanner did not see.
                  if (p.warning == Warning::not_seemail_1a) {
                    ASSERT_NE(level, Classification::none);
                  }
                  if (p.warning == Warning::restricted_1c) {
                    ASSERT_GE(level, Classification::sensitive);
                  }
                  if (p.warning == Warning::cannot_sign_uninspectable) {
                    ASSERT_TRUE(uninspectable);
                  }
                }
  EXPECT_EQ(cases, 4u * 2 * 2 * 6 * 6 * 2 * 2 * 63);
}

}  // namespace
}  // namespace seegw::policy
