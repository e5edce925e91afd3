// Revocation data before it is used (DIR-4, OUT-5, IN-2), with the test PKI's real CRLs: a
// certificate's distribution points are read from it, a CRL is used only when its issuer signed it
// and it has not expired, and a point that cannot be reached is "unavailable" (the status is then
// unknown, the spec's soft path), never a hang or a crash.
#include "seegw/revocation/crl.hpp"

#include <gtest/gtest.h>

#include "seegw/x509/certificate.hpp"

namespace seegw::revocation {
namespace {

const std::string kPki = SEEGW_TEST_PKI_DIR;

x509::Certificate certificate(const std::string& file) {
  auto c = x509::load_certificate_file(kPki + "/" + file);
  EXPECT_TRUE(c) << file;
  return c ? std::move(*c) : nullptr;
}

TEST(Crl, TheDistributionPointsAreReadFromTheCertificate) {
  auto cert = certificate("certs/agency-b-dca.pem");
  ASSERT_TRUE(cert);
  EXPECT_EQ(distribution_points(cert.get()),
            std::vector<std::string>{"http://127.0.0.1:8080/agency-b.crl"});
  auto self_signed = certificate("certs/selfsigned.pem");
  ASSERT_TRUE(self_signed);
  EXPECT_TRUE(distribution_points(self_signed.get()).empty());
}

TEST(Crl, OnlyACurrentCrlSignedByTheIssuerIsUsed) {
  auto crl = x509::load_crl_file(kPki + "/agency-b/crl.pem");
  ASSERT_TRUE(crl) << crl.error().message;
  auto issuer = certificate("agency-b/ca.pem");
  auto other = certificate("agency-a/ca.pem");
  ASSERT_TRUE(issuer && other);
  const std::time_t now = std::time(nullptr);
  EXPECT_TRUE(check_crl(crl->get(), issuer.get(), now));
  EXPECT_FALSE(check_crl(crl->get(), other.get(), now)) << "not signed by that issuer";
  EXPECT_FALSE(check_crl(crl->get(), issuer.get(), now + 400 * 86400)) << "past nextUpdate";
}

TEST(Crl, APointThatCannotBeReachedIsUnavailable) {
  auto fetched = fetch("http://127.0.0.1:1/agency-b.crl", std::chrono::seconds(5));
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Errc::unavailable) << fetched.error().message;
  EXPECT_FALSE(fetch("gopher://127.0.0.1/agency-b.crl", std::chrono::seconds(5)));
}

}  // namespace
}  // namespace seegw::revocation
