// The SMTP client as a sans-IO state machine: relays messages to a next hop with PIPELINING
// (RFC 2920), SIZE, 8BITMIME and STARTTLS (RFC 3207), reporting a result per recipient. Several
// messages can go over one connection. It trusts the server's replies only as far as their syntax.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "seegw/smtp/envelope.hpp"

namespace seegw::smtp {

enum class TlsPolicy { none, opportunistic, required };

struct ClientOptions {
  std::string helo_name = "localhost";
  TlsPolicy tls = TlsPolicy::opportunistic;
  bool tls_available = false;  // the host can run a TLS handshake
};

struct OutboundMessage {
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::shared_ptr<const std::string> content;  // RFC 5322 message, CRLF (bare ends normalised)
  BodyType body_type = BodyType::seven_bit;
};

struct RecipientResult {
  std::string rcpt;
  int code = 0;       // the SMTP reply code that decided it; 2xx delivered, 4xx retry, 5xx bounce
  std::string reply;  // the server's words, for logs and DSNs
};

struct DeliveryResult {
  std::vector<RecipientResult> recipients;
};

class ClientSession {
 public:
  enum class Event {
    none,
    ready,         // connected and greeted: send() a message or quit()
    start_tls,     // flush output, run the handshake, then tls_started()
    message_done,  // take_result(); then the session is ready again (or closed)
    closed,        // the connection is finished (QUIT done or failure); flush output and close
  };

  explicit ClientSession(ClientOptions options);

  void feed(std::string_view bytes);
  std::string take_output() { return std::exchange(out_, {}); }
  Event event() const { return event_; }

  void send(OutboundMessage message);
  DeliveryResult take_result();
  void quit();
  void tls_started();
  // The connection failed or timed out: every recipient in flight gets a temporary failure.
  void fail(std::string_view reason);
  bool tls_active() const { return tls_active_; }
  bool in_transaction() const { return message_ != nullptr; }
  // send() starts a message only now: greeted, not in a transaction, not quitting or closed.
  bool accepts_message() const { return state_ == State::ready; }
  const std::string& failure() const { return failure_; }

 private:
  enum class State { greeting, ehlo, helo, starttls, ready, transaction, quitting, closed };
  enum class Expect { mail, rcpt, data, data_end, rset };

  struct Reply {
    int code = 0;
    std::string text;  // all lines joined by "; "
    std::vector<std::string> lines;
  };

  void on_reply(Reply reply);
  void on_ehlo(const Reply& reply);
  void on_transaction_reply(const Reply& reply);
  void send_ehlo();
  void send_body();
  void become_ready();
  void finish_message();
  void command(std::string_view line);

  ClientOptions options_;
  State state_ = State::greeting;
  Event event_ = Event::none;
  std::string in_;
  std::string out_;
  Reply partial_;
  bool ehlo_retried_with_helo_ = false;
  bool tls_active_ = false;
  bool server_pipelining_ = false;
  bool server_8bitmime_ = false;
  bool server_starttls_ = false;
  bool server_size_supported_ = false;
  std::string failure_;

  std::unique_ptr<OutboundMessage> message_;
  std::deque<Expect> expected_;
  std::size_t next_rcpt_ = 0;  // without PIPELINING: the next RCPT to send
  std::size_t rcpt_replies_ = 0;
  std::size_t accepted_ = 0;
  Reply mail_reply_;
  DeliveryResult result_;
};

// Dot-stuffs (RFC 5321 §4.5.2) and turns any bare CR or LF into CRLF, ending with ".\r\n".
void append_dot_stuffed(std::string& out, std::string_view content);

}  // namespace seegw::smtp
