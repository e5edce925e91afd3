// The spool on a real file system in a temporary directory: durable stores, moves, recovery of
// leftovers, and corrupt files detected rather than trusted.
#include "seegw/spool/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

namespace seegw::spool {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("seegw-spool-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  SpoolRecord record(Spool& spool, std::string body = "Subject: x\r\n\r\nbody\r\n") {
    SpoolRecord r;
    r.id = spool.ids().next();
    r.arrival = 1700000000;
    r.envelope.client_address = "192.0.2.7";
    r.envelope.client_port = 2500;
    r.envelope.helo = "client with spaces%and percent";
    r.envelope.mail_from = "a@agency-a.govt.nz";
    r.envelope.tls = true;
    r.envelope.tls_protocol = "TLSv1.3";
    r.envelope.tls_cipher = "TLS_AES_256_GCM_SHA384";
    r.envelope.body_type = smtp::BodyType::eight_bit_mime;
    r.recipients = {{"b@example.org", ""}, {"c@example.org", "451 4.4.1 try later"}};
    r.content = std::make_shared<const std::string>(std::move(body));
    return r;
  }

  Result<void> store(Spool& spool, SpoolRecord r) {
    std::promise<Result<void>> done;
    spool.store_incoming(std::move(r), [&](Result<void> res) { done.set_value(res); });
    return done.get_future().get();
  }

  fs::path root_;
};

TEST_F(SpoolTest, StoredRecordRoundTripsExactly) {
  for (auto mode : {SyncMode::group, SyncMode::per_file}) {
    fs::remove_all(root_);
    auto spool = Spool::open(root_, mode);
    ASSERT_TRUE(spool) << spool.error().message;
    std::string binary = "Subject: b\r\n\r\n";
    for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
    auto r = record(**spool, binary);
    ASSERT_TRUE(store(**spool, r));
    EXPECT_TRUE(fs::exists(root_ / "incoming" / r.id));
    auto loaded = (*spool)->load(Queue::incoming, r.id);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(*loaded->content, binary);
    EXPECT_EQ(loaded->envelope.helo, r.envelope.helo);
    EXPECT_EQ(loaded->envelope.tls_cipher, r.envelope.tls_cipher);
    EXPECT_EQ(loaded->envelope.body_type, smtp::BodyType::eight_bit_mime);
    ASSERT_EQ(loaded->recipients.size(), 2u);
    EXPECT_EQ(loaded->recipients[1].last_error, "451 4.4.1 try later");
  }
}

// The two marks the gateway puts on its own records survive a write and a read; a record without
// them (as every earlier version wrote) reads as neither.
TEST_F(SpoolTest, GatewayMarksRoundTripAndDefaultToUnset) {
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool) << spool.error().message;
  auto plain = record(**spool);
  auto marked = record(**spool);
  marked.awaits_certificate = true;
  marked.secured_by_gateway = true;
  ASSERT_TRUE((*spool)->write(Queue::hold, plain));
  ASSERT_TRUE((*spool)->write(Queue::hold, marked));
  auto a = (*spool)->load(Queue::hold, plain.id);
  auto b = (*spool)->load(Queue::hold, marked.id);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->awaits_certificate || a->secured_by_gateway);
  EXPECT_TRUE(b->awaits_certificate && b->secured_by_gateway);
  EXPECT_EQ(encode_header(plain).find("secured-by-gateway"), std::string::npos);
}

TEST_F(SpoolTest, RemovedFilesAreReusedAndCutToTheNewMessage) {
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool) << spool.error().message;
  // A long message, removed: its file goes to the pool, not away.
  auto big = record(**spool, "Subject: big\r\n\r\n" + std::string(100000, 'x') + "\r\n");
  ASSERT_TRUE(store(**spool, big));
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "incoming" / big.id).c_str(), &st), 0);
  const ino_t inode = st.st_ino;
  ASSERT_TRUE((*spool)->remove(Queue::incoming, big.id));
  EXPECT_FALSE(fs::exists(root_ / "incoming" / big.id));
  EXPECT_FALSE((*spool)->remove(Queue::incoming, big.id)) << "removing twice is an error";
  // The next store reuses some pooled file; whichever it is, nothing of the old content remains.
  bool reused = false;
  for (int i = 0; i < 300 && !reused; ++i) {
    auto small = record(**spool, "Subject: small\r\n\r\nshort\r\n");
    ASSERT_TRUE(store(**spool, small));
    ASSERT_EQ(::stat((root_ / "incoming" / small.id).c_str(), &st), 0);
    reused = st.st_ino == inode;
    auto loaded = (*spool)->load(Queue::incoming, small.id);
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(*loaded->content, "Subject: small\r\n\r\nshort\r\n");
    EXPECT_LT(st.st_size, 1000);
  }
  EXPECT_TRUE(reused) << "the removed message's file was never reused";
}

TEST_F(SpoolTest, ManyConcurrentStoresAllLandWithUniqueSortedIds) {
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool);
  constexpr int kCount = 300;
  std::vector<std::promise<Result<void>>> done(kCount);
  std::vector<QueueId> ids;
  for (int i = 0; i < kCount; ++i) {
    auto r = record(**spool);
    ids.push_back(r.id);
    (*spool)->store_incoming(std::move(r), [&, i](Result<void> res) { done[i].set_value(res); });
  }
  for (auto& d : done) ASSERT_TRUE(d.get_future().get());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<QueueId>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_EQ((*spool)->list(Queue::incoming)->size(), static_cast<std::size_t>(kCount));
}

TEST_F(SpoolTest, MovesAreRenamesBetweenStateDirectories) {
  auto spool = Spool::open(root_, SyncMode::group);
  auto r = record(**spool);
  ASSERT_TRUE(store(**spool, r));
  ASSERT_TRUE((*spool)->move(r.id, Queue::incoming, Queue::active));
  ASSERT_TRUE((*spool)->move(r.id, Queue::active, Queue::hold));
  EXPECT_FALSE(fs::exists(root_ / "incoming" / r.id));
  EXPECT_TRUE(fs::exists(root_ / "hold" / r.id));
  EXPECT_FALSE((*spool)->move(r.id, Queue::active, Queue::done));  // not there any more
}

TEST_F(SpoolTest, IdsAfterRestartSortAfterExistingOnes) {
  QueueId last;
  {
    auto spool = Spool::open(root_, SyncMode::group);
    auto r = record(**spool);
    last = r.id;
    ASSERT_TRUE((*spool)->write(Queue::deferred, r));
  }
  auto spool = Spool::open(root_, SyncMode::group);
  EXPECT_GT((*spool)->ids().next(), last);
}

TEST_F(SpoolTest, AFileListedInAQueueAndInThePoolIsNeverReused) {
  // What a crash between a store's rename and the next sync of .free can leave: the record's
  // file (one inode) under both names. Reusing the pool's name would overwrite an accepted
  // message. (A hard link stands in for the crash: same inode, two entries.)
  QueueId kept;
  {
    auto spool = Spool::open(root_, SyncMode::group);
    ASSERT_TRUE(spool);
    auto r = record(**spool, "Subject: keep\r\n\r\naccepted\r\n");
    kept = r.id;
    ASSERT_TRUE(store(**spool, r));
  }
  ASSERT_EQ(::link((root_ / "incoming" / kept).c_str(), (root_ / ".free" / "f999999").c_str()), 0);
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool);
  EXPECT_FALSE(fs::exists(root_ / ".free" / "f999999"));
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(store(**spool, record(**spool)));
  auto loaded = (*spool)->load(Queue::incoming, kept);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(*loaded->content, "Subject: keep\r\n\r\naccepted\r\n");
}

TEST_F(SpoolTest, TemporariesFromACrashAreRemoved) {
  auto spool = Spool::open(root_, SyncMode::group);
  std::ofstream(root_ / "incoming" / ".0000000000000A.tmp") << "half written";
  EXPECT_EQ((*spool)->remove_temporaries(), 1u);
  EXPECT_TRUE((*spool)->list(Queue::incoming)->empty());
}

TEST_F(SpoolTest, CorruptFilesAreDetectedAndQuarantined) {
  auto spool = Spool::open(root_, SyncMode::group);
  auto r = record(**spool);
  ASSERT_TRUE((*spool)->write(Queue::active, r));
  auto path = root_ / "active" / r.id;
  // Truncate the file: the size check catches it.
  fs::resize_file(path, fs::file_size(path) - 3);
  auto loaded = (*spool)->load(Queue::active, r.id);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::corrupt);
  (*spool)->quarantine(Queue::active, r.id, loaded.error().message);
  EXPECT_TRUE(fs::exists(root_ / "corrupt" / r.id));

  for (const char* garbage : {"", "SEEGW-SPOOL/1\n", "not a spool file\n\nbody",
                              "SEEGW-SPOOL/1\nid 0000000000000B\nfrom %\nsize 1\n\nx",
                              "SEEGW-SPOOL/1\nid 0000000000000B\nfrom %\nrcpt a@b %\nsize 5\n\nx",
                              "SEEGW-SPOOL/1\nid 0000000000000B\nfrom %ZZ\nrcpt a@b %\nsize 1\n\nx",
                              "SEEGW-SPOOL/1\nbogus line\n\n"}) {
    auto d = decode(garbage);
    EXPECT_FALSE(d) << garbage;
    if (!d) {
      EXPECT_EQ(d.error().code, Errc::corrupt);
    }
  }
}

// 004 §2.4 (issue 15 item 2): what was delivered is not readable on disk afterwards, and the
// pool of reusable files holds no bytes.
bool any_file_contains(const fs::path& root, const std::string& text) {
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST_F(SpoolTest, AFinishedMessageLeavesNoReadableTraceAndThePoolHoldsNoBytes) {
  const std::string secret = "RESTRICTED budget figures 1234567";
  {
    auto spool = Spool::open(root_, SyncMode::group);
    ASSERT_TRUE(spool) << spool.error().message;
    std::vector<QueueId> ids;
    for (int i = 0; i < 5; ++i) {
      auto r = record(**spool, "Subject: x\r\n\r\n" + secret + "\r\n" + std::string(20000, 'z'));
      ids.push_back(r.id);
      ASSERT_TRUE(store(**spool, r));
    }
    ASSERT_TRUE(any_file_contains(root_, secret));
    for (const auto& id : ids) ASSERT_TRUE((*spool)->remove(Queue::incoming, id));
    EXPECT_FALSE(any_file_contains(root_, secret)) << "readable in the spool after delivery";
  }
  std::uintmax_t pooled = 0;
  for (const auto& e : fs::directory_iterator(root_ / ".free")) pooled += e.file_size();
  EXPECT_EQ(pooled, 0u) << "the pool gives the space back";
}

TEST_F(SpoolTest, APoolFileWithContentFromBeforeIsEmptiedAtStart) {
  { ASSERT_TRUE(Spool::open(root_, SyncMode::group)); }
  std::ofstream(root_ / ".free" / "f900") << "Subject: old\r\n\r\nRESTRICTED leftover\r\n";
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool) << spool.error().message;
  EXPECT_FALSE(any_file_contains(root_, "RESTRICTED leftover"));
}

// Issue 15 item 4: a stray ID from the far future, or anything in corrupt/, does not push new IDs
// out of their 14 digits; a record the spool could not read back is never stored.
TEST_F(SpoolTest, QueueIdsKeepTheirFormatWhateverIsOnDisk) {
  { ASSERT_TRUE(Spool::open(root_, SyncMode::group)); }
  std::ofstream(root_ / "incoming" / "FFFFFFFFFFFFFE") << "stray";
  std::ofstream(root_ / "corrupt" / "FFFFFFFFFFFFF0") << "garbled";
  auto spool = Spool::open(root_, SyncMode::group);
  ASSERT_TRUE(spool) << spool.error().message;
  auto r = record(**spool);
  EXPECT_TRUE(is_queue_id(r.id)) << r.id;
  EXPECT_LT(r.id, "FFFFFFFFFFFFF0");
  ASSERT_TRUE(store(**spool, r));
  EXPECT_TRUE((*spool)->load(Queue::incoming, r.id));
  r.id = "1FFFFFFFFFFFFFF";  // 15 digits: the spool's own checks would refuse to read it
  EXPECT_FALSE(store(**spool, r));
  EXPECT_FALSE((*spool)->write(Queue::deferred, r));
  EXPECT_FALSE(fs::exists(root_ / "incoming" / r.id));
}

TEST_F(SpoolTest, UnwritableSpoolFailsAtStart) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  fs::create_directories(root_);
  fs::permissions(root_, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_FALSE(Spool::open(root_, SyncMode::group));
  fs::permissions(root_, fs::perms::owner_all);
}

TEST(QueueId, FormatAndValidation) {
  QueueIdSource ids;
  auto a = ids.next();
  EXPECT_TRUE(is_queue_id(a));
  EXPECT_FALSE(is_queue_id("../etc/passwd"));
  EXPECT_FALSE(is_queue_id("0000000000000g"));
  // An ID a little ahead (a clock set back) is followed; one from the far future is not.
  const auto soon = fmt::format(
      "{:014X}", std::chrono::duration_cast<std::chrono::microseconds>(
                     (std::chrono::system_clock::now() + std::chrono::hours(1)).time_since_epoch())
                     .count());
  EXPECT_TRUE(ids.advance_past(soon));
  EXPECT_GT(ids.next(), soon);
  EXPECT_FALSE(ids.advance_past("FFFFFFFFFFFFF0"));
  EXPECT_LT(ids.next(), "FFFFFFFFFFFFF0");
}

}  // namespace
}  // namespace seegw::spool
