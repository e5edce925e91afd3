// rules OUT-5, IN-1, IN-2, DIR-3, DIR-4: every certificate state of the business requirements'
// table, each from a real certificate of the test PKI (tools/make-test-pki, made at test time).
#include "seegw/x509/validation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace seegw::x509 {
namespace {

class Validation : public ::testing::Test {
 protected:
  static std::string pki() {
    const char* dir = std::getenv("SEEGW_TEST_PKI");  // made by ctest's fixture.test_pki
    return dir ? dir : SEEGW_TEST_PKI_DIR;
  }
  static Certificate cert(const std::string& name) {
    auto c = load_certificate_file(pki() + "/certs/" + name + ".pem");
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return c ? std::move(*c) : Certificate();
  }
  static Certificate root(const std::string& ca) {
    return std::move(*load_certificate_file(pki() + "/" + ca + "/ca.pem"));
  }
  static Crl crl(const std::string& ca, const std::string& file = "crl.pem") {
    return std::move(*load_crl_file(pki() + "/" + ca + "/" + file));
  }

  void SetUp() override {
    roots_.push_back(root("agency-a"));
    roots_.push_back(root("agency-b"));
    crls_.push_back(crl("agency-a"));
    crls_.push_back(crl("agency-b"));
  }

  x509::Validation check(const std::string& name, std::string sender_domain = "agency-a.govt.nz",
                         std::time_t now = std::time(nullptr)) {
    auto c = cert(name);
    ValidationInput in;
    in.certificate = c.get();
    for (auto& r : roots_) in.trusted_roots.push_back(r.get());
    for (auto& l : crls_) in.crls.push_back(l.get());
    in.now = now;
    in.sender_domain = std::move(sender_domain);
    in.role = Role::confidentiality;
    return validate(in);
  }

  std::vector<Certificate> roots_;
  std::vector<Crl> crls_;
};

TEST_F(Validation, ValidDomainCertificate) {
  auto v = check("agency-a-dca");
  EXPECT_EQ(v.state, CertificateState::valid) << v.detail;
  ASSERT_EQ(v.addresses.size(), 1u);
  EXPECT_EQ(v.addresses[0], "domain-confidentiality-authority@agency-a.govt.nz");
  EXPECT_TRUE(v.warnings.empty());
}

TEST_F(Validation, SenderSubdomainIsCoveredOtherDomainsAreNot) {
  EXPECT_EQ(check("agency-a-dca", "wellington.agency-a.govt.nz").state, CertificateState::valid);
  EXPECT_EQ(check("agency-a-dca", "agency-b.govt.nz").state, CertificateState::name_mismatch);
  EXPECT_EQ(check("agency-a-dca", "evilagency-a.govt.nz").state, CertificateState::name_mismatch);
}

TEST_F(Validation, RevokedInTheCrl) {
  auto v = check("revoked");
  EXPECT_EQ(v.state, CertificateState::revoked) << v.detail;
}

TEST_F(Validation, UnknownCa) {
  EXPECT_EQ(check("untrusted-dca").state, CertificateState::unknown_ca);
}

TEST_F(Validation, Expired) { EXPECT_EQ(check("expired").state, CertificateState::expired); }

// IN-1: naming and dates are separate facts. An expired certificate used for another domain is
// reported expired (the worse state) and misnamed; a valid one that names the domain is neither.
TEST_F(Validation, NamingIsReportedApartFromDates) {
  auto v = check("expired", "agency-c.govt.nz");
  EXPECT_EQ(v.state, CertificateState::expired);
  EXPECT_NE(v.naming.find("covers the domain agency-c.govt.nz"), std::string::npos) << v.naming;
  EXPECT_TRUE(check("expired").naming.empty()) << "it does name agency-a";
  EXPECT_TRUE(check("agency-a-dca").naming.empty());
  EXPECT_FALSE(check("noemail").naming.empty());
}

// §2.7: a certificate without a CRL distribution point is flagged; one with one is not.
TEST_F(Validation, NoCrlDistributionPointIsFlagged) {
  EXPECT_NE(missing_crl_distribution_point(cert("selfsigned").get()), "");
  EXPECT_EQ(missing_crl_distribution_point(cert("agency-a-dca").get()), "");
  auto v = check("selfsigned");
  EXPECT_TRUE(std::any_of(v.warnings.begin(), v.warnings.end(), [](const std::string& w) {
    return w.find("no CRL distribution point") != std::string::npos;
  }));
}

TEST_F(Validation, NotYetValid) {
  EXPECT_EQ(check("notyet").state, CertificateState::not_yet_valid);
}

TEST_F(Validation, NoCrlMeansStatusUnknown) {
  crls_.clear();
  auto v = check("agency-a-dca");
  EXPECT_EQ(v.state, CertificateState::status_unknown) << v.detail;
}

TEST_F(Validation, ExpiredCrlMeansStatusUnknown) {
  crls_.clear();
  crls_.push_back(crl("agency-a", "crl-expired.pem"));
  EXPECT_EQ(check("agency-a-dca").state, CertificateState::status_unknown);
}

TEST_F(Validation, CrlFromAnotherIssuerDoesNotCount) {
  crls_.clear();
  crls_.push_back(crl("agency-b"));
  EXPECT_EQ(check("agency-a-dca").state, CertificateState::status_unknown);
}

TEST_F(Validation, WrongCommonName) {
  auto v = check("wrongcn");
  EXPECT_EQ(v.state, CertificateState::name_mismatch);
  EXPECT_NE(v.detail.find("mail.agency-a.govt.nz"), std::string::npos);
}

TEST_F(Validation, NoEmailAddressWarnsAndMismatches) {
  auto v = check("noemail");
  EXPECT_EQ(v.state, CertificateState::name_mismatch);
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(v.warnings[0].find("no e-mail address"), std::string::npos);
  auto w = check("noemail", "");
  EXPECT_EQ(w.state, CertificateState::valid) << "no domain to check: a warning only";
  EXPECT_FALSE(w.warnings.empty());
}

TEST_F(Validation, Pkcs9EmailAddressInTheSubjectCounts) {
  auto v = check("emaildn");
  EXPECT_EQ(v.state, CertificateState::valid) << v.detail;
  EXPECT_EQ(v.addresses.at(0), "domain-confidentiality-authority@agency-a.govt.nz");
}

TEST_F(Validation, SeveralAddressesAreAllUsable) {
  EXPECT_EQ(check("multisan", "agency-a.org.nz").state, CertificateState::valid);
  EXPECT_EQ(check("multisan", "agency-a.govt.nz").state, CertificateState::valid);
  EXPECT_EQ(check("multisan").addresses.size(), 2u);
}

TEST_F(Validation, SelfSignedEndEntityIsNeverTrusted) {
  auto v = check("selfsigned");
  EXPECT_EQ(v.state, CertificateState::self_signed) << v.detail;
}

TEST_F(Validation, BadKeyUsage) {
  EXPECT_EQ(check("badku").state, CertificateState::bad_key_usage);
}

TEST_F(Validation, ThirteenMonthAndKeyAgeWarnings) {
  auto v = check("longvalid");
  EXPECT_EQ(v.state, CertificateState::valid);
  ASSERT_FALSE(v.warnings.empty());
  EXPECT_NE(v.warnings[0].find("13 months"), std::string::npos);

  auto c = cert("agency-a-dca");
  ValidationInput in;
  in.certificate = c.get();
  for (auto& r : roots_) in.trusted_roots.push_back(r.get());
  for (auto& l : crls_) in.crls.push_back(l.get());
  in.now = std::time(nullptr);
  in.key_created = in.now - 5L * 365 * 24 * 3600;
  auto aged = validate(in);
  EXPECT_NE(
      std::find_if(aged.warnings.begin(), aged.warnings.end(),
                   [](const std::string& w) { return w.find("four years") != std::string::npos; }),
      aged.warnings.end());
}

TEST_F(Validation, TheClockIsAnInput) {
  // The same valid certificate, judged two years from now, has expired.
  EXPECT_EQ(
      check("agency-a-dca", "agency-a.govt.nz", std::time(nullptr) + 2L * 365 * 24 * 3600).state,
      CertificateState::expired);
}

TEST(Domains, CoveredMeansEqualOrDescendant) {
  EXPECT_TRUE(domain_covered("agency-a.govt.nz", "agency-a.govt.nz"));
  EXPECT_TRUE(domain_covered("hr.Agency-A.govt.nz", "agency-a.govt.nz"));
  EXPECT_FALSE(domain_covered("govt.nz", "agency-a.govt.nz"));
  EXPECT_FALSE(domain_covered("xagency-a.govt.nz", "agency-a.govt.nz"));
  EXPECT_FALSE(domain_covered("agency-a.govt.nz", ""));
}

}  // namespace
}  // namespace seegw::x509
