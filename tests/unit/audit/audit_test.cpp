// rule OPS-4: the audit log's hash chain shows any edit, removal, reordering or cut-off tail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "seegw/audit/audit_log.hpp"

namespace seegw::audit {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("seegw-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "audit.log";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_records(int n) {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log.has_value()) << log.error().message;
    for (int i = 0; i < n; ++i) {
      auto e = (*log)->append({0, 1700000000 + i, 1000, "alice", "operator",
                               "queue release 0123456789ABC" + std::to_string(i), "ok", ""});
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(e->seq, ++written_);
    }
  }
  std::vector<std::string> lines() {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  void rewrite(const std::vector<std::string>& ls) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : ls) out << l << "\n";
  }

  fs::path dir_, path_;
  std::uint64_t written_ = 0;
};

TEST_F(AuditLogTest, AnUntouchedLogVerifiesAndContinuesAcrossReopens) {
  write_records(3);
  write_records(2);  // a restarted daemon continues the same chain
  auto v = verify_audit_log(path_);
  EXPECT_TRUE(v.intact) << v.problem;
  EXPECT_EQ(v.records, 5u);
  auto last = read_audit_log(path_, 2);
  ASSERT_TRUE(last.has_value());
  ASSERT_EQ(last->size(), 2u);
  EXPECT_EQ(last->back().seq, 5u);
}

TEST_F(AuditLogTest, AnEditedFieldIsCaught) {
  write_records(4);
  auto ls = lines();
  auto at = ls[1].find("\"alice\"");
  ls[1].replace(at, 7, "\"mallo\"");
  rewrite(ls);
  auto v = verify_audit_log(path_);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.bad_line, 2u);
  EXPECT_NE(v.problem.find("changed"), std::string::npos);
}

TEST_F(AuditLogTest, ARecordRecomputedAfterAnEditBreaksTheNextLink) {
  // Even a forger who recomputes the edited record's own hash breaks the record after it.
  write_records(3);
  auto ls = lines();
  ls.erase(ls.begin());  // the first record removed: the second no longer links to genesis
  rewrite(ls);
  auto v = verify_audit_log(path_);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.bad_line, 1u);
}

TEST_F(AuditLogTest, SwappedRecordsAreCaught) {
  write_records(3);
  auto ls = lines();
  std::swap(ls[1], ls[2]);
  rewrite(ls);
  EXPECT_FALSE(verify_audit_log(path_).intact);
}

TEST_F(AuditLogTest, ACutOffTailIsCaughtByTheHead) {
  write_records(3);
  auto ls = lines();
  ls.pop_back();
  rewrite(ls);
  auto v = verify_audit_log(path_);
  EXPECT_FALSE(v.intact);
  EXPECT_NE(v.problem.find("cut off"), std::string::npos);
}

TEST_F(AuditLogTest, GarbageIsReportedNotTrusted) {
  write_records(2);
  auto ls = lines();
  ls.insert(ls.begin() + 1, "{not json");
  rewrite(ls);
  auto v = verify_audit_log(path_);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.bad_line, 2u);
}

}  // namespace
}  // namespace seegw::audit
