// A non-blocking TCP connection with optional TLS in the middle: bytes in, bytes out, and a
// bounded write buffer. Protocol logic sits above it (SMTP server or client sessions).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "seegw/io/event_loop.hpp"
#include "seegw/io/transport.hpp"
#include "seegw/tls/tls_channel.hpp"

namespace seegw::io {

class StreamConnection : public FdHandler {
 public:
  StreamConnection(EventLoop& loop, int fd);
  // A transport made for this connection (it reports readiness to on_events).
  StreamConnection(EventLoop& loop, std::function<std::unique_ptr<Transport>(FdHandler*)> open);
  ~StreamConnection() override;

  void on_events(std::uint32_t events) override;
  // Queues bytes (encrypting when TLS is on) and writes what the socket takes now.
  void send(std::string_view plaintext);
  // Starts TLS after everything queued so far has been written in clear text.
  void start_tls(std::shared_ptr<tls::TlsContext> context, const std::string& peer_name = {},
                 const std::vector<tls::DaneRecord>& dane = {},
                 tls::PeerCheck check = tls::PeerCheck::context);
  void pause_reading(bool paused);
  // Closes once the write buffer is empty.
  void close_after_flush();
  void close_now();
  bool closed() const { return !transport_; }
  bool tls_established() const { return tls_ && tls_->established(); }
  std::string tls_protocol() const { return tls_ ? tls_->protocol() : ""; }
  std::string tls_cipher() const { return tls_ ? tls_->cipher() : ""; }
  bool tls_dane_authenticated() const { return tls_ && tls_->dane_authenticated(); }
  const tls::TlsChannel* tls_channel() const { return tls_.get(); }
  EventLoop::Clock::time_point last_activity() const { return last_activity_; }
  EventLoop& loop() { return loop_; }

 protected:
  virtual void on_data(std::string_view plaintext) = 0;
  virtual void on_tls_established() {}
  virtual void on_writable() {}  // connect finished (client side)
  // Called once; after it the object may be destroyed by its owner.
  virtual void on_closed(std::string_view reason) = 0;

 private:
  void read_ready();
  void flush();
  void update_interest();
  void finish(std::string_view reason);

  EventLoop& loop_;
  std::unique_ptr<Transport> transport_;
  std::string out_;
  std::size_t out_pos_ = 0;
  std::unique_ptr<tls::TlsChannel> tls_;
  bool tls_reported_ = false;
  bool paused_ = false;
  bool closing_ = false;
  bool connected_reported_ = false;
  EventLoop::Clock::time_point last_activity_;
};

}  // namespace seegw::io
