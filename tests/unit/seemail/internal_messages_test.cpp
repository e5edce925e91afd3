// The warning texts users read are 001_3bd88b9091fbd4df.txt's, whole: each one below is copied
// from 001 and compared, white space aside, with what the gateway writes. Where the gateway's text
// must differ from 001 the expected text says so in a comment (001's references to its own page
// layout and to one vendor's support desk).
#include "seegw/seemail/internal_messages.hpp"

#include <gtest/gtest.h>

namespace seegw::seemail {
namespace {

using policy::InboundWarning;
using policy::NoticeKind;
using policy::Party;
using policy::Severity;

// Runs of white space as one space: line wrapping is the gateway's, the words are 001's.
std::string words(std::string_view text) {
  std::string out;
  bool blank = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      blank = !out.empty();
      continue;
    }
    if (blank) out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

void expect_contains_whole(std::string_view written, std::string_view from_001) {
  EXPECT_NE(words(written).find(words(from_001)), std::string::npos) << "001's text:\n"
                                                                     << from_001 << "\nwritten:\n"
                                                                     << written;
}

std::string notice_text(NoticeKind kind) {
  MessageFacts f;
  f.queue_id = "Q1";
  f.sender = "alice@agency-a.govt.nz";
  f.subject = "budget";
  return notice_message({Party::sender, "why", kind}, f.sender, "agency-a.govt.nz", f).text;
}

std::string inbound_text(InboundWarning w) {
  return warning_text({{w, Severity::hard, ""}}, "x@example.org");
}

constexpr std::string_view k1A = R"(SEEMail Warning #1A - NOT SEEMail
You may have tried to send a message that contains a SEEMail trigger word to an address that is NOT a SEEMail member (They do not use SEEMail).
This message has not been delivered to ANY EXTERNAL recipients.
Recommended action: Decide whether the security classification of the information you are sending requires SEEMail protection.
- YES = send by other secure means
- NO = remove the SEEMail trigger word from the message
In this case, a SEEMail Tag is present in either the email you have tried to send, or in your attachment. The Data Loss Prevention (DLP) features are preventing the email from leaving the system, on the basis that the classification of the material should not be sent to a recipient who is not a SEEMail agency (such as a private company).
By removing the SEEMail trigger word(s) from the message or attachment, you are affirming that the message is not classified above IN-CONFIDENCE and that the recipients are authorised to receive the message. Do so with care.)";

constexpr std::string_view k1C = R"(SEEMail Warning #1C - Contains RESTRICTED
You have tried to send a message that contains a RESTRICTED trigger word to a non-RESTRICTED SEEMail member.
This message has not been delivered to ANY EXTERNAL recipients.
Recommended action: Send your message using another transport method which is accredited to the appropriate level.
In this situation, the receiving agency is a member of SEEMail but is a member of the SEEMail Standard Community. This prevents then receiving information classified as RESTRICTED (or SENSITIVE, which has similar handling rules). You will be unable to send the information to this recipient via SEEMail (or email).
The sender cannot send this message electronically due to its sensitivity and that the agency who needs the information does not have the required network security clearance. The parties involved must decide how they can physically share the information, or the stakeholders must decide to re classify the information to an appropriate level. HOWEVER, CAUTION SHOULD BE APPLIED IN THIS SITUATION.
Reclassification of information to an inappropriate classification level can have serious consequences. General management should authorize this.)";

constexpr std::string_view k2B =
    R"(This message did not come from the apparent sender's agency. The confidentiality, integrity or authenticity of the message cannot be guaranteed.
This means an email with an address that is from a domain name associated with a SEEMail agency, has come in from another source (not from the authorised SEEMail gateway).
Common reasons for this may be:
- Mail Forwarding rules or Mailing lists which receive an email and then forward it to one or more recipients.
- Automated systems such as websites located on the Internet, that send data via email with the sender's address belonging to an agency but did not come from an agency SEEMail gateway.
- Genuinely forged email senders, impersonating an agency.
When this error is received, a copy of the original email will be attached.
Unless the sender is known to the recipient and the recipient can confirm that they are expecting this email, the email should be deleted, and the email address investigated and possibly blocked.)";

// 001 says "(See listed terms above).This": its page lists the terms above; a warning inside a
// message must not repeat them (a reply would carry trigger words), so it names them in words.
constexpr std::string_view k4A =
    R"(This message contains a SEEMail trigger word but did not arrive from a SEEMail agency. The confidentiality, integrity or authenticity of the message cannot be guaranteed.
Possible causes of this warning include:
- The sender mistakenly thinks their agency has SEEMail and has put the SEEMail trigger word in the message.
- The sender has accidentally referred to the SEEMail trigger word in the message.
In this case the email has come in from a non SEEMail party but contains one of the Trigger terms (the SEEMail classification words in brackets). This is not generally a problem, except that any reply email you may send is likely to be blocked by SEEMail as it will correctly identify the recipient as not being a SEEMail member.)";

constexpr std::string_view kSpoof =
    R"(This message has our agency's email address but came from outside (the message could be SPOOFED). The confidentiality, integrity or authenticity of this message cannot be guaranteed.
Possible causes of this warning include:
- The mail may have been forwarded by a distribution (List serve) service like Mailchimp.
- The sender is working away from our agency and using an ISP mail account.
- Someone other than the sender may have sent the message and falsified the email address.
Recommended action: If you have doubts about the message authenticity, verify the message with the sender by some other means. Confirm with the recipient if they know the sender and if they are expecting an email?)";

// 001's "raise a ticket with Liverton support" is one vendor's desk: here, the administrator.
constexpr std::string_view kCannotSign =
    R"(This message occurs when the sent message cannot be digitally signed with the agencies digital certificate.
Possible causes of this warning include:
- The mail item may have a previous permission set that does not allow access to the email.
- The mail may contain a password protected file (Compressed ZIP).
- The mail contains a file that is encrypted.
- The mail may contain a digital certificate and SEEMail will view this file as an Encrypted file as the SEEMail gateway cannot interrogate it.
- This could be a technical fault if the Security certificate on the SEEMail gateway is no longer valid.
Recommended action: Confirm that there is no password protected attachments. Confirm that there are no security certificates on the emails (This occurs mostly when users forward an email that may have a certificate already). Contact the sender and ask them to resend the email unencrypted. Find another mechanism for the sender to share the information (External sharing). If all of these items have been confirmed, we need to check the SEEMail gateway status. If that returns errors raise a ticket with your SEEMail gateway administrator to confirm the issue.
Essentially SEEMail will view or read (Interrogate) every email that is sent or received at the SEEMail gateway. This is done to check for Malware and trigger words and to make sure no Data loss (DLP) is taking place. In the case where files are password protected or if encryption outside of those already present on the SEEMail gateway, this error will occur.)";

TEST(Notices, SenderWarningsAre001sWholeTexts) {
  expect_contains_whole(notice_text(NoticeKind::blocked_1a), k1A);
  expect_contains_whole(notice_text(NoticeKind::blocked_1c), k1C);
  expect_contains_whole(notice_text(NoticeKind::blocked_uninspectable), kCannotSign);
}

TEST(Notices, RecipientWarningsAre001sWholeTexts) {
  expect_contains_whole(inbound_text(InboundWarning::unverified_sender_2b), k2B);
  expect_contains_whole(inbound_text(InboundWarning::not_seemail_4a), k4A);
  expect_contains_whole(inbound_text(InboundWarning::spoofed_own_domain), kSpoof);
}

// TRG-4: the "cannot be signed" notice never claims a trigger word.
TEST(Notices, CannotBeSignedNeverClaimsATriggerWord) {
  const std::string text = notice_text(NoticeKind::blocked_uninspectable);
  EXPECT_EQ(text.find("#1A"), std::string::npos);
  EXPECT_EQ(text.find("#1C"), std::string::npos);
  EXPECT_EQ(text.find("contains a RESTRICTED trigger word"), std::string::npos);
}

}  // namespace
}  // namespace seegw::seemail
