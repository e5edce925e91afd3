// Every message the gateway itself writes, in one place: the words users and administrators read
// — SEEMail warnings #1A, #1C, #4A, unverified sender (2B), spoofed own domain (texts of
// 001_3bd88b9091fbd4df.txt), the certificate table's messages (004 §2.8), held-message notices,
// the summaries that replace a notification storm (OPS-2) — the delivery status notifications
// (RFC 3464), the administrator's alerts, and the ping and certificate-request messages and their
// answers (OPS-3, DIR-2). Each is filled in with the message's own facts; signing is the SEEMail
// stage's.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "seegw/policy/notice_limiter.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/seemail/message_edit.hpp"
#include "seegw/smtp/client_session.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::seemail {

// A message the gateway itself sends (notice, answer): spooled as if an internal client had
// submitted it, with the null reverse-path unless it wants an answer, so it never causes a bounce
// loop.
struct GeneratedMessage {
  std::vector<std::string> recipients;
  std::string content;
  std::string what;                 // for the log
  std::string envelope_sender;      // "" (the null reverse-path) for notices and answers
  bool secured_by_gateway = false;  // signed (and encrypted) here: sent as it is
};

// Who the gateway is in the messages it writes.
struct Sender {
  std::string hostname;
  std::string domain;  // ours: postmaster@, seemail-ping@, domain-certificate-request@
};

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

// An alert to our postmaster (the gateway's own certificate needs attention, ...).
GeneratedMessage administrator_alert(const Sender& us, const std::string& subject,
                                     const std::string& text, std::time_t now);

// OPS-3's request: an ordinary message to the agency's ping address, from our postmaster (the
// answer comes back there); the outbound rules sign and encrypt it like any other.
GeneratedMessage ping_request(const Sender& us, const std::string& domain, std::time_t now);
// The answer to a ping (`in_reply_to` its Message-ID), with what this gateway knows.
struct PingFacts {
  std::string software;
  std::string version;
  std::uint64_t snapshot_version = 0;
  std::vector<std::string> agencies;  // "domain (name, Standard community)"
};
GeneratedMessage ping_answer(const Sender& us, const std::string& to,
                             const std::string& in_reply_to, const PingFacts& facts,
                             std::time_t now);
// DIR-2 fallback (004 1.1.13): the request for `domain`'s certificate, from and to
// domain-certificate-request@, whose Subject is the wanted address (to be signed).
ComposedMessage certificate_request(const Sender& us, const std::string& domain);
// The answer to a certificate request for `wanted`: our certificate (DER) attached when it
// carries that address (`certificate` may be null: the HSM is down), else a pointer to it.
GeneratedMessage certificate_answer(const Sender& us, const std::string& to,
                                    const std::string& wanted, X509* certificate, std::time_t now);

// Delivery status notifications (RFC 3464): the bounce after the last attempt and the delay
// notice while we keep trying, as ordinary messages from postmaster with the null sender.
struct DeliveryNoticeContext {
  std::string hostname;  // Reporting-MTA
  std::string domain;    // notifications come from postmaster@domain (OPS-2)
  std::chrono::system_clock::time_point now;
  std::chrono::system_clock::time_point give_up_at;  // for delay notices
};
enum class DeliveryNoticeKind { failed, delayed };
// The notice's message bytes for `original`, listing `recipients` (address + last server reply).
std::string delivery_notice(const spool::SpoolRecord& original,
                            const std::vector<smtp::RecipientResult>& recipients,
                            DeliveryNoticeKind kind, const DeliveryNoticeContext& context);
// "5.1.1" from "5.1.1 User unknown", else the class digit from the reply code ("5.0.0").
std::string enhanced_status(int code, std::string_view reply);

}  // namespace seegw::seemail
