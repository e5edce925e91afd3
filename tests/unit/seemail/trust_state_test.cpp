// rules OUT-5, DIR-4: the snapshot's OCSP answer (written by seegw-control from a signed
// response) settles a status the CRLs left unknown, and revokes — it never makes a revoked or
// otherwise bad certificate good. Real certificates from the test PKI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "seegw/seemail/trust_state.hpp"

namespace seegw::seemail {
namespace {

namespace fs = std::filesystem;

std::string pki() {
  const char* dir = std::getenv("SEEGW_TEST_PKI");
  return dir ? dir : SEEGW_TEST_PKI_DIR;
}

Result<std::shared_ptr<const TrustState>> load_with(const std::string& agency_extra,
                                                    const std::string& crls = "") {
  const fs::path dir = fs::temp_directory_path() / ("seegw-trust-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "policy.toml";
  std::ofstream(file) << "version = 1\ntrusted_roots = [\"" << pki() << "/agency-b/ca.pem\"]\n"
                      << "crls = [" << crls << "]\n"
                      << "[[agency]]\ndomain = \"agency-b.govt.nz\"\ncommunity = \"standard\"\n"
                      << "certificate = \"" << pki() << "/certs/agency-b-dca.pem\"\n"
                      << agency_extra;
  auto loaded = load_trust_state(file, "agency-a.govt.nz", {"agency-a.govt.nz"},
                                 {dir / "certificates"}, std::time(nullptr));
  fs::remove_all(dir);
  return loaded;
}

policy::CertState state_of(const std::shared_ptr<const TrustState>& t) {
  return t->policy.certificates.at("agency-b.govt.nz").state;
}

TEST(TrustStateOcsp, AGoodAnswerSettlesAStatusTheCrlsLeftUnknown) {
  auto none = load_with("");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(state_of(*none), policy::CertState::status_unknown);  // no CRL listed
  auto good = load_with("ocsp = \"good\"\n");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(state_of(*good), policy::CertState::valid);
}

TEST(TrustStateOcsp, ARevokedAnswerRevokesEvenWithAGoodCrl) {
  const std::string crl = "\"" + pki() + "/agency-b/crl.pem\"";
  auto crl_only = load_with("", crl);
  ASSERT_TRUE(crl_only) << crl_only.error().message;
  EXPECT_EQ(state_of(*crl_only), policy::CertState::valid);
  auto revoked = load_with("ocsp = \"revoked\"\n", crl);
  ASSERT_TRUE(revoked) << revoked.error().message;
  EXPECT_EQ(state_of(*revoked), policy::CertState::revoked);
}

TEST(TrustStateOcsp, AnythingElseIsRefused) {
  auto bad = load_with("ocsp = \"fine\"\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("ocsp must be good or revoked"), std::string::npos);
}

}  // namespace
}  // namespace seegw::seemail
