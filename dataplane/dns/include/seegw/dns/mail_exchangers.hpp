// RFC 5321 §5.1: where a domain's mail goes — its MX records by preference (equal ones in random
// order), each exchange's addresses; no MX records: the domain's own addresses (the implicit
// MX); a null MX (RFC 7505): it takes no mail. Blocking: call it off the I/O loops.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/dns/resolver.hpp"

namespace seegw::dns {

struct MailExchanger {
  std::string address;
  std::string name;        // the MX host name (the domain itself for the implicit MX)
  bool mx_secure = false;  // DNSSEC validated the MX answer (DANE applies only then)
};

// The addresses to try, in order. Errc::denied: a null MX; Errc::not_found: no such domain, or
// no exchange with an address (both permanent); Errc::unavailable: try later (no answer, DNSSEC
// failure).
Result<std::vector<MailExchanger>> mail_exchangers(Resolver& resolver, std::string_view domain);

// RFC 7672 §2.2: the TLSA RDATA of _PORT._tcp.NAME when DNSSEC validated them; none when the
// zone is not signed or has none. Errc::unavailable when the lookup failed or did not validate
// (that exchanger is then not to be used).
Result<std::vector<std::string>> dane_tlsa(Resolver& resolver, std::string_view name,
                                           std::uint16_t port);

}  // namespace seegw::dns
