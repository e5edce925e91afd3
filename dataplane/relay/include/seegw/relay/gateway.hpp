// The data plane put together: listeners and SMTP sessions on N epoll loops (one per core),
// the spool, the queue manager and the TBB pipeline, and outbound connections per next hop.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "seegw/config/config.hpp"
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

 private:
  Gateway() = default;
  void dispatch(DeliveryJob job);

  config::Config config_;
  std::shared_ptr<const scan::Matcher> matcher_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<QueueManager> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace seegw::relay
