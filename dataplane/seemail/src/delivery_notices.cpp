// RFC 3464 delivery status notifications (see internal_messages.hpp).
#include "seegw/seemail/internal_messages.hpp"

#include <fmt/format.h>

#include "seegw/mime/header_fields.hpp"

namespace seegw::seemail {

std::string enhanced_status(int code, std::string_view reply) {
  // "d.ddd.ddd" at the start of the reply text (RFC 3463).
  std::size_t i = 0;
  auto digits = [&](std::size_t max) {
    std::size_t n = 0;
    while (i < reply.size() && n < max && reply[i] >= '0' && reply[i] <= '9') ++i, ++n;
    return n > 0;
  };
  if (!reply.empty() && (reply[0] == '2' || reply[0] == '4' || reply[0] == '5') && digits(1) &&
      i < reply.size() && reply[i++] == '.' && digits(3) && i < reply.size() && reply[i++] == '.' &&
      digits(3) && (i == reply.size() || reply[i] == ' '))
    return std::string(reply.substr(0, i));
  return fmt::format("{}.0.0", code >= 500 ? 5 : 4);
}

std::string delivery_notice(const spool::SpoolRecord& original,
                            const std::vector<smtp::RecipientResult>& recipients,
                            DeliveryNoticeKind kind, const DeliveryNoticeContext& c) {
  const bool failed = kind == DeliveryNoticeKind::failed;
  const std::string boundary = fmt::format("{}/{}", original.id, c.hostname);
  std::string m;
  m += fmt::format("From: Mail Delivery System <postmaster@{}>\r\n", c.domain);
  m += fmt::format("To: <{}>\r\n", original.envelope.mail_from);
  m += failed ? "Subject: Undelivered Mail Returned to Sender\r\n"
              : "Subject: Delayed Mail (still being retried)\r\n";
  m += fmt::format("Date: {}\r\n", mime::rfc5322_date(c.now));
  m += fmt::format("Message-ID: <{}.{}@{}>\r\n", original.id, failed ? "failed" : "delayed",
                   c.hostname);
  m += "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n";
  m += fmt::format(
      "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n\r\n",
      boundary);
  m += "This is a MIME-encapsulated message.\r\n\r\n";
  m += fmt::format("--{}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
  m += fmt::format("This is the mail system at host {}.\r\n\r\n", c.hostname);
  if (failed) {
    m += "I'm sorry to have to inform you that your message could not\r\n"
         "be delivered to one or more recipients. It's attached below.\r\n\r\n";
  } else {
    m += fmt::format(
        "Your message could not be delivered yet to one or more recipients.\r\n"
        "It will be retried until {}.\r\n\r\n"
        "This is only a warning: you do not need to send the message again.\r\n\r\n",
        mime::rfc5322_date(c.give_up_at));
  }
  for (const auto& r : recipients)
    m += fmt::format("<{}>: {}\r\n", r.rcpt, r.reply.empty() ? "no reply" : r.reply);
  m += fmt::format("\r\n--{}\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
  m += fmt::format("Reporting-MTA: dns; {}\r\nX-Seegw-Queue-ID: {}\r\n", c.hostname, original.id);
  m += fmt::format("Arrival-Date: {}\r\n",
                   mime::rfc5322_date(std::chrono::system_clock::from_time_t(original.arrival)));
  for (const auto& r : recipients) {
    std::string status = enhanced_status(r.code, r.reply);
    status[0] = failed ? '5' : '4';  // a temporary error that outlived the queue is now final
    m += fmt::format("\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n", r.rcpt,
                     failed ? "failed" : "delayed", status);
    if (r.code > 0) m += fmt::format("Diagnostic-Code: smtp; {} {}\r\n", r.code, r.reply);
    if (!failed) m += fmt::format("Will-Retry-Until: {}\r\n", mime::rfc5322_date(c.give_up_at));
  }
  m += fmt::format("\r\n--{}\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
  const std::string& content = *original.content;
  auto end = content.find("\r\n\r\n");
  m += content.substr(
      0, end == std::string::npos ? std::min<std::size_t>(content.size(), 65536) : end + 2);
  m += fmt::format("\r\n--{}--\r\n", boundary);
  return m;
}

}  // namespace seegw::seemail
