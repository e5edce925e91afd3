// SPF (RFC 7208): check_host() for the MAIL FROM identity, over a DNS the caller gives. Ours
// rather than libspf2's: libspf2 passes every loopback client without looking, and its macro
// expansion has a history of memory-safety bugs; this one is pure, bounded and fuzzed. It
// trusts nothing in the records: at most 10 DNS-querying terms, 2 void lookups, 10 MX or PTR
// names per term, 8 KiB per expanded name, and a deadline the DNS side enforces.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace seegw::sender_auth {

enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view spf_result_name(SpfResult r);  // "pass", "softfail", ... (RFC 8601 names)

// One DNS question as SPF sees it.
struct SpfAnswer {
  enum class Status { found, no_data, nxdomain, error } status = Status::no_data;
  std::vector<std::string>
      values;  // TXT: each record's text; A/AAAA: raw 4/16 bytes; MX/PTR: names
};

// The DNS the evaluation asks (a validating resolver in the gateway, a table in unit tests).
class SpfDns {
 public:
  virtual ~SpfDns() = default;
  virtual SpfAnswer txt(const std::string& name) = 0;
  virtual SpfAnswer addresses(const std::string& name, bool ipv6) = 0;
  virtual SpfAnswer mx(const std::string& name) = 0;   // exchange names
  virtual SpfAnswer ptr(const std::string& name) = 0;  // the in-addr/ip6.arpa name's targets
  // False once the evaluation has taken too long: it stops with temperror.
  virtual bool in_time() { return true; }
};

struct SpfQuery {
  std::string client_address;  // "192.0.2.1" or "2001:db8::1"
  std::string sender;          // MAIL FROM (local@domain); empty: the null reverse-path
  std::string helo;            // the HELO/EHLO name
};

struct SpfOutcome {
  SpfResult result = SpfResult::none;
  std::string domain;  // the identity's domain: MAIL FROM's, or HELO's for the null reverse-path
  std::string reason;  // what decided it, for the Authentication-Results comment and the log
};

// RFC 7208 §2.4: the MAIL FROM identity (postmaster@HELO for the null reverse-path).
SpfOutcome check_sender(const SpfQuery& query, SpfDns& dns);

}  // namespace seegw::sender_auth
