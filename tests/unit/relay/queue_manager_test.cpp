// The queue manager on a real spool in a temporary directory, with the real SEEMail stage and a
// dispatch that records the jobs instead of an I/O loop (the delivery itself is the integration
// tests'). §2.8: a message held only for want of a certificate is released by itself when its
// recipients' domains have one; other holds, and holds whose domains still have none, stay.
#include "seegw/relay/queue_manager.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "../test_dir.hpp"

namespace seegw::relay {
namespace {

namespace fs = std::filesystem;

class QueueManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.hostname = "gw.agency-a.govt.nz";
    config_.domain = "agency-a.govt.nz";
    config_.local_domains = {"agency-a.govt.nz"};
    config_.spool_path = root_ / "spool";
    auto spool = spool::Spool::open(config_.spool_path, spool::SyncMode::group);
    ASSERT_TRUE(spool) << spool.error().message;
    spool_ = std::move(*spool);
    auto m = scan::Matcher::create();
    ASSERT_TRUE(m);
    matcher_ = *m;
    seemail::Settings s;
    s.hostname = config_.hostname;
    s.domain = config_.domain;
    s.learnt = {config_.spool_path / "certificates"};
    stage_ = std::make_unique<seemail::Stage>(s, *matcher_, keys_);
    std::ofstream(root_ / "policy.toml") << "version = 1\n";
    trust_ = std::make_unique<seemail::TrustSource>(seemail::TrustSettings{
        root_ / "policy.toml", config_.domain, config_.local_domains, s.learnt});
    ASSERT_TRUE(trust_->reload());
    queue_ =
        std::make_unique<QueueManager>(config_, *spool_, *stage_, *trust_, [this](DeliveryJob job) {
          std::lock_guard lock(mutex_);
          for (auto i : job.recipients)
            dispatched_.push_back(job.attempt->record.recipients[i].address);
          job.complete(
              {{{job.attempt->record.recipients[job.recipients[0]].address, 250, "2.0.0 ok"}}});
        });
    queue_->start();
  }
  void TearDown() override {
    queue_->stop();
    queue_.reset();
    spool_.reset();
  }

  spool::QueueId held(const std::string& rcpt, bool awaits_certificate) {
    spool::SpoolRecord r;
    r.id = spool_->ids().next();
    r.arrival = spool::unix_now();
    r.envelope.client_internal = true;
    r.envelope.client_address = "127.0.0.1";
    r.envelope.mail_from = "alice@agency-a.govt.nz";
    r.recipients.push_back({rcpt, "OUT-5: held"});
    r.reason = "OUT-5: held";
    r.awaits_certificate = awaits_certificate;
    r.content = std::make_shared<const std::string>(
        "From: alice@agency-a.govt.nz\r\nSubject: lunch\r\n\r\nsandwiches\r\n");
    EXPECT_TRUE(spool_->write(spool::Queue::hold, r));
    return r.id;
  }

  bool in_hold(const spool::QueueId& id) {
    return spool_->load(spool::Queue::hold, id).has_value();
  }

  std::vector<std::string> dispatched() {
    std::lock_guard lock(mutex_);
    return dispatched_;
  }

  void wait_idle() {
    for (int i = 0; i < 500 && queue_->in_flight() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // release_awaiting runs on the manager's thread; so does requeue, so its answer (here: not
    // found) means everything posted before it ran.
    (void)queue_->requeue("00000000000001");
    for (int i = 0; i < 500 && queue_->in_flight() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  test::TestDir test_dir_{"qmgr"};
  const fs::path& root_ = test_dir_.path();
  config::Config config_;
  std::unique_ptr<spool::Spool> spool_;
  std::shared_ptr<const scan::Matcher> matcher_;
  keys::KeyService keys_{{}};  // no HSM: nothing here is signed
  std::unique_ptr<seemail::Stage> stage_;
  std::unique_ptr<seemail::TrustSource> trust_;
  std::unique_ptr<QueueManager> queue_;
  std::mutex mutex_;
  std::vector<std::string> dispatched_;
};

TEST_F(QueueManagerTest, OnlyHoldsThatWaitForACertificateThatArrivedAreReleased) {
  const auto waits_ready = held("bob@example.org", true);
  const auto waits_other = held("eve@example.net", true);
  const auto held_otherwise = held("dan@example.org", false);
  queue_->release_awaiting([](const std::string& domain) { return domain == "example.org"; });
  wait_idle();
  EXPECT_FALSE(in_hold(waits_ready));
  EXPECT_TRUE(in_hold(waits_other)) << "its domain still has no certificate";
  EXPECT_TRUE(in_hold(held_otherwise)) << "held for another reason: the administrator's";
  EXPECT_EQ(dispatched(), std::vector<std::string>{"bob@example.org"});
  EXPECT_EQ(queue_->in_flight(), 0u);
}

}  // namespace
}  // namespace seegw::relay
