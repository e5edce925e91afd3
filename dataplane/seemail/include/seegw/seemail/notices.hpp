// The words users and administrators read: SEEMail warnings #1A, #1C, #4A, unverified sender (2B),
// spoofed own domain (texts of 001_3bd88b9091fbd4df.txt), the certificate table's messages
// (004 §2.8), held-message notices, and the summaries that replace a notification storm (OPS-2).
// Each is filled in with the message's own facts.
#pragma once

#include <string>
#include <vector>

#include "seegw/policy/notice_limiter.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/seemail/message_edit.hpp"

namespace seegw::seemail {

// The facts of the message a notice is about.
struct MessageFacts {
  std::string queue_id;
  std::string sender;
  std::string subject;
  std::string message_id;
  std::vector<std::string> recipients;  // those the notice concerns
  std::string classification;           // "RESTRICTED", ...
  std::string found_where;              // "Subject", "report.docx", ...
};

// A notice from postmaster@<our domain> (OPS-2) to `to`.
ComposedMessage notice_message(const policy::Notice& notice, const std::string& to,
                               const std::string& our_domain, const MessageFacts& facts);
ComposedMessage summary_message(const policy::NoticeLimiter::Summary& summary,
                                const std::string& our_domain);

// The text part an inbound message gets above its content, HARD warnings first.
std::string warning_text(const std::vector<policy::RaisedWarning>& warnings,
                         const std::string& sender);

}  // namespace seegw::seemail
