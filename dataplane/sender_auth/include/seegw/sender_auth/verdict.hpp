// What inbound sender authentication found about one message (SPF, DKIM, DMARC), what the
// gateway does with it, and the Authentication-Results field that tells the recipient (RFC 8601).
// Pure: the header is built and our authserv-id's forgeries removed without DNS.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "seegw/sender_auth/spf.hpp"

namespace seegw::sender_auth {

// RFC 8601 §2.7 result words for dkim= and dmarc=.
enum class AuthResult { none, pass, fail, neutral, temperror, permerror };
std::string_view auth_result_name(AuthResult r);

struct DkimOutcome {
  AuthResult result = AuthResult::none;
  std::string domain, selector;  // d= and s= (empty when the field was unreadable)
  std::string signature_start;   // the first 8 characters of b= (header.b, RFC 6008)
  std::string reason;
};

struct DmarcOutcome {
  AuthResult result = AuthResult::none;
  std::string from_domain;  // RFC5322.From's domain
  std::string policy;       // what the domain asks when it fails: none, quarantine, reject
  std::string reason;
};

// What happens to the message: delivered (with the header), held in the hold queue, refused
// with 550 5.7.1, or refused with 451 because DNS could not say (fail closed).
enum class Disposition { deliver, quarantine, reject, defer };

struct Verdict {
  SpfOutcome spf;
  std::vector<DkimOutcome> dkim;
  DmarcOutcome dmarc;
  Disposition disposition = Disposition::deliver;
  std::string reason;  // why it is not delivered, for the SMTP reply, the hold queue and the log
};

// "Authentication-Results: AUTHSERV-ID; spf=...; dkim=...; dmarc=...\r\n", folded.
std::string authentication_results(std::string_view authserv_id, const Verdict& verdict,
                                   std::string_view sender, std::string_view helo);
// §5: every Authentication-Results field a peer wrote in our name (its authserv-id is ours)
// removed; the others, and the rest of the message, byte for byte (the message itself, not a
// copy, when there is none to remove).
std::string without_forged_results(std::string message, std::string_view authserv_id);

}  // namespace seegw::sender_auth
