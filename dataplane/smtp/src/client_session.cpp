#include "seegw/smtp/client_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace seegw::smtp {
namespace {

constexpr std::size_t kMaxReplyLine = 4096;
constexpr std::size_t kMaxReplyLines = 100;

bool has_keyword(std::string_view line, std::string_view keyword) {
  if (line.size() < keyword.size()) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(line[i])) != keyword[i]) return false;
  return line.size() == keyword.size() || line[keyword.size()] == ' ';
}

// Finds line ends in a message body: the first CR or LF at or after a position.
// string_view::find_first_of calls memchr once per byte; this does one memchr for LF per line
// (remembered, so a body of bare CRs stays linear) and one for CR within the line.
class LineEnds {
 public:
  explicit LineEnds(std::string_view content) : content_(content) {}

  std::size_t after(std::size_t from) {
    const char* base = content_.data();
    if (next_lf_ != std::string_view::npos && next_lf_ < from) next_lf_ = kUnknown;
    if (next_lf_ == kUnknown) {
      const void* lf = std::memchr(base + from, '\n', content_.size() - from);
      next_lf_ = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - base)
                    : std::string_view::npos;
    }
    const std::size_t limit = std::min(next_lf_, content_.size());
    if (const void* cr = std::memchr(base + from, '\r', limit - from))
      return static_cast<std::size_t>(static_cast<const char*>(cr) - base);
    return next_lf_;
  }

 private:
  static constexpr std::size_t kUnknown = std::string_view::npos - 1;
  std::string_view content_;
  std::size_t next_lf_ = kUnknown;
};

}  // namespace

void append_dot_stuffed(std::string& out, std::string_view content) {
  out.reserve(out.size() + content.size() + content.size() / 64 + 8);
  LineEnds line_ends(content);
  bool line_start = true;
  std::size_t i = 0;
  while (i < content.size()) {
    if (line_start && content[i] == '.') out.push_back('.');
    line_start = false;
    std::size_t j = line_ends.after(i);
    if (j == std::string_view::npos) {
      out.append(content.substr(i));
      break;
    }
    out.append(content.substr(i, j - i));
    out.append("\r\n");
    i = (content[j] == '\r' && j + 1 < content.size() && content[j + 1] == '\n') ? j + 2 : j + 1;
    line_start = true;
  }
  if (!line_start) out.append("\r\n");
  out.append(".\r\n");
}

ClientSession::ClientSession(ClientOptions options) : options_(std::move(options)) {}

void ClientSession::command(std::string_view line) {
  out_.append(line);
  out_.append("\r\n");
}

void ClientSession::feed(std::string_view bytes) {
  if (state_ == State::closed) return;
  in_.append(bytes);
  std::size_t pos = 0;
  while (state_ != State::closed) {
    std::size_t nl = in_.find('\n', pos);
    if (nl == std::string::npos) {
      if (in_.size() - pos > kMaxReplyLine) fail("reply line too long");
      break;
    }
    std::string_view line(in_.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    int code = 0;
    if (line.size() < 3 ||
        std::from_chars(line.data(), line.data() + 3, code).ptr != line.data() + 3 || code < 200 ||
        code > 599 || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      fail(fmt::format("malformed reply from server: {}", line.substr(0, 80)));
      break;
    }
    if (partial_.lines.empty()) partial_.code = code;
    if (code != partial_.code || partial_.lines.size() >= kMaxReplyLines) {
      fail("malformed multi-line reply from server");
      break;
    }
    std::string_view text = line.size() > 4 ? line.substr(4) : "";
    partial_.lines.emplace_back(text);
    if (line.size() > 3 && line[3] == '-') continue;
    Reply reply = std::exchange(partial_, {});
    for (const auto& l : reply.lines) {
      if (!reply.text.empty()) reply.text += "; ";
      reply.text += l;
    }
    on_reply(std::move(reply));
    if (event_ == Event::start_tls) {
      pos = in_.size();  // nothing the server sent in clear after 220 may be trusted
      break;
    }
  }
  in_.erase(0, pos);
}

void ClientSession::send_ehlo() {
  state_ = State::ehlo;
  command(fmt::format("EHLO {}", options_.helo_name));
}

void ClientSession::on_reply(Reply reply) {
  switch (state_) {
    case State::greeting:
      if (reply.code != 220) return fail(fmt::format("greeting: {} {}", reply.code, reply.text));
      return send_ehlo();
    case State::ehlo:
    case State::helo:
      return on_ehlo(reply);
    case State::starttls:
      if (reply.code == 220) {
        event_ = Event::start_tls;
        return;
      }
      if (options_.tls == TlsPolicy::required)
        return fail(fmt::format("STARTTLS refused: {} {}", reply.code, reply.text));
      return become_ready();
    case State::transaction:
      return on_transaction_reply(reply);
    case State::quitting:
      state_ = State::closed;
      event_ = Event::closed;
      return;
    case State::ready:
    case State::closed:
      return fail("unexpected reply from server");
  }
}

void ClientSession::on_ehlo(const Reply& reply) {
  if (reply.code != 250) {
    if (state_ == State::ehlo && !ehlo_retried_with_helo_ && reply.code >= 500) {
      ehlo_retried_with_helo_ = true;
      state_ = State::helo;
      command(fmt::format("HELO {}", options_.helo_name));
      return;
    }
    return fail(fmt::format("EHLO/HELO refused: {} {}", reply.code, reply.text));
  }
  server_pipelining_ = server_8bitmime_ = server_starttls_ = server_size_supported_ = false;
  if (state_ == State::ehlo) {
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
      std::string_view l = reply.lines[i];
      if (has_keyword(l, "PIPELINING")) server_pipelining_ = true;
      if (has_keyword(l, "8BITMIME")) server_8bitmime_ = true;
      if (has_keyword(l, "STARTTLS")) server_starttls_ = true;
      if (has_keyword(l, "SIZE")) server_size_supported_ = true;
    }
  }
  if (!tls_active_ && options_.tls != TlsPolicy::none) {
    if (server_starttls_ && options_.tls_available) {
      state_ = State::starttls;
      command("STARTTLS");
      return;
    }
    if (options_.tls == TlsPolicy::required)
      return fail("TLS is required for this route but the server does not offer STARTTLS");
  }
  become_ready();
}

void ClientSession::tls_started() {
  if (event_ != Event::start_tls) return;
  event_ = Event::none;
  tls_active_ = true;
  send_ehlo();  // RFC 3207 §4.2: discard what we knew and ask again
}

void ClientSession::become_ready() {
  state_ = State::ready;
  event_ = Event::ready;
}

void ClientSession::send(OutboundMessage message) {
  if (state_ != State::ready) return;
  event_ = Event::none;
  message_ = std::make_unique<OutboundMessage>(std::move(message));
  state_ = State::transaction;
  result_ = {};
  result_.recipients.reserve(message_->rcpt_to.size());
  for (auto& r : message_->rcpt_to) result_.recipients.push_back({r, 0, {}});
  rcpt_replies_ = accepted_ = next_rcpt_ = 0;
  expected_.clear();

  std::string mail = fmt::format("MAIL FROM:<{}>", message_->mail_from);
  if (server_size_supported_) mail += fmt::format(" SIZE={}", message_->content->size());
  if (server_8bitmime_ && message_->body_type != BodyType::seven_bit) mail += " BODY=8BITMIME";
  command(mail);
  expected_.push_back(Expect::mail);
  if (server_pipelining_) {
    for (auto& r : message_->rcpt_to) {
      command(fmt::format("RCPT TO:<{}>", r));
      expected_.push_back(Expect::rcpt);
    }
    next_rcpt_ = message_->rcpt_to.size();
    command("DATA");
    expected_.push_back(Expect::data);
  }
}

void ClientSession::on_transaction_reply(const Reply& reply) {
  if (expected_.empty()) return fail("unexpected reply from server");
  Expect what = expected_.front();
  expected_.pop_front();
  switch (what) {
    case Expect::mail:
      mail_reply_ = reply;
      if (reply.code / 100 != 2) {
        for (auto& r : result_.recipients) r = {r.rcpt, reply.code, "MAIL FROM: " + reply.text};
        if (!server_pipelining_) {
          command("RSET");
          expected_.push_back(Expect::rset);
        }
        return;
      }
      if (!server_pipelining_) {
        command(fmt::format("RCPT TO:<{}>", message_->rcpt_to[next_rcpt_++]));
        expected_.push_back(Expect::rcpt);
      }
      return;
    case Expect::rcpt: {
      auto& r = result_.recipients[rcpt_replies_++];
      if (mail_reply_.code / 100 == 2) {
        r.code = reply.code;
        r.reply = reply.text;
        if (reply.code / 100 == 2) {
          ++accepted_;
          r.code = 0;  // decided by the end of data
        }
      }
      if (!server_pipelining_) {
        if (next_rcpt_ < message_->rcpt_to.size()) {
          command(fmt::format("RCPT TO:<{}>", message_->rcpt_to[next_rcpt_++]));
          expected_.push_back(Expect::rcpt);
        } else if (accepted_ > 0) {
          command("DATA");
          expected_.push_back(Expect::data);
        } else {
          command("RSET");
          expected_.push_back(Expect::rset);
        }
      }
      return;
    }
    case Expect::data:
      if (reply.code == 354) {
        if (accepted_ > 0) {
          send_body();
        } else {
          out_.append(".\r\n");  // RFC 2920 §3.1: nothing accepted, end the empty data at once
        }
        expected_.push_back(Expect::data_end);
        return;
      }
      for (auto& r : result_.recipients)
        if (r.code == 0) r = {r.rcpt, reply.code, "DATA: " + reply.text};
      if (mail_reply_.code / 100 != 2 || accepted_ == 0) {
        command("RSET");
        expected_.push_back(Expect::rset);
        return;
      }
      command("RSET");
      expected_.push_back(Expect::rset);
      return;
    case Expect::data_end:
      for (auto& r : result_.recipients)
        if (r.code == 0) r = {r.rcpt, reply.code, reply.text};
      if (accepted_ == 0) {
        command("RSET");
        expected_.push_back(Expect::rset);
        return;
      }
      return finish_message();
    case Expect::rset:
      if (reply.code / 100 != 2)
        return fail(fmt::format("RSET refused: {} {}", reply.code, reply.text));
      return finish_message();
  }
}

void ClientSession::send_body() { append_dot_stuffed(out_, *message_->content); }

void ClientSession::finish_message() {
  for (auto& r : result_.recipients)
    if (r.code == 0) r = {r.rcpt, 451, "no reply for this recipient"};
  message_.reset();
  expected_.clear();
  state_ = State::ready;
  event_ = Event::message_done;
}

DeliveryResult ClientSession::take_result() {
  if (event_ == Event::message_done) event_ = state_ == State::ready ? Event::ready : Event::closed;
  return std::exchange(result_, {});
}

void ClientSession::quit() {
  if (state_ == State::closed || state_ == State::quitting) return;
  if (state_ != State::ready) return fail("quit in the middle of a transaction");
  state_ = State::quitting;
  event_ = Event::none;
  command("QUIT");
}

void ClientSession::fail(std::string_view reason) {
  if (state_ == State::closed) return;
  const bool had_message = message_ != nullptr;
  if (had_message) {
    for (auto& r : result_.recipients)
      if (r.code == 0) r = {r.rcpt, 451, fmt::format("connection failed: {}", reason)};
    message_.reset();
  }
  expected_.clear();
  state_ = State::closed;
  event_ = had_message ? Event::message_done : Event::closed;
  failure_ = std::string(reason);
}

}  // namespace seegw::smtp
