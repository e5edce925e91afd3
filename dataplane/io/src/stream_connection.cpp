#include "seegw/io/stream_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "seegw/common/log.hpp"

namespace seegw::io {

constexpr std::size_t kReadChunk = 64 * 1024;

namespace {

// A kernel socket: readiness from the loop's epoll.
class FdTransport : public Transport {
 public:
  FdTransport(EventLoop& loop, int fd, FdHandler* handler)
      : loop_(loop), fd_(fd), handler_(handler) {
    if (auto added = loop_.add(fd_, interest_, handler_); !added)
      log::error("connection: {}", added.error().message);
  }
  ~FdTransport() override { close(); }
  ssize_t read(char* buf, std::size_t n) override { return ::recv(fd_, buf, n, 0); }
  ssize_t write(const char* buf, std::size_t n) override {
    return ::send(fd_, buf, n, MSG_NOSIGNAL);
  }
  void want(bool readable, bool writable) override {
    // While not reading, a half-close must not wake us (level-triggered epoll would spin).
    const std::uint32_t w = (readable ? std::uint32_t{EPOLLIN | EPOLLRDHUP} : 0u) |
                            (writable ? std::uint32_t{EPOLLOUT} : 0u);
    if (w != interest_ && fd_ >= 0) {
      interest_ = w;
      loop_.modify(fd_, interest_, handler_);
    }
  }
  std::string connect_error() override {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    return err ? std::strerror(err) : "";
  }
  void close() override {
    if (fd_ < 0) return;
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  EventLoop& loop_;
  int fd_;
  FdHandler* handler_;
  std::uint32_t interest_ = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
};

}  // namespace

std::unique_ptr<Transport> fd_transport(EventLoop& loop, int fd, FdHandler* handler) {
  return std::make_unique<FdTransport>(loop, fd, handler);
}

StreamConnection::StreamConnection(EventLoop& loop, int fd)
    : StreamConnection(loop, [&loop, fd](FdHandler* h) { return fd_transport(loop, fd, h); }) {}

StreamConnection::StreamConnection(EventLoop& loop,
                                   std::function<std::unique_ptr<Transport>(FdHandler*)> open)
    : loop_(loop), last_activity_(loop.now()) {
  transport_ = open(this);
}

StreamConnection::~StreamConnection() = default;

void StreamConnection::on_events(std::uint32_t events) {
  if (!transport_) return;
  if (events & EPOLLOUT) {
    if (!connected_reported_) {
      connected_reported_ = true;
      if (auto err = transport_->connect_error(); !err.empty()) return finish(err);
      on_writable();
      if (!transport_) return;
    }
    flush();
    if (!transport_) return;
  }
  if (paused_ && (events & (EPOLLHUP | EPOLLERR))) return finish("connection lost");
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
    if (!connected_reported_ && (events & (EPOLLERR | EPOLLHUP))) {
      auto err = transport_->connect_error();
      return finish(err.empty() ? "connection failed" : err);
    }
    read_ready();
  }
}

void StreamConnection::read_ready() {
  char buf[kReadChunk];
  std::string plain;
  // Bounded: one chunk per event keeps one client from monopolising the loop.
  for (int round = 0; round < 4 && transport_ && !paused_; ++round) {
    ssize_t n = transport_->read(buf, sizeof buf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return finish(std::strerror(errno));
    }
    if (n == 0) return finish("peer closed the connection");
    last_activity_ = loop_.now();
    std::string_view data(buf, static_cast<std::size_t>(n));
    if (tls_) {
      plain.clear();
      auto fed = tls_->feed(data, plain);
      out_ += tls_->take_output();
      if (!fed) {
        log::warning("connection: {}", fed.error().message);
        flush();
        return finish(fed.error().message);
      }
      if (tls_->established() && !tls_reported_) {
        tls_reported_ = true;
        on_tls_established();
        if (!transport_) return;
      }
      if (!plain.empty()) on_data(plain);
      if (transport_) flush();
      if (tls_ && tls_->closed()) return finish("TLS closed by peer");
    } else {
      on_data(data);
    }
    if (static_cast<std::size_t>(n) < sizeof buf) return;
  }
}

void StreamConnection::send(std::string_view plaintext) {
  if (!transport_ || plaintext.empty()) return;
  if (tls_) {
    if (auto w = tls_->write(plaintext); !w) {
      log::warning("connection: {}", w.error().message);
      return finish(w.error().message);
    }
    out_ += tls_->take_output();
  } else {
    out_.append(plaintext);
  }
  flush();
}

void StreamConnection::start_tls(std::shared_ptr<tls::TlsContext> context,
                                 const std::string& peer_name,
                                 const std::vector<tls::DaneRecord>& dane, tls::PeerCheck check) {
  tls_ = std::make_unique<tls::TlsChannel>(std::move(context), peer_name, dane, check);
  out_ += tls_->take_output();  // the ClientHello, on the client side
  flush();
}

void StreamConnection::flush() {
  while (transport_ && out_pos_ < out_.size()) {
    ssize_t n = transport_->write(out_.data() + out_pos_, out_.size() - out_pos_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return finish(std::strerror(errno));
    }
    out_pos_ += static_cast<std::size_t>(n);
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
    if (closing_) return finish("closed");
  }
  update_interest();
}

void StreamConnection::update_interest() {
  if (!transport_) return;
  transport_->want(!paused_, !out_.empty() || !connected_reported_);
}

void StreamConnection::pause_reading(bool paused) {
  paused_ = paused;
  update_interest();
}

void StreamConnection::close_after_flush() {
  closing_ = true;
  flush();
}

void StreamConnection::close_now() { finish("closed"); }

void StreamConnection::finish(std::string_view reason) {
  if (!transport_) return;
  transport_->close();
  transport_.reset();
  on_closed(reason);
}

}  // namespace seegw::io
