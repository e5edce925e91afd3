// One function per command, one state variable; read top to bottom like OpenSMTPD's smtp_session.
#include "seegw/smtp/server_session.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "seegw/common/text.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::smtp {
namespace {

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::optional<std::size_t> parse_size(std::string_view digits) {
  std::size_t value = 0;
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

}  // namespace

ServerSession::ServerSession(ServerOptions options, std::string client_address,
                             std::uint16_t client_port, bool client_internal)
    : options_(std::move(options)) {
  envelope_.client_address = std::move(client_address);
  envelope_.client_port = client_port;
  envelope_.client_internal = client_internal;
}

void ServerSession::greet() { reply(fmt::format("220 {} ESMTP seegw", options_.hostname)); }

void ServerSession::refuse(std::string_view reason, std::string_view enhanced_code) {
  close_with(fmt::format("421 {} {} {}", enhanced_code, options_.hostname, reason));
}

std::string ServerSession::take_output() { return std::exchange(out_, {}); }

MessageReady ServerSession::take_message() {
  return MessageReady{envelope_, std::exchange(content_, {})};
}

std::chrono::milliseconds ServerSession::time_allowed() const {
  using std::chrono::milliseconds;
  const auto& l = options_.limits;
  if (state_ != State::data && state_ != State::bdat) return l.command_timeout;
  if (l.min_data_rate == 0) return l.data_timeout;
  return l.data_timeout + milliseconds(phase_bytes_ * 1000 / l.min_data_rate);
}

void ServerSession::timed_out() {
  if (state_ == State::closed || state_ == State::waiting_store) return;
  close_with(fmt::format("421 4.4.2 {} Error: timeout exceeded", options_.hostname));
}

void ServerSession::reply(std::string_view line) {
  out_.append(line);
  out_.append("\r\n");
}

void ServerSession::error_reply(std::string_view line) {
  reply(line);
  if (++errors_ >= options_.limits.max_errors && state_ != State::closed)
    close_with(fmt::format("421 4.7.0 {} Error: too many errors", options_.hostname));
}

void ServerSession::close_with(std::string_view line) {
  reply(line);
  state_ = State::closed;
  event_ = Event::close;
  drop_input();
}

void ServerSession::reset_transaction() {
  in_transaction_ = false;
  envelope_.mail_from.clear();
  envelope_.rcpt_to.clear();
  envelope_.body_type = BodyType::seven_bit;
  content_.clear();
  content_bytes_ = 0;
  bdat_used_ = false;
  bdat_rejected_ = false;
}

void ServerSession::count_command_without_mail() {
  if (++commands_without_mail_ > options_.limits.max_commands_without_mail)
    close_with(fmt::format("421 4.7.0 {} Error: too many commands without a transaction",
                           options_.hostname));
}

void ServerSession::feed(std::string_view bytes) {
  if (state_ == State::closed) return;
  if (state_ == State::data && pending_input() == 0 && event_ == Event::none) {
    // Fast path: the body streams through without being copied into in_.
    const std::size_t before = bytes.size();
    consume_data(bytes);
    phase_bytes_ += before - bytes.size();
    in_.assign(bytes);
    in_pos_ = 0;
    if (state_ == State::command && event_ == Event::none) process();
    return;
  }
  in_.erase(0, in_pos_);  // one compaction per read, not one per command
  in_pos_ = 0;
  in_.append(bytes);
  process();
}

void ServerSession::drop_input() {
  in_.clear();
  in_pos_ = 0;
}

void ServerSession::process() {
  while (event_ == Event::none && state_ != State::closed && pending_input() > 0) {
    std::string_view view = std::string_view(in_).substr(in_pos_);
    if (state_ == State::data || state_ == State::bdat) {
      const std::size_t before = view.size();
      if (state_ == State::data)
        consume_data(view);
      else
        consume_bdat(view);
      in_pos_ += before - view.size();
      phase_bytes_ += before - view.size();
      continue;
    }
    if (state_ != State::command) return;

    // Only CRLF ends a command line (RFC 5321 §2.3.8); a bare CR or LF is an error, never a line
    // end.
    const std::size_t n = view.size();
    std::size_t end = 0;
    while (end < n && view[end] != '\r' && view[end] != '\n') ++end;
    if (end == n || (view[end] == '\r' && end + 1 == n)) {
      // Incomplete line: wait for more, unless it is already too long to be a command.
      if (end > options_.limits.max_command_line) {
        in_pos_ += end;  // keep a trailing CR, its LF may follow
        if (!skipping_long_line_) {
          skipping_long_line_ = true;
          error_reply("500 5.5.2 Error: command line too long");
        }
      }
      return;
    }
    if (view[end] == '\n' || view[end + 1] != '\n') {
      in_pos_ += end + 1;
      skipping_long_line_ = false;
      error_reply("500 5.5.2 Error: bare <CR> or <LF> in command; only <CR><LF> ends a line");
      continue;
    }
    std::string_view line = view.substr(0, end);
    in_pos_ += end + 2;
    if (skipping_long_line_) {
      skipping_long_line_ = false;
      continue;
    }
    if (line.size() > options_.limits.max_command_line) {
      error_reply("500 5.5.2 Error: command line too long");
      continue;
    }
    handle_command(std::string(line));
  }
  if (pending_input() == 0) drop_input();
}

void ServerSession::handle_command(std::string_view line) {
  ++phase_;
  phase_bytes_ = 0;
  std::string_view verb = line.substr(0, line.find(' '));
  std::string_view arg = verb.size() < line.size() ? line.substr(verb.size() + 1) : "";

  if (iequals(verb, "EHLO")) return cmd_helo(arg, true);
  if (iequals(verb, "HELO")) return cmd_helo(arg, false);
  if (iequals(verb, "MAIL")) return cmd_mail(arg);
  if (iequals(verb, "RCPT")) return cmd_rcpt(arg);
  if (iequals(verb, "DATA")) return cmd_data(arg);
  if (iequals(verb, "BDAT")) return cmd_bdat(arg);
  if (iequals(verb, "STARTTLS")) return cmd_starttls(arg);
  if (iequals(verb, "QUIT")) return close_with("221 2.0.0 Bye");
  if (iequals(verb, "RSET")) {
    reset_transaction();
    reply("250 2.0.0 Ok");
    return count_command_without_mail();
  }
  if (iequals(verb, "NOOP")) {
    reply("250 2.0.0 Ok");
    return count_command_without_mail();
  }
  if (iequals(verb, "VRFY")) {
    reply("252 2.5.2 Cannot VRFY user; send mail and it will be delivered if the address exists");
    return count_command_without_mail();
  }
  if (iequals(verb, "HELP")) {
    reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY STARTTLS QUIT");
    return count_command_without_mail();
  }
  error_reply("500 5.5.2 Error: command not recognized");
}

void ServerSession::cmd_helo(std::string_view arg, bool extended) {
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  if (arg.empty() || (arg.find(' ') != std::string_view::npos && !extended)) {
    return error_reply(extended ? "501 5.5.4 Syntax: EHLO hostname"
                                : "501 5.5.4 Syntax: HELO hostname");
  }
  count_command_without_mail();
  if (state_ == State::closed) return;
  reset_transaction();
  greeted_ = true;
  envelope_.helo = std::string(arg.substr(0, 255));
  envelope_.esmtp = extended;
  if (!extended) return reply(fmt::format("250 {}", options_.hostname));
  out_ += fmt::format("250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n", options_.hostname,
                      options_.limits.max_message_bytes);
  if (options_.starttls_available && !envelope_.tls) out_ += "250-STARTTLS\r\n";
  out_ += "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";
}

void ServerSession::cmd_mail(std::string_view arg) {
  if (!greeted_) return error_reply("503 5.5.1 Error: send HELO/EHLO first");
  if (in_transaction_) return error_reply("503 5.5.1 Error: nested MAIL command");
  if (!istarts_with(arg, "FROM:")) return error_reply("501 5.5.4 Syntax: MAIL FROM:<address>");
  auto path = parse_path(arg.substr(5));
  if (!path || path->address == "postmaster")
    return error_reply("501 5.1.7 Bad sender address syntax");

  BodyType body = BodyType::seven_bit;
  std::uint64_t declared_size = 0;
  std::string_view params = path->rest;
  while (!params.empty()) {
    auto sp = params.find(' ');
    std::string_view param = params.substr(0, sp);
    params = sp == std::string_view::npos ? "" : params.substr(sp + 1);
    if (param.empty()) continue;
    if (!envelope_.esmtp) return error_reply("555 5.5.4 MAIL parameters need EHLO");
    if (istarts_with(param, "SIZE=")) {
      auto size = parse_size(param.substr(5));
      if (!size) return error_reply("501 5.5.4 Bad SIZE parameter");
      if (*size > options_.limits.max_message_bytes)
        return error_reply("552 5.3.4 Message size exceeds fixed limit");
      declared_size = *size;
    } else if (iequals(param, "BODY=7BIT")) {
      body = BodyType::seven_bit;
    } else if (iequals(param, "BODY=8BITMIME")) {
      body = BodyType::eight_bit_mime;
    } else {
      return error_reply(fmt::format("555 5.5.4 Unsupported option: {}",
                                     param.substr(0, std::min<std::size_t>(param.size(), 64))));
    }
  }
  // RFC 1870 §6.1: a temporary shortage of storage, not the client's error.
  if (options_.storage_available && !options_.storage_available(declared_size))
    return reply("452 4.3.1 Insufficient system storage, try again later");
  reset_transaction();
  in_transaction_ = true;
  commands_without_mail_ = 0;
  envelope_.mail_from = path->address;
  envelope_.body_type = body;
  reply("250 2.1.0 Ok");
}

void ServerSession::cmd_rcpt(std::string_view arg) {
  if (!in_transaction_) return error_reply("503 5.5.1 Error: need MAIL command");
  if (!istarts_with(arg, "TO:")) return error_reply("501 5.5.4 Syntax: RCPT TO:<address>");
  auto path = parse_path(arg.substr(3));
  if (!path || path->address.empty()) return error_reply("501 5.1.3 Bad recipient address syntax");
  if (!path->rest.empty()) return error_reply("555 5.5.4 Unsupported RCPT option");
  // Not counted as an error: RFC 5321 §4.5.3.1.10 expects the client to send the rest later.
  if (envelope_.rcpt_to.size() >= options_.limits.max_recipients)
    return reply("452 4.5.3 Error: too many recipients");
  std::string address = path->address;
  if (address == "postmaster") address = "postmaster@" + options_.postmaster_domain;
  // Fail closed: only internal clients may relay; everyone may reach our own domains.
  if (!envelope_.client_internal &&
      !(options_.is_local_domain && options_.is_local_domain(domain_of(address))))
    return error_reply(fmt::format("554 5.7.1 <{}>: Relay access denied", address));
  envelope_.rcpt_to.push_back(std::move(address));
  reply("250 2.1.5 Ok");
}

void ServerSession::cmd_data(std::string_view arg) {
  if (!arg.empty()) return error_reply("501 5.5.4 Syntax: DATA");
  if (!in_transaction_) return error_reply("503 5.5.1 Error: need MAIL command");
  if (bdat_used_) return error_reply("503 5.5.1 Error: DATA after BDAT");
  if (envelope_.rcpt_to.empty()) return error_reply("554 5.5.1 Error: no valid recipients");
  reply("354 End data with <CR><LF>.<CR><LF>");
  state_ = State::data;
  content_.clear();
  content_bytes_ = 0;
  line_length_ = 0;
  at_line_start_ = true;
  dot_only_ = false;
  pending_cr_ = false;
  bare_line_end_ = false;
  line_too_long_ = false;
}

void ServerSession::cmd_bdat(std::string_view arg) {
  // RFC 3030: the chunk must be read whatever we think of it, or framing is lost.
  std::string_view digits = arg.substr(0, arg.find(' '));
  std::string_view rest = digits.size() < arg.size() ? arg.substr(digits.size() + 1) : "";
  auto size = parse_size(digits);
  if (!size || !(rest.empty() || iequals(rest, "LAST"))) {
    // Without a size we cannot know how much follows: the only safe answer is to close.
    return close_with("501 5.5.4 Syntax: BDAT size [LAST]; closing to keep framing");
  }
  bdat_remaining_ = *size;
  bdat_last_ = !rest.empty();
  if (!in_transaction_ || envelope_.rcpt_to.empty()) {
    bdat_rejected_ = true;
  } else if (!bdat_used_) {
    bdat_used_ = true;
    content_.clear();
    content_bytes_ = 0;
  }
  state_ = State::bdat;
  if (bdat_remaining_ == 0) {
    std::string_view none;
    consume_bdat(none);
  }
}

void ServerSession::cmd_starttls(std::string_view arg) {
  if (!arg.empty()) return error_reply("501 5.5.4 Syntax: STARTTLS");
  if (envelope_.tls) return error_reply("503 5.5.1 Error: TLS already active");
  if (!options_.starttls_available) return error_reply("502 5.5.1 Error: STARTTLS not available");
  reply("220 2.0.0 Ready to start TLS");
  // Anything pipelined after STARTTLS was sent in clear text and must not be trusted
  // (CVE-2011-0411).
  drop_input();
  event_ = Event::start_tls;
}

void ServerSession::tls_started(TlsInfo info) {
  if (event_ != Event::start_tls) return;
  event_ = Event::none;
  reset_transaction();
  greeted_ = false;  // RFC 3207 §4.2: forget everything learnt before TLS
  envelope_.helo.clear();
  envelope_.tls = true;
  envelope_.tls_protocol = std::move(info.protocol);
  envelope_.tls_cipher = std::move(info.cipher);
  drop_input();
}

void ServerSession::append_content(std::string_view bytes) {
  content_bytes_ += bytes.size();
  if (bare_line_end_ || line_too_long_ || content_bytes_ > options_.limits.max_message_bytes)
    return;
  content_.append(bytes);
}

// DATA body: lines end only with CRLF. A bare CR or LF poisons the message and does not start a
// new line, so "\n.\n", "\r.\r", "\n.\r\n" and "\r\n.\n" can never end the data (SMTP smuggling).
void ServerSession::consume_data(std::string_view& in) {
  const std::size_t max_line = options_.limits.max_data_line;
  std::size_t i = 0;
  const std::size_t n = in.size();
  while (i < n) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (in[i] == '\n') {
        ++i;
        if (dot_only_) {
          in.remove_prefix(i);
          finish_data();
          return;
        }
        append_content("\r\n");
        at_line_start_ = true;
        line_length_ = 0;
        continue;
      }
      bare_line_end_ = true;  // the CR was bare; it stays inside the current line
      dot_only_ = false;
      append_content("\r");
    }
    if (at_line_start_) {
      at_line_start_ = false;
      if (in[i] == '.') {  // RFC 5321 §4.5.2 transparency: drop the first dot
        dot_only_ = true;
        ++line_length_;
        ++i;
        continue;
      }
      dot_only_ = false;
    }
    // Copy up to the next CR; a LF before it is bare.
    const char* start = in.data() + i;
    const void* cr = std::memchr(start, '\r', n - i);
    std::size_t seg = cr ? static_cast<const char*>(cr) - start : n - i;
    if (const void* lf = std::memchr(start, '\n', seg)) {
      seg = static_cast<const char*>(lf) - start + 1;
      bare_line_end_ = true;
      cr = nullptr;
    }
    if (seg > 0) {
      dot_only_ = false;
      line_length_ += seg;
      if (line_length_ > max_line) line_too_long_ = true;
      append_content(std::string_view(start, seg));
    }
    i += seg;
    if (cr) {
      pending_cr_ = true;
      ++i;
    }
  }
  in.remove_prefix(n);
}

void ServerSession::consume_bdat(std::string_view& in) {
  std::size_t take = std::min(bdat_remaining_, in.size());
  if (!bdat_rejected_) append_content(in.substr(0, take));
  in.remove_prefix(take);
  bdat_remaining_ -= take;
  if (bdat_remaining_ > 0) return;
  state_ = State::command;
  ++phase_;
  if (bdat_rejected_) {
    bdat_rejected_ = false;
    return error_reply(in_transaction_ ? "554 5.5.1 Error: no valid recipients"
                                       : "503 5.5.1 Error: need MAIL command");
  }
  if (content_bytes_ > options_.limits.max_message_bytes) {
    reset_transaction();
    return error_reply("552 5.3.4 Message size exceeds fixed limit");
  }
  if (!bdat_last_) return reply(fmt::format("250 2.0.0 {} octets received", take));
  envelope_.body_type = BodyType::binary_mime;
  state_ = State::waiting_store;
  event_ = Event::message_ready;
}

void ServerSession::finish_data() {
  state_ = State::command;
  ++phase_;
  if (bare_line_end_) {
    reset_transaction();
    return error_reply(
        "554 5.6.0 Message rejected: bare <CR> or <LF> in message data; only <CR><LF> ends a line");
  }
  if (content_bytes_ > options_.limits.max_message_bytes) {
    reset_transaction();
    return error_reply("552 5.3.4 Message size exceeds fixed limit");
  }
  if (line_too_long_) {
    reset_transaction();
    return error_reply(fmt::format("554 5.6.0 Message rejected: a line is longer than {} octets",
                                   options_.limits.max_data_line));
  }
  state_ = State::waiting_store;
  event_ = Event::message_ready;
}

void ServerSession::message_stored(std::optional<std::string> queue_id, std::string_view failure) {
  if (state_ != State::waiting_store) return;
  state_ = State::command;
  ++phase_;
  event_ = Event::none;
  if (queue_id) {
    reply(fmt::format("250 2.0.0 Ok: queued as {}", *queue_id));
  } else {
    reply(fmt::format("451 4.3.0 Error: {}; try again later", failure));
  }
  reset_transaction();
  process();
}

void ServerSession::message_refused(std::string_view reason) {
  if (state_ != State::waiting_store) return;
  state_ = State::command;
  ++phase_;
  event_ = Event::none;
  std::string line = fmt::format("550 5.7.1 {}", reason.substr(0, 400));
  for (auto& c : line)  // the reason may quote a peer's header: one line, printable
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  reply(line);
  reset_transaction();
  process();
}

}  // namespace seegw::smtp
