// The gateway's keys with one owner (keys::KeyService) on a real SoftHSM2 token: without an HSM
// nothing is signed and nothing is "down"; the key that signs comes from the token once its
// certificate is installed, nothing is signed while the gateway is not operational (OPS-1), a
// `key switch` changes the signing key, is kept across restarts and leaves the old one decrypting
// (§2.3); a certificate the gateway may not sign with is refused; a retired key stops signing.
#include "seegw/keys/key_service.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <fstream>

#include "../pkcs11/test_token.hpp"
#include "seegw/common/file.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::keys {
namespace {

// A certificate for the token key `label`, signed by that key itself (the chain is not what
// these tests are about; the gateway's health check validates it against the snapshot).
std::string self_signed_pem(const pkcs11::HsmConfig& config, const std::string& label) {
  auto hsm = pkcs11::Hsm::open(config);
  EXPECT_TRUE(hsm);
  auto key = (*hsm)->private_key(label);
  EXPECT_TRUE(key);
  x509::Certificate cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), *key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(label.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  EXPECT_GT(X509_sign(cert.get(), *key, EVP_sha256()), 0);
  return x509::to_pem(cert.get());
}

std::string base64_word(const std::string& text) {
  std::string b = mime::encode_base64(text, 1u << 20);
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
  return b;
}

const KeyService::Vetting kAnyCertificate = [](X509*) { return std::string(); };

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test_token::softhsm_installed()) GTEST_SKIP() << "SoftHSM2 is not installed";
    ASSERT_TRUE(token_.ready());
  }
  KeySettings settings() const {
    return {token_.config(), "dca", token_.dir() / "certificates" / "current-key"};
  }
  // `key generate LABEL`, then its certificate installed.
  void make_key(KeyService& keys, const std::string& label) {
    EXPECT_EQ(keys.command({"key", "generate", label}, kAnyCertificate).rfind("ok", 0), 0u);
    const std::string installed = keys.command(
        {"key", "install", label, base64_word(self_signed_pem(token_.config(), label))},
        kAnyCertificate);
    EXPECT_EQ(installed.rfind("ok", 0), 0u) << installed;
  }
  test_token::Token token_;
};

TEST(KeyServiceWithoutHsm, NothingIsSignedAndNothingIsDown) {
  KeyService keys({});
  EXPECT_FALSE(keys.configured());
  auto signing = keys.signing_keys();
  ASSERT_FALSE(signing);
  EXPECT_EQ(signing.error().code, Errc::config);
  EXPECT_TRUE(keys.working()) << "a failed decryption is then for another key, not an outage";
  EXPECT_EQ(keys.command({"key", "list"}, kAnyCertificate).rfind("error: no HSM", 0), 0u);
}

TEST_F(KeyServiceTest, TheKeyThatSignsIsTheTokensOnceItsCertificateIsInstalled) {
  KeyService keys(settings());
  EXPECT_FALSE(keys.check()) << "no key yet";
  EXPECT_FALSE(keys.signing_keys());
  make_key(keys, "dca");
  auto in_use = keys.check();
  ASSERT_TRUE(in_use) << in_use.error().message;
  ASSERT_NE(in_use->certificate, nullptr);
  EXPECT_NE(x509::subject_text(in_use->certificate).find("dca"), std::string::npos);
  auto signing = keys.signing_keys();
  ASSERT_TRUE(signing) << signing.error().message;
  EXPECT_EQ(X509_check_private_key(signing->certificate, signing->key), 1);
  const std::string list = keys.command({"key", "list"}, kAnyCertificate);
  EXPECT_NE(list.find("in use"), std::string::npos) << list;
  EXPECT_NE(list.find("cannot leave the token"), std::string::npos) << list;
  EXPECT_EQ(list.find("EXTRACTABLE"), std::string::npos) << list;
  keys.allow_signing(false);  // OPS-1: the gateway is not operational
  auto refused = keys.signing_keys();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::unavailable);
}

TEST_F(KeyServiceTest, ASwitchChangesTheSigningKeyKeepsItAcrossRestartsAndTheOldOneDecrypts) {
  KeyService keys(settings());
  make_key(keys, "dca");
  make_key(keys, "dca-2027");
  ASSERT_TRUE(keys.check());
  const std::string switched = keys.command({"key", "switch", "dca-2027"}, kAnyCertificate);
  EXPECT_EQ(switched.rfind("ok key dca-2027 signs from now on", 0), 0u) << switched;
  EXPECT_EQ(keys.label(), "dca-2027");
  ASSERT_TRUE(keys.check());
  auto signing = keys.signing_keys();
  ASSERT_TRUE(signing);
  EXPECT_NE(x509::subject_text(signing->certificate).find("dca-2027"), std::string::npos);
  ASSERT_EQ(signing->earlier.size(), 1u) << "the old key still decrypts mail in transit";
  EXPECT_NE(x509::subject_text(signing->earlier[0].certificate).find("dca"), std::string::npos);
  KeyService restarted(settings());
  EXPECT_EQ(restarted.label(), "dca-2027") << "the choice is kept on disk";
}

TEST_F(KeyServiceTest, ACertificateWeMayNotSignWithIsRefusedAndNotInstalled) {
  KeyService keys(settings());
  ASSERT_EQ(keys.command({"key", "generate", "dca"}, kAnyCertificate).rfind("ok", 0), 0u);
  const std::string refused =
      keys.command({"key", "install", "dca", base64_word(self_signed_pem(token_.config(), "dca"))},
                   [](X509*) { return std::string("the certificate is not valid: expired"); });
  EXPECT_EQ(refused, "error: the certificate is not valid: expired");
  EXPECT_FALSE(keys.check()) << "no certificate went into the token";
  EXPECT_EQ(keys.command({"key", "install", "dca", "bm90IGEgY2VydA=="}, kAnyCertificate),
            "error: that is not a certificate");
}

TEST_F(KeyServiceTest, RetiringTheSigningKeyStopsSecureMailAtOnce) {
  KeyService keys(settings());
  make_key(keys, "dca");
  ASSERT_TRUE(keys.check());
  const std::string retired = keys.command({"key", "retire", "dca"}, kAnyCertificate);
  EXPECT_EQ(retired.rfind("ok key dca retired", 0), 0u) << retired;
  EXPECT_FALSE(keys.signing_keys()) << "fail closed: nothing signs until a new key is installed";
  EXPECT_FALSE(keys.check());
}

}  // namespace
}  // namespace seegw::keys
