// What carries a StreamConnection's bytes: a kernel socket (FdTransport, epoll) or a connection
// of the poll-mode stack (dataplane/io/dpdk). Semantics follow recv/send so the connection code
// is the same for both: read > 0 bytes, 0 end of stream, -1 with errno (EAGAIN: nothing now);
// readiness arrives as epoll-style flags on the FdHandler the transport was made for.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "seegw/common/error.hpp"
#include "seegw/io/event_loop.hpp"

namespace seegw::io {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual ssize_t read(char* buf, std::size_t n) = 0;
  virtual ssize_t write(const char* buf, std::size_t n) = 0;
  // Which events the handler wants (level-triggered, as epoll without EPOLLET).
  virtual void want(bool readable, bool writable) = 0;
  // After the first "writable" of an outgoing connection: "" when connected, else why not.
  virtual std::string connect_error() = 0;
  virtual void close() = 0;
};

// A kernel socket driven by the loop's epoll.
std::unique_ptr<Transport> fd_transport(EventLoop& loop, int fd, FdHandler* handler);

// Where connections come from when they do not come from kernel sockets.
class NetworkBackend {
 public:
  using Accept = std::function<void(std::function<std::unique_ptr<Transport>(FdHandler*)> open,
                                    std::string peer_address, std::uint16_t peer_port)>;
  virtual ~NetworkBackend() = default;
  virtual Result<void> listen(std::uint16_t port, Accept on_accept) = 0;
  // Starts an active open; the handler hears EPOLLOUT when it completes (or fails).
  virtual Result<std::unique_ptr<Transport>> connect(const std::string& host, std::uint16_t port,
                                                     FdHandler* handler) = 0;
};

// A network below the sessions that is not the kernel's (the poll-mode data plane): one
// NetworkBackend per I/O loop — a lane — each driven by the loop it is attached to.
class NetworkPlane {
 public:
  virtual ~NetworkPlane() = default;
  virtual std::size_t lanes() const = 0;
  virtual NetworkBackend& lane(std::size_t i) = 0;
  // The loop's thread becomes lane i's poll thread.
  virtual void attach(std::size_t i, EventLoop& loop) = 0;
  // Counters, one "name: value" per line (safe to call from any thread).
  virtual std::string statistics() const = 0;
};

}  // namespace seegw::io
