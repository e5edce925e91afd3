// An epoll event loop owned by one thread. Other threads talk to it only through post(), whose
// tasks arrive through a concurrent queue and an eventfd — never by touching its objects.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "seegw/common/error.hpp"

namespace seegw::io {

class FdHandler {
 public:
  virtual ~FdHandler() = default;
  virtual void on_events(std::uint32_t events) = 0;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(); calls the tick callbacks about once a second.
  void run();
  void stop();                            // thread-safe
  void post(std::function<void()> task);  // thread-safe

  Result<void> add(int fd, std::uint32_t events, FdHandler* handler);
  Result<void> modify(int fd, std::uint32_t events, FdHandler* handler);
  void remove(int fd);
  void on_tick(std::function<void()> fn) { ticks_.push_back(std::move(fn)); }
  // Poll mode (the DPDK data plane): run() calls `poll` continuously — it returns whether it did
  // any work — and checks fds and posted tasks without blocking in between. After 64 idle
  // polls in a row it waits up to `idle_sleep` for an fd or a post (0: never waits).
  void set_poller(std::function<bool()> poll, std::chrono::microseconds idle_sleep) {
    poller_ = std::move(poll);
    idle_sleep_ = idle_sleep;
  }
  Clock::time_point now() const { return now_; }

 private:
  void drain_posted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool stopping_ = false;
  Clock::time_point now_ = Clock::now();
  tbb::concurrent_queue<std::function<void()>> posted_;
  std::vector<std::function<void()>> ticks_;
  std::function<bool()> poller_;
  std::chrono::microseconds idle_sleep_{0};
};

// Non-blocking socket helpers; all return -1 and set errno on failure.
int listen_tcp(const std::string& host, std::uint16_t port, bool reuse_port, std::string& error);
int connect_tcp(const std::string& host, std::uint16_t port, std::string& error);
std::string peer_address(int fd, std::uint16_t* port);

}  // namespace seegw::io
