#include "seegw/seemail/internal_messages.hpp"

#include <fmt/format.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "seegw/common/text.hpp"
#include "seegw/x509/validation.hpp"

#include "seegw/mime/header_fields.hpp"
#include "seegw/seemail/message_edit.hpp"

namespace seegw::seemail {
namespace {

constexpr std::string_view k1A =
    "SEEMail Warning #1A - NOT SEEMail\n"
    "\n"
    "You may have tried to send a message that contains a SEEMail trigger word to an address\n"
    "that is NOT a SEEMail member (They do not use SEEMail).\n"
    "\n"
    "This message has not been delivered to ANY EXTERNAL recipients.\n"
    "\n"
    "Recommended action: Decide whether the security classification of the information you are\n"
    "sending requires SEEMail protection.\n"
    "- YES = send by other secure means\n"
    "- NO = remove the SEEMail trigger word from the message\n"
    "\n"
    "In this case, a SEEMail Tag is present in either the email you have tried to send, or in\n"
    "your attachment. The Data Loss Prevention (DLP) features are preventing the email from\n"
    "leaving the system, on the basis that the classification of the material should not be sent\n"
    "to a recipient who is not a SEEMail agency (such as a private company).\n"
    "\n"
    "By removing the SEEMail trigger word(s) from the message or attachment, you are affirming\n"
    "that the message is not classified above IN-CONFIDENCE and that the recipients are\n"
    "authorised to receive the message. Do so with care.\n";

constexpr std::string_view k1C =
    "SEEMail Warning #1C - Contains RESTRICTED\n"
    "\n"
    "You have tried to send a message that contains a RESTRICTED trigger word to a\n"
    "non-RESTRICTED SEEMail member.\n"
    "\n"
    "This message has not been delivered to ANY EXTERNAL recipients.\n"
    "\n"
    "Recommended action: Send your message using another transport method which is accredited\n"
    "to the appropriate level.\n"
    "\n"
    "In this situation, the receiving agency is a member of SEEMail but is a member of the\n"
    "SEEMail Standard Community. This prevents then receiving information classified as\n"
    "RESTRICTED (or SENSITIVE, which has similar handling rules). You will be unable to send the\n"
    "information to this recipient via SEEMail (or email).\n"
    "\n"
    "The sender cannot send this message electronically due to its sensitivity and that the\n"
    "agency who needs the information does not have the required network security clearance.\n"
    "The parties involved must decide how they can physically share the information, or the\n"
    "stakeholders must decide to re classify the information to an appropriate level. HOWEVER,\n"
    "CAUTION SHOULD BE APPLIED IN THIS SITUATION.\n"
    "\n"
    "Reclassification of information to an inappropriate classification level can have serious\n"
    "consequences. General management should authorize this.\n";

constexpr std::string_view k2B =
    "This message did not come from the apparent sender's agency. The confidentiality,\n"
    "integrity or authenticity of the message cannot be guaranteed.\n"
    "\n"
    "This means an email with an address that is from a domain name associated with a SEEMail\n"
    "agency, has come in from another source (not from the authorised SEEMail gateway).\n"
    "Common reasons for this may be:\n"
    "- Mail Forwarding rules or Mailing lists which receive an email and then forward it to one\n"
    "  or more recipients.\n"
    "- Automated systems such as websites located on the Internet, that send data via email with\n"
    "  the sender's address belonging to an agency but did not come from an agency SEEMail\n"
    "  gateway.\n"
    "- Genuinely forged email senders, impersonating an agency.\n"
    "\n"
    "When this error is received, a copy of the original email will be attached.\n"
    "\n"
    "Unless the sender is known to the recipient and the recipient can confirm that they are\n"
    "expecting this email, the email should be deleted, and the email address investigated and\n"
    "possibly blocked.\n";

constexpr std::string_view k4A =
    "This message contains a SEEMail trigger word but did not arrive from a SEEMail agency. The\n"
    "confidentiality, integrity or authenticity of the message cannot be guaranteed.\n"
    "\n"
    "Possible causes of this warning include:\n"
    "- The sender mistakenly thinks their agency has SEEMail and has put the SEEMail trigger\n"
    "  word in the message.\n"
    "- The sender has accidentally referred to the SEEMail trigger word in the message.\n"
    "\n"
    "In this case the email has come in from a non SEEMail party but contains one of the Trigger\n"
    "terms (the SEEMail classification words in brackets). This is not generally a problem,\n"
    "except that any reply email you may send is likely to be blocked by SEEMail as it will\n"
    "correctly identify the recipient as not being a SEEMail member.\n";

constexpr std::string_view kSpoof =
    "This message has our agency's email address but came from outside (the message could be\n"
    "SPOOFED). The confidentiality, integrity or authenticity of this message cannot be\n"
    "guaranteed.\n"
    "\n"
    "Possible causes of this warning include:\n"
    "- The mail may have been forwarded by a distribution (List serve) service like Mailchimp.\n"
    "- The sender is working away from our agency and using an ISP mail account.\n"
    "- Someone other than the sender may have sent the message and falsified the email address.\n"
    "\n"
    "Recommended action: If you have doubts about the message authenticity, verify the message\n"
    "with the sender by some other means. Confirm with the recipient if they know the sender and\n"
    "if they are expecting an email?\n";

// TRG-4: the sender's message could not be inspected, so it cannot be signed for where it was
// going (001, "cannot be digitally signed"); never #1A/#1C, which claim a trigger word. The
// vendor's support line of 001 is this gateway's administrator.
constexpr std::string_view kCannotSign =
    "SEEMail - message cannot be digitally signed\n"
    "\n"
    "This message occurs when the sent message cannot be digitally signed with the agencies\n"
    "digital certificate.\n"
    "\n"
    "Possible causes of this warning include:\n"
    "- The mail item may have a previous permission set that does not allow access to the email.\n"
    "- The mail may contain a password protected file (Compressed ZIP).\n"
    "- The mail contains a file that is encrypted.\n"
    "- The mail may contain a digital certificate and SEEMail will view this file as an Encrypted\n"
    "  file as the SEEMail gateway cannot interrogate it.\n"
    "- This could be a technical fault if the Security certificate on the SEEMail gateway is no\n"
    "  longer valid.\n"
    "\n"
    "Recommended action: Confirm that there is no password protected attachments. Confirm that\n"
    "there are no security certificates on the emails (This occurs mostly when users forward an\n"
    "email that may have a certificate already). Contact the sender and ask them to resend the\n"
    "email unencrypted. Find another mechanism for the sender to share the information\n"
    "(External sharing). If all of these items have been confirmed, we need to check the\n"
    "SEEMail gateway status. If that returns errors raise a ticket with your SEEMail gateway\n"
    "administrator to confirm the issue.\n"
    "\n"
    "Essentially SEEMail will view or read (Interrogate) every email that is sent or received at\n"
    "the SEEMail gateway. This is done to check for Malware and trigger words and to make sure no\n"
    "Data loss (DLP) is taking place. In the case where files are password protected or if\n"
    "encryption outside of those already present on the SEEMail gateway, this error will occur.\n";

constexpr std::string_view kCertificate =
    "The SEEMail gateway checked the digital certificate that signed this message and found the\n"
    "problem above. The message has been delivered, but it may not be from who it says, or it\n"
    "may have been changed on the way. If it matters, confirm it with the sender by some other\n"
    "means. Your administrator has been told.\n";

std::string about_message(const MessageFacts& f) {
  std::string out = "The message:\n";
  if (!f.subject.empty()) out += fmt::format("  Subject:     {}\n", f.subject);
  if (!f.sender.empty()) out += fmt::format("  From:        {}\n", f.sender);
  if (!f.recipients.empty()) {
    out += "  Recipients:  ";
    for (std::size_t i = 0; i < f.recipients.size(); ++i) out += (i ? ", " : "") + f.recipients[i];
    out += "\n";
  }
  if (!f.classification.empty() && f.classification != "NONE")
    out += fmt::format("  Classified:  {}{}\n", f.classification,
                       f.found_where.empty() ? "" : " (trigger word in " + f.found_where + ")");
  if (!f.message_id.empty()) out += fmt::format("  Message-ID:  {}\n", f.message_id);
  out += fmt::format("  Gateway ID:  {}\n", f.queue_id);
  return out;
}

}  // namespace

ComposedMessage notice_message(const policy::Notice& n, const std::string& to,
                               const std::string& our_domain, const MessageFacts& f) {
  using policy::NoticeKind;
  ComposedMessage m;
  m.from = "SEEMail gateway <postmaster@" + our_domain + ">";
  m.to = to;
  const bool admin = n.to != policy::Party::sender;
  std::string body;
  switch (n.kind) {
    case NoticeKind::blocked_1a:
      m.subject = "SEEMail Warning #1A - NOT SEEMail: " + f.subject;
      body = std::string(k1A);
      break;
    case NoticeKind::blocked_1c:
      m.subject = "SEEMail Warning #1C - Contains RESTRICTED: " + f.subject;
      body = std::string(k1C);
      break;
    case NoticeKind::blocked_uninspectable:
      m.subject = "SEEMail - message cannot be digitally signed: " + f.subject;
      body = std::string(kCannotSign);
      break;
    case NoticeKind::held:
      m.subject = "SEEMail: message held, not yet delivered: " + f.subject;
      body =
          "The SEEMail gateway is holding this message: it could not sign and encrypt it for a\n"
          "receiving agency (the reason is below), and it never sends SEEMail unprotected.\n"
          "The administrator has been told, can repair the problem and release the message;\n"
          "nothing more is needed from you unless it is urgent.\n";
      break;
    case NoticeKind::certificate_status_unknown:
      m.subject = "SEEMail: certificate status could not be checked";
      body =
          "A message was signed and encrypted to a domain certificate whose revocation status\n"
          "could not be checked (no current CRL). It was sent, as the S.E.E. certificate table\n"
          "says; check the CRL distribution point.\n";
      break;
    case NoticeKind::inbound_certificate:
      m.subject = "SEEMail: inbound certificate problem";
      body =
          "A message arrived signed with a certificate that is not valid. It was delivered\n"
          "with a warning to its recipients.\n";
      break;
    case NoticeKind::unverified_sender:
      m.subject = "SEEMail: unverified sender";
      body =
          "A message arrived claiming a SEEMail address but not signed by that agency's\n"
          "gateway. It was delivered with a warning to its recipients.\n";
      break;
    case NoticeKind::certificate_learnt:
      m.subject = "SEEMail: domain certificate learnt from mail";
      body = "A signed message carried a domain certificate the store did not have.\n";
      break;
  }
  if (admin && (n.kind == NoticeKind::blocked_1a || n.kind == NoticeKind::blocked_1c ||
                n.kind == NoticeKind::blocked_uninspectable))
    body =
        "A user's message was stopped by the SEEMail data loss rules; the user was sent the\n"
        "warning below.\n\n" +
        body;
  m.text = fmt::format("{}\nWhy: {}\n\n{}", body, n.about, about_message(f));
  return m;
}

ComposedMessage summary_message(const policy::NoticeLimiter::Summary& s,
                                const std::string& our_domain) {
  ComposedMessage m;
  m.from = "SEEMail gateway <postmaster@" + our_domain + ">";
  m.to = s.to;
  m.subject = fmt::format("SEEMail: {} more notices held back ({})", s.suppressed,
                          policy::notice_kind_name(s.kind));
  m.text = fmt::format(
      "To avoid a notification storm, the SEEMail gateway sent only the first few notices of\n"
      "this kind to you and held back {} more since {}.\n"
      "Kind: {}\n"
      "The gateway's log has every one of them (seegw explain ID shows a message's decision).\n",
      s.suppressed, mime::rfc5322_date(s.since), policy::notice_kind_name(s.kind));
  return m;
}

std::string warning_text(const std::vector<policy::RaisedWarning>& warnings,
                         const std::string& sender) {
  using policy::InboundWarning;
  std::string out;
  for (const auto& w : warnings) {
    out += fmt::format("*** SEEMail {} WARNING: {} ***\n", policy::severity_name(w.severity),
                       policy::warning_headline(w.warning));
    if (!w.detail.empty()) out += fmt::format("({})\n", w.detail);
    out += "\n";
    switch (w.warning) {
      case InboundWarning::unverified_sender_2b:
        out += k2B;
        break;
      case InboundWarning::not_seemail_4a:
        out += k4A;
        break;
      case InboundWarning::spoofed_own_domain:
        out += kSpoof;
        break;
      default:
        out += kCertificate;
    }
    out += "\n";
  }
  out += fmt::format("Sender: {}\nThe original message follows.\n", sender);
  return out;
}

GeneratedMessage administrator_alert(const Sender& us, const std::string& subject,
                                     const std::string& text, std::time_t now) {
  ComposedMessage m;
  m.from = "SEEMail gateway <postmaster@" + us.domain + ">";
  m.to = "postmaster@" + us.domain;
  m.subject = subject;
  m.text = text;
  return {{m.to}, compose(m, us.hostname, now), "notice to <" + m.to + ">: " + subject};
}

GeneratedMessage ping_request(const Sender& us, const std::string& domain, std::time_t now) {
  const std::string from = "postmaster@" + us.domain;
  GeneratedMessage g;
  g.recipients = {"seemail-ping@" + domain};
  g.envelope_sender = from;
  g.what = "seemail-ping to " + domain;
  g.content = fmt::format(
      "From: <{}>\r\nTo: <seemail-ping@{}>\r\nSubject: seemail-ping\r\nDate: {}\r\n"
      "Message-ID: <ping.{}.{}@{}>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n\r\nseemail-ping from {}\r\n",
      from, domain, mime::rfc5322_date(now), now, ::getpid(), us.domain, us.hostname);
  return g;
}

GeneratedMessage ping_answer(const Sender& us, const std::string& to,
                             const std::string& in_reply_to, const PingFacts& facts,
                             std::time_t now) {
  ComposedMessage m;
  m.from = "SEEMail ping <seemail-ping@" + us.domain + ">";
  m.to = to;
  m.subject = "seemail-ping reply from " + us.domain;
  m.in_reply_to = in_reply_to;
  std::string agencies;
  for (const auto& a : facts.agencies) agencies += "  " + a + "\n";
  m.text = fmt::format(
      "SEEMAIL version: 2.0\n"
      "Gateway software: {} {}\n"
      "Gateway: {} for {}\n"
      "Policy snapshot: version {}\n"
      "SEEMail agencies known ({}):\n{}",
      facts.software, facts.version, us.hostname, us.domain, facts.snapshot_version,
      facts.agencies.size(), agencies);
  return {{to}, compose(m, us.hostname, now), "seemail-ping reply to <" + to + ">"};
}

ComposedMessage certificate_request(const Sender& us, const std::string& domain) {
  ComposedMessage m;
  m.from = "SEEMail gateway <domain-certificate-request@" + us.domain + ">";
  m.to = "domain-certificate-request@" + domain;
  m.subject = "domain-confidentiality-authority@" + domain;
  m.auto_submitted.clear();  // it asks for an answer
  m.text = fmt::format(
      "The SEEMail gateway of {} asks for the domain certificate of {}: please answer with it\n"
      "attached (.cer or .p7c). This request is signed with our domain certificate.\n",
      us.domain, domain);
  return m;
}

GeneratedMessage certificate_answer(const Sender& us, const std::string& to,
                                    const std::string& wanted, X509* certificate, std::time_t now) {
  ComposedMessage m;
  m.from = "SEEMail gateway <domain-certificate-request@" + us.domain + ">";
  m.to = to;
  m.subject = wanted.empty() ? std::string("certificate request") : wanted;
  bool found = false;
  if (certificate) {
    for (const auto& a : x509::certificate_addresses(certificate))
      found = found || iequals(a, wanted);
    if (found)
      m.attachments.push_back(
          {ascii_lower(wanted) + ".cer", "application/pkix-cert", x509::to_der(certificate)});
  }
  m.text = found ? "The certificate of " + wanted + " is attached (DER, .cer).\n"
                 : "This gateway has no certificate for \"" + wanted +
                       "\". Ask for domain-confidentiality-authority@" + us.domain + ".\n";
  return {{to}, compose(m, us.hostname, now), "certificate answer to <" + to + ">"};
}

}  // namespace seegw::seemail
