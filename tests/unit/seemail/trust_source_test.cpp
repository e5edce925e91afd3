// The policy snapshot's one owner (seemail::TrustSource): the placeholder until a good file is
// read, the last good snapshot kept when a new file is bad, OPS-1's judgement (configured, loaded,
// not older than max_age), a changed file due for reloading, and the domains that gained a usable
// certificate reported once (§2.8: held mail waiting for them goes).
#include "seegw/seemail/trust_source.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../test_dir.hpp"

namespace seegw::seemail {
namespace {

namespace fs = std::filesystem;
const std::string kPki = SEEGW_TEST_PKI_DIR;

class TrustSourceTest : public ::testing::Test {
 protected:
  TrustSettings settings(std::chrono::seconds max_age = std::chrono::seconds(3600)) {
    return {dir_ / "policy.toml",    "agency-a.govt.nz",         {"agency-a.govt.nz"},
            {dir_ / "certificates"}, std::chrono::seconds(3600), max_age};
  }
  // Version `version`; with agency B's certificate when `with_b`.
  void write(int version, bool with_b, std::time_t generated = std::time(nullptr)) {
    std::ofstream f(dir_ / "policy.toml");
    f << "version = " << version << "\ngenerated = " << generated << "\ntrusted_roots = [\"" << kPki
      << "/agency-b/ca.pem\"]\ncrls = [\"" << kPki << "/agency-b/crl.pem\"]\n"
      << "[[agency]]\ndomain = \"agency-b.govt.nz\"\ncommunity = \"standard\"\n";
    if (with_b) f << "certificate = \"" << kPki << "/certs/agency-b-dca.pem\"\n";
  }

  test::TestDir test_dir_{"trust"};
  const fs::path& dir_ = test_dir_.path();
};

TEST_F(TrustSourceTest, ThePlaceholderIsNotUsableUntilAGoodSnapshotIsRead) {
  TrustSource source(settings());
  std::string why;
  EXPECT_FALSE(source.usable(why));
  EXPECT_TRUE(source.current()->policy.seemail.empty());
  std::ofstream(dir_ / "policy.toml") << "not a snapshot";
  EXPECT_FALSE(source.reload());
  EXPECT_FALSE(source.usable(why));
  EXPECT_NE(why.find("no valid policy snapshot"), std::string::npos) << why;
  write(1, false);
  ASSERT_TRUE(source.reload());
  EXPECT_TRUE(source.usable(why)) << why;
  EXPECT_EQ(source.current()->policy.version, 1u);
}

TEST_F(TrustSourceTest, ABadFileKeepsTheLastGoodSnapshot) {
  TrustSource source(settings());
  write(3, false);
  ASSERT_TRUE(source.reload());
  std::ofstream(dir_ / "policy.toml") << "version = ";
  EXPECT_FALSE(source.reload());
  EXPECT_EQ(source.current()->policy.version, 3u);
  std::string why;
  EXPECT_TRUE(source.usable(why)) << why;
}

TEST_F(TrustSourceTest, ASnapshotOlderThanMaxAgeIsNotUsable) {
  TrustSource source(settings(std::chrono::seconds(60)));
  write(1, false, std::time(nullptr) - 3600);
  ASSERT_TRUE(source.reload());
  std::string why;
  EXPECT_FALSE(source.usable(why));
  EXPECT_NE(why.find("max_age"), std::string::npos) << why;
}

TEST_F(TrustSourceTest, AChangedFileIsDueAndADomainGainsItsCertificateOnce) {
  TrustSource source(settings());
  write(1, false);
  auto gained = source.reload();
  ASSERT_TRUE(gained);
  EXPECT_TRUE(gained->empty());
  EXPECT_FALSE(source.reload_due());
  write(2, true);
  fs::last_write_time(dir_ / "policy.toml",
                      fs::last_write_time(dir_ / "policy.toml") + std::chrono::seconds(5));
  EXPECT_TRUE(source.reload_due());
  gained = source.reload();
  ASSERT_TRUE(gained) << gained.error().message;
  EXPECT_EQ(*gained, std::vector<std::string>{"agency-b.govt.nz"});
  EXPECT_EQ(source.usable_domains().count("agency-b.govt.nz"), 1u);
  gained = source.reload();
  ASSERT_TRUE(gained);
  EXPECT_TRUE(gained->empty()) << "reported once, not at every reload";
}

}  // namespace
}  // namespace seegw::seemail
