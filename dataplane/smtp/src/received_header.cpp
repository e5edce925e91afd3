#include "seegw/smtp/received_header.hpp"

#include <fmt/format.h>

#include "seegw/mime/header_fields.hpp"

namespace seegw::smtp {
namespace {

// The HELO name is client-controlled: keep it printable and bounded so it cannot forge headers.
std::string sanitized(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 128)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u > 0x20 && u < 0x7f && c != '(' && c != ')' ? c : '_');
  }
  return out.empty() ? "unknown" : out;
}

}  // namespace

std::string received_header(const Envelope& envelope, std::string_view our_hostname,
                            std::string_view queue_id, std::chrono::system_clock::time_point when) {
  std::string with = envelope.esmtp ? "ESMTP" : "SMTP";
  if (envelope.tls) with += "S";
  std::string tls;
  if (envelope.tls)
    tls =
        fmt::format("\r\n\t(using {} with cipher {})", envelope.tls_protocol, envelope.tls_cipher);
  std::string for_clause;
  if (envelope.rcpt_to.size() == 1) for_clause = fmt::format("\r\n\tfor <{}>", envelope.rcpt_to[0]);
  return fmt::format("Received: from {} ([{}]){}\r\n\tby {} (seegw) with {} id {}{}; {}\r\n",
                     sanitized(envelope.helo), envelope.client_address, tls, our_hostname, with,
                     queue_id, for_clause, mime::rfc5322_date(when));
}

}  // namespace seegw::smtp
