// The data plane put together: listeners and SMTP sessions on N epoll loops (one per core),
// the spool, the queue manager and the TBB pipeline, and outbound connections per next hop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "seegw/config/config.hpp"
#include "seegw/pkcs11/hsm.hpp"
#include "seegw/relay/queue_manager.hpp"

namespace seegw::relay {

class Worker;

class Gateway {
 public:
  // Start-up: may fail with a clear reason (bad TLS files, unusable spool, port in use).
  static Result<std::unique_ptr<Gateway>> start(config::Config config);
  ~Gateway();
  void stop();
  QueueStats stats() { return queue_->stats(); }
  std::size_t in_flight() { return queue_->in_flight(); }
  // OPS-1: false while a part the gateway cannot work without (the HSM, a writable spool) is
  // missing; then no mail is accepted (4xx) and none is sent.
  bool operational() const { return operational_.load(); }

 private:
  Gateway() = default;
  void dispatch(DeliveryJob job);
  void watch_health();
  bool check_health(std::string& why);

  config::Config config_;
  std::shared_ptr<const scan::Matcher> matcher_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<QueueManager> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<int> listening_fds_;  // one socket per address, shared by the loops
  bool stopped_ = false;

  std::unique_ptr<pkcs11::Hsm> hsm_;  // only the health thread touches it (until the CMS stage)
  std::atomic<bool> operational_{true};
  std::mutex health_mutex_;
  std::condition_variable health_wake_;
  bool health_stop_ = false;
  std::thread health_;
};

}  // namespace seegw::relay
