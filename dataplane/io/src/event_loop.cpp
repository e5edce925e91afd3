#include "seegw/io/event_loop.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace seegw::io {

EventLoop::EventLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0)
    throw std::runtime_error(fmt::format("event loop: {}", std::strerror(errno)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up eventfd
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EventLoop::post(std::function<void()> task) {
  posted_.push(std::move(task));
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void EventLoop::stop() {
  post([this] { stopping_ = true; });
}

void EventLoop::drain_posted() {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  std::function<void()> task;
  while (posted_.try_pop(task)) task();
}

void EventLoop::run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  unsigned idle_polls = 0, since_epoll = 0;
  while (!stopping_) {
    int n = 0;
    if (poller_) {
      // Posted work is taken straight from the queue; the fds (and the eventfd behind post())
      // are looked at every 64 polls, or when idle: no system call on most turns of the loop.
      bool busy = poller_();
      std::function<void()> task;
      while (posted_.try_pop(task)) {
        task();
        busy = true;
      }
      idle_polls = busy ? 0 : idle_polls + 1;
      // 64 empty polls (some tens of microseconds) make "idle": spinning longer took the CPU
      // from the peers it serves when cores are shared (bench/dataplane: +25 % msg/s); with a
      // core of its own, idle_sleep = 0 keeps it spinning.
      const bool idle = idle_polls > 64;
      if (idle || ++since_epoll >= 64) {
        since_epoll = 0;
        timespec wait{0, 0};
        if (idle && idle_sleep_.count() > 0)
          wait.tv_nsec =
              static_cast<long>(std::min<std::int64_t>(idle_sleep_.count(), 999'999) * 1000);
        n = ::epoll_pwait2(epoll_fd_, events, kMaxEvents, &wait, nullptr);
      }
    } else {
      int timeout_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()).count());
      n = ::epoll_wait(epoll_fd_, events, kMaxEvents, std::max(timeout_ms, 0));
    }
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        drain_posted();
        continue;
      }
      static_cast<FdHandler*>(events[i].data.ptr)->on_events(events[i].events);
    }
    if (now_ >= next_tick) {
      next_tick = now_ + std::chrono::seconds(1);
      for (auto& t : ticks_) t();
    }
  }
  drain_posted();
}

Result<void> EventLoop::add(int fd, std::uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return fail_errno("epoll add");
  return {};
}

Result<void> EventLoop::modify(int fd, std::uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return fail_errno("epoll modify");
  return {};
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

namespace {

addrinfo* resolve(const std::string& host, std::uint16_t port, bool passive, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = fmt::format("resolve {}: {}", host, gai_strerror(rc));
    return nullptr;
  }
  return res;
}

}  // namespace

int listen_tcp(const std::string& host, std::uint16_t port, bool reuse_port, std::string& error) {
  addrinfo* res = resolve(host, port, true, error);
  if (!res) return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      error = fmt::format("listen on {}:{}: {}", host, port, std::strerror(errno));
      ::close(fd);
      fd = -1;
    }
  } else {
    error = fmt::format("socket: {}", std::strerror(errno));
  }
  ::freeaddrinfo(res);
  return fd;
}

int connect_tcp(const std::string& host, std::uint16_t port, std::string& error) {
  addrinfo* res = resolve(host, port, false, error);
  if (!res) return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = fmt::format("socket: {}", std::strerror(errno));
  } else if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
    error = fmt::format("connect {}:{}: {}", host, port, std::strerror(errno));
    ::close(fd);
    fd = -1;
  } else {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ::freeaddrinfo(res);
  return fd;
}

std::string peer_address(int fd, std::uint16_t* port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    if (port) *port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    if (port) *port = ntohs(sin6->sin6_port);
    std::string_view s = buf;
    if (s.starts_with("::ffff:") && s.find('.') != std::string_view::npos)
      return std::string(s.substr(7));  // IPv4-mapped: report the IPv4 address
  }
  return buf;
}

}  // namespace seegw::io
