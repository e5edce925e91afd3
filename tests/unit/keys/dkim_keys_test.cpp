// DKIM keys in a real SoftHSM2 token: generated inside it (RSA-2048 and Ed25519), their TXT
// records printed for each of our domains, signatures the published public key verifies with
// OpenSSL, rotation by console steps (a new selector of the same type replaces the one that
// signs, the choice survives a restart) and a key that still signs cannot be retired.
#include "seegw/keys/dkim_keys.hpp"
#include "seegw/keys/key_service.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../pkcs11/test_token.hpp"
#include "seegw/mime/codec.hpp"

namespace seegw::keys {
namespace {

class DkimKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test_token::softhsm_installed()) GTEST_SKIP() << "SoftHSM2 is not installed";
    ASSERT_TRUE(token_.ready());
    state_ = token_.dir() / "dkim-selectors";
  }
  std::string run(DkimKeys& keys, const std::vector<std::string>& words) {
    return keys.command(words, {"agency-a.govt.nz", "agency-a2.govt.nz"});
  }
  test_token::Token token_;
  std::filesystem::path state_;
};

// The p= of the first TXT record in `text`, as the DER or raw key it carries.
std::string published_key(const std::string& text) {
  const auto p = text.find("p=");
  std::string b64;
  for (auto i = p + 2; i < text.size() && text[i] != '\n'; ++i)
    if (text[i] != '"' && text[i] != ' ') b64.push_back(text[i]);
  return mime::decode_base64(b64);
}

bool verifies(const std::string& key_bytes, bool ed25519, const std::string& data,
              const std::string& signature) {
  const auto* p = reinterpret_cast<const unsigned char*>(key_bytes.data());
  EVP_PKEY* key = ed25519 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, p, 32)
                          : d2i_PUBKEY(nullptr, &p, static_cast<long>(key_bytes.size()));
  if (!key) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const auto* s = reinterpret_cast<const unsigned char*>(signature.data());
  const auto* d = reinterpret_cast<const unsigned char*>(data.data());
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, s, signature.size(), d, data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

TEST_F(DkimKeysTest, KeysMadeInTheTokenSignWhatTheirTxtRecordsVerify) {
  DkimKeys keys(token_.config(), state_);
  for (const auto& [selector, type] : {std::pair{"rsa1", "rsa"}, std::pair{"ed1", "ed25519"}}) {
    const std::string made = run(keys, {"dkim", "generate", selector, type});
    ASSERT_TRUE(made.starts_with("ok ")) << made;
    EXPECT_NE(made.find(std::string(selector) + "._domainkey.agency-a2.govt.nz. 3600 IN TXT"),
              std::string::npos)
        << made;
    const bool ed = std::string(type) == "ed25519";
    const std::string key = published_key(made);
    EXPECT_EQ(key.size(), ed ? 32u : 294u) << "Ed25519 raw, RSA-2048 SubjectPublicKeyInfo";
    const std::string data = ed ? std::string(32, '\x11') : "canonical header fields";
    auto signature = keys.sign(
        {selector, ed ? dkim::Algorithm::ed25519_sha256 : dkim::Algorithm::rsa_sha256}, data);
    ASSERT_TRUE(signature) << signature.error().message;
    EXPECT_TRUE(verifies(key, ed, data, *signature)) << selector;
    EXPECT_FALSE(verifies(key, ed, data + "x", *signature)) << selector;
  }
  EXPECT_TRUE(keys.signing().empty()) << "a new key does not sign before `dkim sign`";
  const std::string listed = run(keys, {"dkim", "list"});
  EXPECT_TRUE(listed.starts_with("ok 2 DKIM key(s)")) << listed;
}

TEST_F(DkimKeysTest, RotationReplacesTheSelectorOfTheSameTypeAndSurvivesARestart) {
  {
    DkimKeys keys(token_.config(), state_);
    for (const auto& words :
         std::vector<std::vector<std::string>>{{"dkim", "generate", "old", "rsa"},
                                               {"dkim", "generate", "ed", "ed25519"},
                                               {"dkim", "generate", "new", "rsa"},
                                               {"dkim", "sign", "old"},
                                               {"dkim", "sign", "ed"}})
      ASSERT_TRUE(run(keys, words).starts_with("ok")) << words[1] << " " << words[2];
    EXPECT_TRUE(run(keys, {"dkim", "retire", "old"}).starts_with("error: old still signs"));
    const std::string switched = run(keys, {"dkim", "sign", "new"});
    EXPECT_NE(switched.find("old no longer does"), std::string::npos) << switched;
    EXPECT_TRUE(run(keys, {"dkim", "retire", "old"}).starts_with("ok")) << "no longer signs";
    EXPECT_TRUE(run(keys, {"dkim", "sign", "old"}).starts_with("error: no DKIM key old"));
  }
  DkimKeys restarted(token_.config(), state_);
  const auto signing = restarted.signing();
  ASSERT_EQ(signing.size(), 2u);
  EXPECT_EQ(signing[0].selector, "ed");
  EXPECT_EQ(signing[0].algorithm, dkim::Algorithm::ed25519_sha256);
  EXPECT_EQ(signing[1].selector, "new");
  EXPECT_EQ(signing[1].algorithm, dkim::Algorithm::rsa_sha256);
}

TEST_F(DkimKeysTest, WithoutAnHsmOrAKeyNothingIsSigned) {
  DkimKeys none({}, state_);
  EXPECT_TRUE(run(none, {"dkim", "list"}).starts_with("error: no HSM is configured"));
  DkimKeys keys(token_.config(), state_);
  auto missing = keys.sign({"gone", dkim::Algorithm::rsa_sha256}, "x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::unavailable) << "the message waits, it is not sent bare";
  EXPECT_TRUE(run(keys, {"dkim", "generate", "x", "dsa"}).starts_with("error: 'dsa'"));
}

TEST_F(DkimKeysTest, TheSmimeKeyCommandsLeaveDkimKeysToTheirOwner) {
  DkimKeys dkim(token_.config(), state_);
  ASSERT_TRUE(run(dkim, {"dkim", "generate", "s1", "rsa"}).starts_with("ok"));
  ASSERT_TRUE(run(dkim, {"dkim", "sign", "s1"}).starts_with("ok"));
  KeyService smime({token_.config(), "dca", token_.dir() / "current-key"});
  const auto any = [](X509*) { return std::string(); };
  const std::string retired = smime.command({"key", "retire", "dkim-s1"}, any);
  EXPECT_TRUE(retired.starts_with("error: dkim-s1 is a DKIM key")) << retired;
  EXPECT_TRUE(dkim.sign({"s1", dkim::Algorithm::rsa_sha256}, "x"))
      << "the signing key is still there";
}

}  // namespace
}  // namespace seegw::keys
