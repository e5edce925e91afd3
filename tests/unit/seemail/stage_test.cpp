// The SEEMail stage (seemail::Stage) on its own, with real certificates and keys from the
// test PKI: agency A's key is read from a file here where the gateway's lives in the HSM (the
// stage only ever sees an EVP_PKEY; the HSM path is the e2e's). Rules OUT-5 and §2.8: mail that
// waits for a certificate asks for it; the gateway's own secured messages are sent as they are;
// a certificate request from an agency we hold no certificate for is answered encrypted to the
// certificate that signed it, and that certificate is learnt.
#include "seegw/seemail/stage.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../cms/test_identity.hpp"
#include "../test_dir.hpp"

namespace seegw::seemail {
namespace {

namespace fs = std::filesystem;

// The test PKI's directory (tools/make-test-pki, made at test time).
const std::string kPki = SEEGW_TEST_PKI_DIR;

// Agency A's key from a file where the gateway's lives in the HSM: the stage sees only a KeyRing.
class FileKeys : public keys::KeyRing {
 public:
  explicit FileKeys(const cms::test_pki::Identity& own) : own_(own) {}
  Result<keys::SigningKeys> signing_keys() override {
    return keys::SigningKeys{nullptr, own_.key.get(), own_.cert.get(), {}, {}};
  }
  bool working() override { return true; }

 private:
  const cms::test_pki::Identity& own_;
};

class StageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = scan::Matcher::create();
    ASSERT_TRUE(m) << m.error().message;
    matcher_ = *m;
    ASSERT_TRUE(own_.usable());
    Settings s;
    s.hostname = "gw.agency-a.govt.nz";
    s.domain = "agency-a.govt.nz";
    s.learnt = {dir_ / "certificates"};
    stage_ = std::make_unique<Stage>(s, *matcher_, keys_);
  }

  // A snapshot that trusts agency C's CA and lists C, without a certificate for it.
  std::shared_ptr<const TrustState> trust_without_c() {
    const fs::path file = dir_ / "policy.toml";
    std::ofstream(file) << "version = 1\ntrusted_roots = [\"" << kPki << "/agency-c/ca.pem\", \""
                        << kPki << "/agency-a/ca.pem\"]\ncrls = [\"" << kPki
                        << "/agency-c/crl.pem\"]\n[[agency]]\ndomain = \"agency-c.govt.nz\"\n"
                        << "community = \"restricted\"\n";
    auto t = load_trust_state(file, "agency-a.govt.nz", {"agency-a.govt.nz"},
                              {dir_ / "certificates"}, std::time(nullptr));
    EXPECT_TRUE(t) << t.error().message;
    return *t;
  }

  spool::SpoolRecord record(bool internal, std::string from, std::string to, std::string content) {
    spool::SpoolRecord r;
    r.id = "0661C3A8828C08";
    r.envelope.client_internal = internal;
    r.envelope.client_address = internal ? "127.0.0.1" : "192.0.2.3";
    r.envelope.mail_from = std::move(from);
    r.recipients.push_back({std::move(to), ""});
    r.content = std::make_shared<const std::string>(std::move(content));
    return r;
  }

  Plan run(const spool::SpoolRecord& r, const TrustState& trust) {
    return stage_->run(r, trust, std::time(nullptr));
  }

  test::TestDir test_dir_{"stage"};
  const fs::path& dir_ = test_dir_.path();
  std::shared_ptr<const scan::Matcher> matcher_;
  // Agency A's key from a file where the gateway's lives in the HSM.
  cms::test_pki::Identity own_ = cms::test_pki::identity("agency-a-dca");
  FileKeys keys_{own_};
  std::unique_ptr<Stage> stage_;
};

TEST_F(StageTest, MailForAnAgencyWithoutACertificateIsHeldAndItsCertificateWanted) {
  auto trust = trust_without_c();
  auto out = run(record(true, "alice@agency-a.govt.nz", "carol@agency-c.govt.nz",
                        "From: alice@agency-a.govt.nz\r\nSubject: x\r\n\r\n[RESTRICTED] y\r\n"),
                 *trust);
  ASSERT_EQ(out.recipients.size(), 1u);
  EXPECT_EQ(out.recipients[0].disposition, Disposition::hold_for_certificate);
  EXPECT_EQ(out.certificates_wanted, std::vector<std::string>{"agency-c.govt.nz"});
}

// Issue 15 item 7: what could not be inspected, and why, is in the decision's explanation (the
// log and `seegw explain`), not only in the sender's notice.
TEST_F(StageTest, WhatCouldNotBeInspectedAndWhyIsExplained) {
  auto trust = trust_without_c();
  auto out = run(record(true, "alice@agency-a.govt.nz", "bob@example.org",
                        "From: alice@agency-a.govt.nz\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";"
                        " boundary=b\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
                        "Version: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
                        "-----BEGIN PGP MESSAGE-----\r\nxx\r\n--b--\r\n"),
                 *trust);
  ASSERT_FALSE(out.scan.uninspectable.empty());
  const bool explained =
      std::any_of(out.explanation.begin(), out.explanation.end(), [](const std::string& line) {
        return line.starts_with("uninspectable: ") && line.find("encrypted") != std::string::npos;
      });
  EXPECT_TRUE(explained) << "explanation: " << (out.explanation.empty() ? "" : out.explanation[0]);
}

// ...and a message with thousands of uninspectable parts does not make a thousand-line
// explanation (it is kept in memory for `explain`, and logged).
TEST_F(StageTest, ThousandsOfUninspectablePartsAreCountedNotListed) {
  auto trust = trust_without_c();
  std::string content =
      "From: alice@agency-a.govt.nz\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 500; ++i)
    content +=
        "--b\r\nContent-Type: multipart/encrypted; boundary=e\r\n\r\n--e\r\n\r\nx\r\n--e--\r\n";
  content += "--b--\r\n";
  auto out = run(record(true, "alice@agency-a.govt.nz", "bob@example.org", content), *trust);
  ASSERT_GE(out.scan.uninspectable.size(), 500u);
  const auto told =
      std::count_if(out.explanation.begin(), out.explanation.end(),
                    [](const std::string& l) { return l.starts_with("uninspectable"); });
  EXPECT_EQ(told, 11) << "ten told, then how many more";
  EXPECT_NE(std::find_if(out.explanation.begin(), out.explanation.end(),
                         [](const std::string& l) { return l.ends_with(" more parts"); }),
            out.explanation.end());
}

TEST_F(StageTest, AMessageTheGatewaySecuredItselfLeavesAsItIs) {
  auto trust = trust_without_c();
  auto r = record(true, "", "domain-certificate-request@agency-c.govt.nz",
                  "Subject: domain-confidentiality-authority@agency-c.govt.nz\r\n\r\nplease\r\n");
  r.secured_by_gateway = true;
  auto out = run(r, *trust);
  ASSERT_EQ(out.recipients.size(), 1u);
  EXPECT_EQ(out.recipients[0].disposition, Disposition::deliver);
  EXPECT_EQ(*out.recipients[0].content, *r.content);
  r.secured_by_gateway = false;  // the same message as a client would send it: held (OUT-1)
  EXPECT_EQ(run(r, *trust).recipients[0].disposition, Disposition::hold_for_certificate);
}

TEST_F(StageTest, ACertificateRequestFromAnUnknownAgencyIsAnsweredEncryptedToItsSigner) {
  auto trust = trust_without_c();
  const auto c = cms::test_pki::identity("agency-c-dca");
  ASSERT_TRUE(c.usable());
  auto request = [&](const std::string& wanted) {
    auto signed_request = cms::sign(
        "From: domain-certificate-request@agency-c.govt.nz\r\n"
        "To: domain-certificate-request@agency-a.govt.nz\r\nSubject: " +
            wanted + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nplease\r\n",
        c.signer(), {});
    EXPECT_TRUE(signed_request);
    return record(false, "", "domain-certificate-request@agency-a.govt.nz", *signed_request);
  };
  auto out = run(request("domain-confidentiality-authority@agency-a.govt.nz"), *trust);
  // The answer, and the administrator's notice of the certificate learnt.
  auto answer_it = std::find_if(out.generated.begin(), out.generated.end(), [](const auto& g) {
    return g.recipients == std::vector<std::string>{"domain-certificate-request@agency-c.govt.nz"};
  });
  ASSERT_NE(answer_it, out.generated.end());
  const auto& answer = *answer_it;
  EXPECT_TRUE(answer.secured_by_gateway);
  EXPECT_NE(answer.content.find("application/pkcs7-mime"), std::string::npos);
  auto opened = cms::unprotect(answer.content, c.key.get(), c.cert.get(), {own_.cert.get()});
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened->was_encrypted && opened->signature_valid);
  EXPECT_NE(opened->message.find("domain-confidentiality-authority@agency-a.govt.nz.cer"),
            std::string::npos);
  EXPECT_TRUE(out.certificate_learnt);
  EXPECT_TRUE(fs::exists(dir_ / "certificates" / "learnt" / "agency-c.govt.nz.pem"));
  // A request for another domain's certificate is consumed, not answered.
  auto other = run(request("domain-confidentiality-authority@agency-b.govt.nz"), *trust);
  EXPECT_EQ(other.recipients[0].disposition, Disposition::answered);
  for (const auto& g : other.generated)
    EXPECT_NE(g.recipients[0], "domain-certificate-request@agency-c.govt.nz");
}

}  // namespace
}  // namespace seegw::seemail
