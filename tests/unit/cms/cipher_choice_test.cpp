// rule OUT-6: the highest approved algorithm both gateways support.
#include <gtest/gtest.h>

#include "seegw/cms/smime.hpp"

namespace seegw::cms {
namespace {

const std::vector<Cipher> kApproved = {Cipher::aes256_gcm, Cipher::aes256_cbc, Cipher::aes192_cbc,
                                       Cipher::aes128_cbc, Cipher::des3_cbc};
constexpr const char* kAes256Cbc = "2.16.840.1.101.3.4.1.42";
constexpr const char* kAes128Cbc = "2.16.840.1.101.3.4.1.2";
constexpr const char* kAes256Gcm = "2.16.840.1.101.3.4.1.46";
constexpr const char* kDes3 = "1.2.840.113549.3.7";
constexpr const char* kRc2 = "1.2.840.113549.3.2";

TEST(CipherChoice, HighestCommonApprovedAlgorithm) {
  EXPECT_EQ(choose_cipher({kDes3, kAes128Cbc, kAes256Cbc}, kApproved), Cipher::aes256_cbc);
  EXPECT_EQ(choose_cipher({kAes256Gcm, kAes256Cbc}, kApproved), Cipher::aes256_gcm);
  EXPECT_EQ(choose_cipher({kAes128Cbc, kDes3}, kApproved), Cipher::aes128_cbc);
}

TEST(CipherChoice, UnknownOrUnapprovedFallsBackToTripleDes) {
  EXPECT_EQ(choose_cipher({}, kApproved), Cipher::des3_cbc);
  EXPECT_EQ(choose_cipher({kRc2}, kApproved), Cipher::des3_cbc);
}

TEST(CipherChoice, ApprovedListIsConfiguration) {
  EXPECT_EQ(
      choose_cipher({kAes256Gcm, kAes256Cbc, kAes128Cbc}, {Cipher::aes128_cbc, Cipher::des3_cbc}),
      Cipher::aes128_cbc);
}

TEST(CipherChoice, OidsMapBothWays) {
  EXPECT_EQ(cipher_from_oid(kAes256Cbc), Cipher::aes256_cbc);
  EXPECT_EQ(cipher_from_oid(kDes3), Cipher::des3_cbc);
  EXPECT_FALSE(cipher_from_oid(kRc2).has_value());
  EXPECT_EQ(cipher_name(Cipher::aes256_gcm), "AES-256-GCM");
}

}  // namespace
}  // namespace seegw::cms
