#include "seegw/io/stream_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "seegw/common/log.hpp"

namespace seegw::io {

constexpr std::size_t kReadChunk = 64 * 1024;

StreamConnection::StreamConnection(EventLoop& loop, int fd)
    : loop_(loop), fd_(fd), last_activity_(loop.now()) {
  interest_ = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  if (auto added = loop_.add(fd_, interest_, this); !added) {
    log::error("connection: {}", added.error().message);
  }
}

StreamConnection::~StreamConnection() {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

void StreamConnection::on_events(std::uint32_t events) {
  if (fd_ < 0) return;
  if (events & EPOLLOUT) {
    if (!connected_reported_) {
      connected_reported_ = true;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return finish(std::strerror(err));
      on_writable();
      if (fd_ < 0) return;
    }
    flush();
    if (fd_ < 0) return;
  }
  if (paused_ && (events & (EPOLLHUP | EPOLLERR))) return finish("connection lost");
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
    if (!connected_reported_ && (events & (EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      return finish(err ? std::strerror(err) : "connection failed");
    }
    read_ready();
  }
}

void StreamConnection::read_ready() {
  char buf[kReadChunk];
  std::string plain;
  // Bounded: one chunk per event keeps one client from monopolising the loop.
  for (int round = 0; round < 4 && fd_ >= 0 && !paused_; ++round) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
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
        if (fd_ < 0) return;
      }
      if (!plain.empty()) on_data(plain);
      if (fd_ >= 0) flush();
      if (tls_ && tls_->closed()) return finish("TLS closed by peer");
    } else {
      on_data(data);
    }
    if (static_cast<std::size_t>(n) < sizeof buf) return;
  }
}

void StreamConnection::send(std::string_view plaintext) {
  if (fd_ < 0 || plaintext.empty()) return;
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
                                 const std::string& peer_name) {
  tls_ = std::make_unique<tls::TlsChannel>(std::move(context), peer_name);
  out_ += tls_->take_output();  // the ClientHello, on the client side
  flush();
}

void StreamConnection::flush() {
  while (fd_ >= 0 && out_pos_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
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
  if (fd_ < 0) return;
  // While paused, a half-close must not wake us (level-triggered epoll would spin).
  std::uint32_t want = paused_ ? 0 : EPOLLIN | EPOLLRDHUP;
  if (!out_.empty() || !connected_reported_) want |= EPOLLOUT;
  if (want != interest_) {
    interest_ = want;
    loop_.modify(fd_, interest_, this);
  }
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
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  on_closed(reason);
}

}  // namespace seegw::io
