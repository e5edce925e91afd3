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

// OUT-6, §2.4: the digest follows the peer's capabilities — SHA-2 first, SHA-1 only for a peer
// that offers nothing better — and the approved list is configuration.
const std::vector<Digest> kDigests = {Digest::sha256, Digest::sha384, Digest::sha512, Digest::sha1};
constexpr const char* kSha1 = "1.3.14.3.2.26";
constexpr const char* kSha384 = "2.16.840.1.101.3.4.2.2";
constexpr const char* kSha1WithRsa = "1.2.840.113549.1.1.5";
constexpr const char* kSha512WithRsa = "1.2.840.113549.1.1.13";

TEST(DigestChoice, ThePeersBestApprovedDigest) {
  EXPECT_EQ(choose_digest({kAes256Cbc, kSha1, kSha384}, kDigests), Digest::sha384);
  EXPECT_EQ(choose_digest({kSha512WithRsa}, kDigests), Digest::sha512) << "a signature algorithm";
  EXPECT_EQ(choose_digest({}, kDigests), Digest::sha256) << "a peer that names none";
  EXPECT_EQ(choose_digest({kAes256Cbc}, kDigests), Digest::sha256);
}

TEST(DigestChoice, Sha1OnlyForAPeerThatOffersNothingBetter) {
  EXPECT_EQ(choose_digest({kSha1}, kDigests), Digest::sha1);
  EXPECT_EQ(choose_digest({kSha1WithRsa}, kDigests), Digest::sha1);
  EXPECT_EQ(choose_digest({kSha1}, {Digest::sha256}), Digest::sha256) << "SHA-1 not approved";
}

TEST(DigestChoice, NamesForConfiguration) {
  EXPECT_EQ(digest_from_name("SHA-256"), Digest::sha256);
  EXPECT_EQ(digest_from_name("sha1"), Digest::sha1);
  EXPECT_FALSE(digest_from_name("md5").has_value());
  EXPECT_EQ(digest_name(Digest::sha384), "SHA384");
  EXPECT_EQ(cipher_from_name("AES256-CBC"), Cipher::aes256_cbc);
  EXPECT_EQ(cipher_from_name("des3"), Cipher::des3_cbc);
  EXPECT_FALSE(cipher_from_name("rc2-40").has_value());
}

}  // namespace
}  // namespace seegw::cms
