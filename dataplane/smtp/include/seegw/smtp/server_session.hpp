// The SMTP server as a sans-IO state machine (RFC 5321 + PIPELINING, SIZE, 8BITMIME,
// ENHANCEDSTATUSCODES, CHUNKING, STARTTLS): bytes in, reply bytes and events out. It trusts
// nothing the client sends; it never touches a socket, a disk or a clock of its own, so it runs
// unchanged over kernel sockets and over the DPDK TCP stack.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "seegw/smtp/envelope.hpp"

namespace seegw::smtp {

struct ServerLimits {
  std::size_t max_message_bytes = 25u << 20;
  std::size_t max_command_line = 1000;  // RFC 5321 §4.5.3.1.4 is 512; extensions need more
  std::size_t max_data_line = 8192;     // RFC 5321 §4.5.3.1.6 is 1000; real mail is sloppier
  std::size_t max_recipients = 1000;    // RFC 5321 §4.5.3.1.8 asks for at least 100
  std::size_t max_commands_without_mail = 50;
  std::size_t max_errors = 10;
  // A deadline per command line, not per byte (Postfix's smtpd_per_record_deadline): a client
  // dribbling a byte at a time is cut when the line is not complete in time.
  std::chrono::seconds command_timeout{300};  // RFC 5321 §4.5.3.2.7
  // DATA and each BDAT chunk may take this long plus one second for every min_data_rate bytes
  // received (Postfix's smtpd_min_data_rate): slow senders are cut, big messages are not.
  std::chrono::seconds data_timeout{600};
  std::size_t min_data_rate = 500;  // bytes per second; 0: the data timeout does not grow
};

struct ServerOptions {
  std::string hostname = "localhost";
  ServerLimits limits;
  bool starttls_available = false;
  // Which recipient domains we accept mail for from a client outside the internal networks;
  // anything else from outside is relaying and is refused.
  std::function<bool(std::string_view domain)> is_local_domain;
  std::string postmaster_domain;  // RCPT TO:<postmaster> becomes postmaster@this
  // Room to store a message of that many bytes (0: SIZE not declared)? Asked at MAIL, so a
  // client is turned away (452 4.3.1) before it sends the body. Unset: always.
  std::function<bool(std::uint64_t bytes)> storage_available;
};

struct MessageReady {
  Envelope envelope;
  std::string content;  // the message as received, dot-unstuffed, CRLF line ends
};

// What the host must do next. Output (take_output) is always flushed before acting on an event.
enum class Event {
  none,
  message_ready,  // call take_message(), store it, then message_stored()
  start_tls,      // flush output, run the TLS handshake, then call tls_started()
  close,          // flush output and close the connection
};

struct TlsInfo {
  std::string protocol;
  std::string cipher;
};

class ServerSession {
 public:
  ServerSession(ServerOptions options, std::string client_address, std::uint16_t client_port,
                bool client_internal);

  // The 220 greeting (or a 421 when the host refuses the connection: pass the enhanced status
  // code, RFC 3463, and the reason).
  void greet();
  void refuse(std::string_view reason, std::string_view enhanced_code = "4.7.0");

  // Feeds received bytes. Processing pauses while an event is pending.
  void feed(std::string_view bytes);

  Event event() const { return event_; }
  std::string take_output();
  bool has_output() const { return !out_.empty(); }
  MessageReady take_message();

  // The spool's answer for the message handed out with message_ready: a queue ID on success,
  // or a temporary failure reason (answered 451, the client will retry).
  void message_stored(std::optional<std::string> queue_id, std::string_view failure = {});
  // The message handed out with message_ready is refused for good (550 5.7.1 and the reason,
  // RFC 3463 "delivery not authorized"): nothing was stored.
  void message_refused(std::string_view reason);
  void tls_started(TlsInfo info);
  // The deadline: the current command line, or the whole DATA or BDAT chunk, may take
  // time_allowed() from when phase() last changed (the host's clock measures it). A phase is one
  // command line or one message body.
  std::uint64_t phase() const { return phase_; }
  std::chrono::milliseconds time_allowed() const;
  // The host's clock says the phase took longer than time_allowed().
  void timed_out();

  const Envelope& envelope() const { return envelope_; }

 private:
  enum class State { command, data, bdat, waiting_store, closed };

  void process();
  void drop_input();
  std::size_t pending_input() const { return in_.size() - in_pos_; }
  void handle_command(std::string_view line);
  void consume_data(std::string_view& in);
  void consume_bdat(std::string_view& in);
  void finish_data();
  void reply(std::string_view line);
  void error_reply(std::string_view line);
  void close_with(std::string_view line);
  void reset_transaction();
  void count_command_without_mail();
  void append_content(std::string_view bytes);

  void cmd_helo(std::string_view arg, bool extended);
  void cmd_mail(std::string_view arg);
  void cmd_rcpt(std::string_view arg);
  void cmd_data(std::string_view arg);
  void cmd_bdat(std::string_view arg);
  void cmd_starttls(std::string_view arg);

  ServerOptions options_;
  Envelope envelope_;
  State state_ = State::command;
  Event event_ = Event::none;
  std::string in_;  // input; bytes before in_pos_ are processed
  std::size_t in_pos_ = 0;
  std::string out_;  // replies not yet taken
  bool greeted_ = false;
  std::uint64_t phase_ = 0;
  std::size_t phase_bytes_ = 0;  // received in this phase (DATA, BDAT)
  bool in_transaction_ = false;
  bool skipping_long_line_ = false;
  std::size_t errors_ = 0;
  std::size_t commands_without_mail_ = 0;

  // DATA / BDAT state
  std::string content_;
  std::size_t content_bytes_ = 0;  // counted even past the limit
  std::size_t line_length_ = 0;
  std::size_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_used_ = false;
  bool bdat_rejected_ = false;
  bool at_line_start_ = true;
  bool dot_only_ = false;
  bool pending_cr_ = false;
  bool bare_line_end_ = false;
  bool line_too_long_ = false;
};

}  // namespace seegw::smtp
