// The HSM face of crypto-hsm (OPS-5, OUT-7) on a real SoftHSM2 token made for the test: key pairs
// generated inside the token cannot leave it, carry their creation date (§2.3's key age), sign a
// CSR their public key verifies, and a check of a key that is not there fails closed; a PIN file
// others may read is refused.
#include "seegw/pkcs11/hsm.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <fstream>

#include "test_token.hpp"

namespace seegw::pkcs11 {
namespace {

class HsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test_token::softhsm_installed()) GTEST_SKIP() << "SoftHSM2 is not installed";
    ASSERT_TRUE(token_.ready());
  }
  test_token::Token token_;
};

TEST_F(HsmTest, AKeyPairMadeInTheTokenCannotLeaveItAndKnowsWhenItWasMade) {
  auto session = TokenSession::open(token_.config());
  ASSERT_TRUE(session) << session.error().message;
  ASSERT_TRUE((*session)->generate_key_pair("dca", KeyType::rsa2048));
  auto keys = (*session)->private_keys();
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 1u);
  const auto& k = keys->front();
  EXPECT_EQ(k.label, "dca");
  EXPECT_TRUE(k.sensitive);
  EXPECT_FALSE(k.extractable);
  EXPECT_FALSE(k.value_readable) << "the private value must not be readable";
  auto created = (*session)->key_created("dca");
  ASSERT_TRUE(created && *created) << "CKA_START_DATE recorded";
  EXPECT_LE(std::abs(std::difftime(**created, std::time(nullptr))), 2 * 86400.0);
}

TEST_F(HsmTest, TheTokenKeySignsACsrItsPublicKeyVerifies) {
  {
    auto session = TokenSession::open(token_.config());
    ASSERT_TRUE(session) << session.error().message;
    ASSERT_TRUE((*session)->generate_key_pair("dca", KeyType::ec_p256));
  }
  auto hsm = Hsm::open(token_.config());
  ASSERT_TRUE(hsm) << hsm.error().message;
  auto key = (*hsm)->private_key("dca");
  ASSERT_TRUE(key) << key.error().message;
  auto csr = make_csr(*key, "domain-confidentiality-authority",
                      {"domain-confidentiality-authority@agency-a.govt.nz"});
  ASSERT_TRUE(csr) << csr.error().message;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(csr->data(), csr->size()),
                                                BIO_free);
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(
      PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr), X509_REQ_free);
  ASSERT_TRUE(req);
  EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
  EXPECT_TRUE((*hsm)->check("dca")) << "a key that signs passes the health check";
}

TEST_F(HsmTest, ACheckOfAKeyThatIsNotThereFailsClosed) {
  auto hsm = Hsm::open(token_.config());
  ASSERT_TRUE(hsm) << hsm.error().message;
  EXPECT_FALSE((*hsm)->check("no-such-key"));
  EXPECT_FALSE((*hsm)->private_key("no-such-key"));
}

TEST_F(HsmTest, APinFileOthersMayReadIsRefused) {
  const auto loose = token_.dir() / "loose.pin";
  std::ofstream(loose) << "1234\n";
  std::filesystem::permissions(loose, std::filesystem::perms::owner_read |
                                          std::filesystem::perms::group_read |
                                          std::filesystem::perms::others_read);
  auto pin = read_pin_file(loose.string());
  ASSERT_FALSE(pin);
  EXPECT_EQ(pin.error().message.find("1234"), std::string::npos) << "the PIN is never told";
  auto config = token_.config();
  config.pin_file = loose.string();
  EXPECT_FALSE(Hsm::open(config));
}

}  // namespace
}  // namespace seegw::pkcs11
